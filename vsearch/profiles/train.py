"""Train the heads of a `TagModel` on an index's products and judge them on its held-out test split.

Settings (the regularisation C of each head) are chosen on the validation split; test figures are measured
once, at the end. Class-balanced: every class weighs the same in the loss (balanced accuracy is the goal).

Description heads learn from every product of the labels file in the training split (by id, `vsearch.core.split`),
photographed or not; their C and fusion weight are chosen on the index's validation products, like the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from vsearch.core.errors import BadQueryError
from vsearch.core.log import Progress, no_progress
from vsearch.core.split import split_of
from vsearch.index.products import Products, label_value
from vsearch.profiles.heads import DESCRIPTION, IMAGE, IMAGE_TITLE, NA, LinearHead, TagModel, fuse
from vsearch.profiles.vocab import STYLE_VOCAB_VERSION, mine_styles
from vsearch.profiles.words import DescriptionWords

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadConfig:
    """How heads are trained.

    Attributes:
        grid: values of C (inverse L2 strength on standardised inputs) tried on the validation split. 0.001 was
            added after a val-only comparison of variants (eval/profiles/val_variants.json): it lifted Neck's
            image+title head (val balanced 0.474 -> 0.514), the best of the variants tried.
        applicable: an article type carries an attribute when at least this share of its training products has
            a value; the others are labelled `n/a`.
        min_count: classes (and tags) with fewer training examples are left out.
        type_column: the column that says what kind of article a product is.
    """

    grid: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03)
    applicable: float = 0.2
    min_count: int = 5
    type_column: str = "articleType"
    max_iter: int = 300
    description_grid: tuple[float, ...] = (1.0, 4.0, 16.0)
    fusion_weights: tuple[float, ...] = (0.5, 1.0, 2.0)


@dataclass
class DescriptionInputs:
    """What the description heads read: the fitted words, the TF-IDF rows of the labels file's training-split
    products with a description (`corpus_x`, their label rows `corpus`), and of the index's products (`index_x`;
    `has` marks those with a description)."""

    words: DescriptionWords
    corpus: list[dict[str, str]]
    corpus_x: Any
    index_x: Any
    has: np.ndarray

    @classmethod
    def build(cls, column: str, corpus: dict[str, dict[str, str]], index_texts: list[str]) -> DescriptionInputs | None:
        """None when no training-split product of the labels file has a description."""
        rows = [r for pid, r in corpus.items() if split_of(pid) == "train" and label_value(r, column)]
        if not rows:
            return None
        texts = [label_value(r, column) for r in rows]
        words = DescriptionWords.fit(texts)
        return cls(words, rows, words.transform(texts), words.transform(index_texts),
                   np.array([bool(t) for t in index_texts]))




def parse_grid(text: str) -> tuple[float, ...]:
    """`--c-grid` "0.001,0.01" -> (0.001, 0.01); raises BadQueryError on a value that is not a positive number."""
    try:
        grid = tuple(sorted({float(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise BadQueryError(f"--c-grid takes positive numbers separated by commas, not '{text}'") from None
    if not grid or min(grid) <= 0:
        raise BadQueryError(f"--c-grid takes positive numbers separated by commas, not '{text}'")
    return grid


def applicability(values: list[str], types: list[str], train: np.ndarray, share: float) -> list[str]:
    """Article types whose training products carry the attribute in at least `share` of cases (sorted)."""
    have: dict[str, list[int]] = {}
    for v, t, tr in zip(values, types, train):
        if tr and t:
            have.setdefault(t, [0, 0])
            have[t][0] += bool(v)
            have[t][1] += 1
    return sorted(t for t, (n, total) in have.items() if n / total >= share)


def attribute_targets(values: list[str], types: list[str], applies_to: list[str]) -> list[str]:
    """The value where known, `n/a` where the product's type does not carry the attribute, else "" (unknown)."""
    ok = set(applies_to)
    return [v if v else ("" if t in ok or not t else NA) for v, t in zip(values, types)]


