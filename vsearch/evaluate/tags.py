"""Tag metrics for a frozen backbone: one logistic-regression probe per attribute, trained on the train
split's stored embeddings and scored on the test split.

This is the honest floor any trained tag head must beat. A head plugs in through `Predictor`: any
function from product ids to (predicted label, `[n, classes]` scores, class names) per attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vsearch.core.metrics import multilabel_report, tag_report
from vsearch.core.split import split_of
from vsearch.evaluate.context import EvalContext
from vsearch.evaluate.suite import TagsCfg

_logger = logging.getLogger(__name__)

Predictor = Callable[[str, Sequence[str]], tuple[list[str], np.ndarray, list[str]]]
"""(attribute, test product ids) -> (predicted labels, `[n, c]` scores, the c class names)."""


def probe_predictor(ctx: EvalContext, cfg: TagsCfg, salt: str, seed: int) -> tuple[Predictor, dict[str, int]]:
    """Fit a standardised logistic regression per attribute on the train split; return its predictor."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    vectors = ctx.product_vectors()
    train_ids = [p for p in sorted(vectors) if split_of(p, salt) == cfg.train]
    models: dict[str, Any] = {}
    counts: dict[str, int] = {}

    def predict(attr: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]]:
        if attr not in models:
            labelled = [p for p in train_ids if ctx.products.get(p, {}).get(attr)]
            y = [ctx.products[p][attr] for p in labelled]
            if len(set(y)) < 2:
                raise ValueError(f"attribute {attr}: fewer than two classes in the {cfg.train} split")
            model = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.C, max_iter=cfg.max_iter,
                                                                       random_state=seed))
            with threadpool_limits(1):  # measured: 2 BLAS threads on a busy 2-core machine run 7x slower
                model.fit(np.stack([vectors[p] for p in labelled]), y)
            models[attr] = model
            counts[attr] = len(labelled)
        model = models[attr]
        x = np.stack([vectors[p] for p in ids])
        classes = [str(c) for c in model.classes_]
        with threadpool_limits(1):
            return [str(c) for c in model.predict(x)], model.predict_proba(x), classes

    return predict, counts


def _expand(scores: np.ndarray, classes: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Scores over the predictor's classes -> over `labels` (0 for a class the predictor never saw)."""
    col = {c: i for i, c in enumerate(classes)}
    out = np.zeros((scores.shape[0], len(labels)), np.float64)
    for j, lab in enumerate(labels):
        if lab in col:
            out[:, j] = scores[:, col[lab]]
    return out


def evaluate_tags(ctx: EvalContext, cfg: TagsCfg, salt: str, seed: int,
                  predictor: Predictor | None = None, source: str = "") -> dict[str, Any]:
    """Per-attribute single-label reports and one multi-label report over all attribute=value tags."""
    train_counts: dict[str, int] = {}
    if predictor is None:
        predictor, train_counts = probe_predictor(ctx, cfg, salt, seed)
        source = source or f"logistic-regression probe on frozen {ctx.manifest.model} embeddings"
    indexed = sorted(set(ctx.vectors("image")[0]))
    test_ids = [p for p in indexed if split_of(p, salt) == cfg.test]
    pos = {p: i for i, p in enumerate(test_ids)}
    attributes: dict[str, Any] = {}
    tag_names: list[str] = []
    truth_cols, score_cols = [], []
    for attr in cfg.attributes:
        ids = [p for p in test_ids if ctx.products.get(p, {}).get(attr)]
        if not ids:
            _logger.warning("attribute %s: no labelled product in the %s split", attr, cfg.test)
            continue
        y_true = [ctx.products[p][attr] for p in ids]
        y_pred, scores, classes = predictor(attr, ids)
        labels = sorted(set(classes) | set(y_true))
        full = _expand(np.asarray(scores), classes, labels)
        report = tag_report(y_true, y_pred, full, labels)
        metrics = {key: report.pop(key) for key in ("accuracy", "f1_macro", "f1_weighted", "top5_accuracy", "map")}
        metrics["samples"] = report["samples"]
        attributes[attr] = {"metrics": metrics, "train": train_counts.get(attr), "classes": len(labels), **report}
        rows = [pos[p] for p in ids]
        truth = np.zeros((len(test_ids), len(labels)), bool)
        truth[rows, [labels.index(lab) for lab in y_true]] = True
        score_all = np.zeros((len(test_ids), len(labels)))
        score_all[rows] = full
        truth_cols.append(truth)
        score_cols.append(score_all)
        tag_names.extend(f"{attr}={lab}" for lab in labels)
    out: dict[str, Any] = {"title": "Tags", "source": source, "train_split": cfg.train, "test_split": cfg.test,
                           "test_products": len(test_ids), "attributes": attributes}
    if truth_cols:
        multi = multilabel_report(np.hstack(truth_cols), np.hstack(score_cols), tag_names)
        out["multilabel"] = {"metrics": {k: multi.pop(k) for k in ("map", "micro_ap", "f1_micro", "f1_macro")},
                             **multi}
    return out


def heads_predictor(ctx: EvalContext) -> tuple[Predictor, list[str]] | None:
    """The index's trained attribute heads (`vsearch train attributes`) as a predictor over stored features.

    Returns None when the index has no attribute heads. A product with several photos is scored by the
    mean of its photos' probabilities. The second value lists the attributes the heads cover.
    """
    from vsearch.index.heads import backbone_stamp, load_group
    from vsearch.index.manifest import heads_path
    from vsearch.tags.features import load_features

    path = heads_path(ctx.index_dir, "attributes")
    if not path.is_file():
        return None
    group = load_group(path, backbone_stamp(ctx.manifest))
    inputs = next(iter(group.heads.values()))[0].inputs  # one group is trained on one feature set
    feats = load_features(ctx.store, inputs, cache=False, tuned_id=group.extra.get("finetune", {}).get("id"),
                          embedder=lambda: ctx.embedder)
    rows: dict[str, list[int]] = {}
    for i, pid in enumerate(feats.ids):
        rows.setdefault(pid, []).append(i)

    def predict(attr: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]]:
        spec, head = group.heads[attr]
        logits = head.predict(feats.x[[r for p in ids for r in rows[p]]])
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        counts = [len(rows[p]) for p in ids]
        per_product = np.add.reduceat(prob, np.cumsum([0, *counts[:-1]]), axis=0) / np.asarray(counts)[:, None]
        return [spec.labels[j] for j in per_product.argmax(axis=1)], per_product, list(spec.labels)

    return predict, [name for name, (spec, _) in group.heads.items() if spec.task == "multiclass"]