def _fit(z: np.ndarray, y: np.ndarray, c: float, max_iter: int) -> Any:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a capped lbfgs run is still a usable head
        return LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter).fit(z, y)


def balanced_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in `truth` (a class the head never predicts scores 0)."""
    classes = np.unique(truth)
    return float(np.mean([np.mean(pred[truth == c] == c) for c in classes])) if len(classes) else 0.0


def _select_head(name: str, z: np.ndarray, target: np.ndarray, use: np.ndarray, split: np.ndarray,
                 cfg: HeadConfig, inputs: str) -> tuple[LinearHead, float, float]:
    """The head of the C (of `cfg.grid`) with the best val balanced accuracy: (head, val score, C)."""
    train, va = use & (split == "train"), use & (split == "val")
    best: tuple[float, float, Any] | None = None
    for c in cfg.grid:
        clf = _fit(z[train], target[train].astype(str), c, cfg.max_iter)
        score = balanced_accuracy(target[va].astype(str), clf.predict(z[va])) if va.any() else 0.0
        _logger.info("%s (%s) C=%g val balanced accuracy %.4f", name, inputs, c, score)
        if best is None or score > best[0]:
            best = (score, c, clf)
    assert best is not None
    val_score, c, clf = best
    return _multiclass_head(name, clf, inputs), val_score, c


def _multiclass_head(name: str, clf: Any, inputs: str, weight: float = 1.0) -> LinearHead:
    """A fitted sklearn LogisticRegression as a softmax head."""
    head = LinearHead(name, "multiclass", [str(k) for k in clf.classes_], clf.coef_.astype(np.float32),
                      clf.intercept_.astype(np.float32), source=f"column:{name}", inputs=inputs, weight=weight)
    if len(head.labels) == 2:  # sklearn keeps one row for two classes: make it a proper two-way softmax
        w, b = head.coef[0], head.intercept[0]
        head.coef, head.intercept = np.stack([-w / 2, w / 2]), np.array([-b / 2, b / 2], np.float32)
    return head


def train_attribute(name: str, z: np.ndarray, values: list[str], types: list[str], split: np.ndarray,
                    cfg: HeadConfig, zt: np.ndarray | None = None, has_title: np.ndarray | None = None,
                    described: DescriptionInputs | None = None) -> tuple[list[LinearHead], dict[str, Any]]:
    """A class-balanced multi-class head with an `n/a` class learned from the article types; its test report.

    With `zt` (standardised image and title inputs side by side) and `has_title`, a second head reads both; it
    answers the products with a title, the image head the others (report: `with_titles`). With `described`, a
    description head re-weighs those answers where a product has a description (report: `with_description`),
    shipped only when it lifts the validation balanced accuracy.
    """
    train = split == "train"
    applies = applicability(values, types, train, cfg.applicable) if any(not v for v in values) else None
    target = np.array(attribute_targets(values, types, applies) if applies is not None else values, dtype=object)
    names, counts = np.unique(target[train & (target != "")].astype(str), return_counts=True)
    keep = sorted(str(c) for c, k in zip(names, counts) if k >= cfg.min_count)
    if len([c for c in keep if c != NA]) < 2:
        raise BadQueryError(f"'{name}' has fewer than 2 classes with {cfg.min_count}+ training products")
    use = np.isin(target.astype(str), keep)
    head, val_score, c = _select_head(name, z, target, use, split, cfg, IMAGE)
    head.applies_to = applies
    te = split == "test"
    shipped = head.proba(z)  # then overwritten where a product's title (and description) heads answer
    report = attribute_report(head.labels, applies, shipped[te], values, target, split)
    report.update(C=c, val_balanced_accuracy=round(val_score, 4))
    heads = [head]
    if zt is not None and has_title is not None:
        titled, val_t, c_t = _select_head(name, zt, target, use & has_title, split, cfg, IMAGE_TITLE)
        if titled.labels == head.labels:
            titled.applies_to = applies
            heads.append(titled)
            shipped[has_title] = titled.proba(zt[has_title])
            report["with_titles"] = {**attribute_report(head.labels, applies, shipped[te], values, target, split),
                                     "C": c_t, "val_balanced_accuracy": round(val_t, 4),
                                     "test_with_title": int(has_title[te].sum())}
    if described is not None:
        found = _description_head(name, head.labels, shipped, target, use, split, described, cfg)
        if found is not None:
            desc_head, prob_d, choice = found
            heads.append(desc_head)
            report["with_description"] = {**attribute_report(head.labels, applies, prob_d[te], values, target,
                                                             split), **choice,
                                          "test_with_description": int(described.has[te].sum())}
    return heads, report


def _description_head(name: str, labels: list[str], shipped: np.ndarray, target: np.ndarray, use: np.ndarray,
                      split: np.ndarray, described: DescriptionInputs, cfg: HeadConfig
                      ) -> tuple[LinearHead, np.ndarray, dict[str, Any]] | None:
    """The description head (C, fusion weight) with the best val balanced accuracy of the fused answer, with the
    fused probabilities of every product; None when no setting beats the answer without it or too few products
    of the labels file carry the attribute."""
    real = [c for c in labels if c != NA]
    y = np.array([label_value(r, name) for r in described.corpus], dtype=object)
    rows = np.isin(y, real)
    if len(np.unique(y[rows])) < 2:
        return None
    va = use & (split == "val")
    on = described.has
    truth = target[va].astype(str)
    lab = np.asarray(labels, dtype=object)
    base = balanced_accuracy(truth, lab[shipped[va].argmax(axis=1)].astype(str)) if va.any() else 0.0
    best: tuple[float, float, float, Any] | None = None
    for c in cfg.description_grid:
        clf = _fit(described.corpus_x[rows], y[rows].astype(str), c, 10 * cfg.max_iter)
        p_desc = clf.predict_proba(described.index_x[va & on])
        for w in cfg.fusion_weights:
            fused = shipped[va].copy()
            fused[on[va]] = fuse(fused[on[va]], labels, p_desc, [str(k) for k in clf.classes_], w)
            score = balanced_accuracy(truth, lab[fused.argmax(axis=1)].astype(str))
            _logger.info("%s (description) C=%g weight %g val balanced accuracy %.4f", name, c, w, score)
            if best is None or score > best[0]:
                best = (score, c, w, clf)
    assert best is not None
    score, c, w, clf = best
    if score <= base:
        return None
    head = _multiclass_head(name, clf, DESCRIPTION, w)
    fused = shipped.copy()
    fused[on] = fuse(shipped[on], labels, head.proba(described.index_x[on]), head.labels, w)
    return head, fused, {"C": c, "weight": w, "val_balanced_accuracy": round(score, 4),
                         "val_balanced_accuracy_without": round(base, 4), "train_products": int(rows.sum())}


def attribute_report(labels_: list[str], applies_to: list[str] | None, prob: np.ndarray, values: list[str],
                     target: np.ndarray, split: np.ndarray) -> dict[str, Any]:
    """Test figures on the products with a real value, and on `n/a` rows, from the test rows' `prob` `[n, K]`.

    `accuracy`/`balanced_accuracy`: the head as shipped (an n/a prediction on a labelled product is wrong).
    `*_given_applicable`: the best real class (n/a left out), as a head without applicability would answer.
    `balanced_accuracy_frequent`: over the classes with 10+ test products only (a class with one test product
    moves the plain balanced accuracy by 1/K on its own).
    """
    te = split == "test"
    labels = np.asarray(labels_, dtype=object)
    pred = labels[prob.argmax(axis=1)].astype(str)
    real_cls = labels != NA
    pred_real = labels[real_cls][prob[:, real_cls].argmax(axis=1)].astype(str)
    truth = np.asarray(values, dtype=object)[te].astype(str)
    real = truth != ""
    tr = (split == "train") & (np.asarray(values, dtype=object) != "")
    classes, counts = np.unique(np.asarray(values, dtype=object)[tr].astype(str), return_counts=True)
    majority = str(classes[counts.argmax()]) if len(classes) else ""
    t_real, p_real, p_given = truth[real], pred[real], pred_real[real]
    frequent = [c for c in np.unique(t_real) if (t_real == c).sum() >= 10]
    keep = np.isin(t_real, frequent)

    def acc(t: np.ndarray, p: np.ndarray) -> float:
        return round(float(np.mean(t == p)), 4) if len(t) else 0.0

    report: dict[str, Any] = {
        "test": int(real.sum()), "classes": [c for c in labels_ if c != NA],
        "accuracy": acc(t_real, p_real), "balanced_accuracy": round(balanced_accuracy(t_real, p_real), 4),
        "accuracy_given_applicable": acc(t_real, p_given),
        "balanced_accuracy_given_applicable": round(balanced_accuracy(t_real, p_given), 4),
        "balanced_accuracy_frequent": round(balanced_accuracy(t_real[keep], p_real[keep]), 4),
        "frequent_classes": frequent,
        "majority": {"label": majority, "accuracy": acc(t_real, np.full(len(t_real), majority)),
                     "balanced_accuracy": round(balanced_accuracy(t_real, np.full(len(t_real), majority)), 4)},
        "chance_balanced_accuracy": round(1.0 / max(len(np.unique(t_real)), 1), 4),
        "predicted_na_on_labelled": int((p_real == NA).sum()),
        "per_class": {c: {"support": int((t_real == c).sum()), "recall": acc(p_real[t_real == c],
                                                                               np.full((t_real == c).sum(), c))}
                      for c in np.unique(t_real)},
    }
    na = np.asarray(target, dtype=object)[te].astype(str) == NA
    if applies_to is not None:
        report["applies_to"] = applies_to
        report["na"] = {"test": int(na.sum()), "recall": acc(pred[na], np.full(na.sum(), NA)) if na.any() else None}
    return report


def style_targets(descriptions: list[str]) -> list[set[str] | None]:
    """Mined style tags per product; None where the product has no description (unknown, not "no style")."""
    return [mine_styles(d) if d else None for d in descriptions]


def train_styles(z: np.ndarray, descriptions: list[str], split: np.ndarray, cfg: HeadConfig,
                 progress: Progress = no_progress) -> tuple[list[LinearHead], dict[str, Any]]:
    """One balanced logistic head per style tag; the threshold of each maximises its validation F1."""
    from sklearn.metrics import average_precision_score

    mined = style_targets(descriptions)
    known = np.array([m is not None for m in mined])
    train, va, te = known & (split == "train"), known & (split == "val"), known & (split == "test")
    tags = sorted({t for m, tr in zip(mined, train) if tr and m for t in m})
    y_all = {t: np.array([bool(m and t in m) for m in mined]) for t in tags}
    tags = [t for t in tags if y_all[t][train].sum() >= cfg.min_count and y_all[t][va].any()]
    heads, per_tag = [], {}
    for k, tag in enumerate(tags):
        progress("style heads", k, len(tags))
        y = y_all[tag]
        best: tuple[float, float, Any] | None = None
        for c in cfg.grid:
            clf = _fit(z[train], y[train], c, cfg.max_iter)
            ap = float(average_precision_score(y[va], clf.decision_function(z[va])))
            if best is None or ap > best[0]:
                best = (ap, c, clf)
        assert best is not None
        _, c, clf = best
        head = LinearHead(tag, "tag", [tag], clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32),
                          source=f"description:{STYLE_VOCAB_VERSION}")
        head.threshold = f1_threshold(head.proba(z[va])[:, 0], y[va])
        p = head.proba(z[te])[:, 0]
        pred = p >= head.threshold
        tp = int((pred & y[te]).sum())
        per_tag[tag] = {"train_positives": int(y[train].sum()), "test_positives": int(y[te].sum()),
                        "base_rate": round(float(y[te].mean()), 4),
                        "ap": round(float(average_precision_score(y[te], p)), 4) if y[te].any() else None,
                        "f1": round(2 * tp / max(int(pred.sum()) + int(y[te].sum()), 1), 4),
                        "precision": round(tp / max(int(pred.sum()), 1), 4),
                        "recall": round(tp / max(int(y[te].sum()), 1), 4), "threshold": head.threshold, "C": c}
        heads.append(head)
    progress("style heads", len(tags), len(tags))
    report = {"vocab": STYLE_VOCAB_VERSION, "test_products": int(te.sum()), "train_products": int(train.sum()),
              "products_without_description": int((~known).sum()), "tags": per_tag}
    return heads, report


def f1_threshold(prob: np.ndarray, y: np.ndarray) -> float:
    """The threshold in 0.05..0.95 with the best F1 on `y` (0.5 without positives)."""
    if not y.any():
        return 0.5
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    pred = prob[None, :] >= grid[:, None]
    f1 = 2 * (pred & y).sum(axis=1) / np.maximum(pred.sum(axis=1) + y.sum(), 1)
    return float(grid[int(f1.argmax())])


def train_model(products: Products, columns: list[str], *, styles: str | None = "description",
                cfg: HeadConfig | None = None, titles: bool = True, corpus: dict[str, dict[str, str]] | None = None,
                description: str | None = "description", skip_untrainable: bool = False,
                progress: Progress = no_progress) -> tuple[TagModel, dict[str, Any]]:
    """Attribute heads for `columns` and style heads from the `styles` column; with their test report.

    With `titles` and an index that stores title vectors, every attribute also gets an image+title head. With a
    `corpus` (the labels file's rows by id) whose rows have a `description` column, an attribute the corpus
    carries also gets a description head trained on the corpus's training-split products. With
    `skip_untrainable` (default columns, not ones the user named), a column with fewer than two trainable classes
    is left out and named in the report's `skipped`.

    Raises:
        BadQueryError: a column (or the styles column) no product has.
    """
    cfg = cfg or HeadConfig()
    products.require(columns + ([styles] if styles else []))
    train = products.split == "train"
    mean = products.x[train].mean(axis=0)
    std = np.maximum(products.x[train].std(axis=0), 1e-4)
    model = TagModel(products.backbone, mean.astype(np.float32), std.astype(np.float32),
                     extra={"config": cfg.__dict__, "style_vocab": STYLE_VOCAB_VERSION})
    z = model.standardise(products.x)
    zt, has_title = None, None
    if titles and products.t is not None:
        has_title = np.linalg.norm(products.t, axis=1) > 0
        on = train & has_title
        if on.any():
            model.title_mean = products.t[on].mean(axis=0).astype(np.float32)
            model.title_std = np.maximum(products.t[on].std(axis=0), 1e-4).astype(np.float32)
            model.text = dict(products.text)
            zt = model.standardise_with_titles(products.x, products.t)
    types = products.column(cfg.type_column) if cfg.type_column in products.columns() else [""] * len(products.ids)
    report: dict[str, Any] = {"split": {s: int((products.split == s).sum()) for s in ("train", "val", "test")},
                              "title_inputs": zt is not None, "attributes": {}}
    described = None
    if corpus and description and any(description in r for r in corpus.values()):
        progress("description words", 0, 1)
        described = DescriptionInputs.build(description, corpus, products.column(description))
        if described is not None:
            model.words = described.words
            model.extra["description_column"] = description
            report["description_inputs"] = {"column": description, "train_products": len(described.corpus),
                                            "words": len(described.words.vocab)}
    if styles:
        heads, report["styles"] = train_styles(z, products.column(styles), products.split, cfg, progress)
        model.heads += heads
    for k, col in enumerate(columns):
        progress("attribute heads", k, len(columns))
        try:
            heads, report["attributes"][col] = train_attribute(col, z, products.column(col), types, products.split,
                                                               cfg, zt, has_title, described)
        except BadQueryError as exc:
            if not skip_untrainable:
                raise
            report.setdefault("skipped", {})[col] = str(exc)
            continue
        model.heads += heads
    progress("attribute heads", len(columns), len(columns))
    return model, report
