"""Training: fit on the train split, calibrate on validation, measure the test split once.

Splits come from `vsearch.core.split.split_of(id)`, the project's split, so the photo head, the title
model and every evaluation agree on which products were never seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vsearch.classify.calibrate import fit_temperature, review_figures, review_threshold
from vsearch.classify.data import LabelSet
from vsearch.classify.errors import ClassifyError
from vsearch.classify.model import CategoryModel, photo_inputs
from vsearch.classify.photo import PhotoHead, product_vectors
from vsearch.classify.title import TitleModel
from vsearch.classify.tree import LabelTree
from vsearch.core.log import Progress, no_progress
from vsearch.core.split import split_of

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)


def _positions(data: LabelSet) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, pid in enumerate(data.ids):
        out[split_of(pid)].append(i)
    return out


def evaluate_rows(model: CategoryModel, data: LabelSet, positions: list[int], vectors: dict[str, np.ndarray],
                  use_title: bool = True, use_photo: bool = True) -> dict[str, Any]:
    """Accuracy per level and review figures of `model` on the rows at `positions`."""
    if not positions:
        return {"samples": 0}
    titles = [data.titles[i] if use_title else "" for i in positions]
    pred = model.predict(titles, *photo_inputs(model, [data.ids[i] for i in positions], vectors, use_photo))
    leaf = model.levels[-1]
    out: dict[str, Any] = {"samples": len(positions)}
    for lv in model.levels:
        out[f"{lv}_accuracy"] = float(np.mean([pred.labels[lv][k] == data.labels[lv][i]
                                               for k, i in enumerate(positions)]))
    correct = np.array([pred.labels[leaf][k] == data.labels[leaf][i] for k, i in enumerate(positions)])
    out["review"] = review_figures(pred.review, correct)
    return out


def _choose_weight(model: CategoryModel, titles: list[str], x: np.ndarray, truth: np.ndarray) -> float:
    """The fusion weight with the best leaf accuracy on validation (ties: the higher truth log-likelihood)."""
    leaf = model.levels[-1]
    t_lp = model.title.log_proba(titles)  # type: ignore[union-attr]
    p_lp = model.photo.log_proba(x)  # type: ignore[union-attr]
    best, best_key = 1.0, (-1.0, -np.inf)
    for w in WEIGHTS:
        decoded = model.tree.decode({lv: t_lp[lv] + w * p_lp[lv] for lv in model.levels})
        leaf_idx = model.tree.paths[decoded.path, -1]
        acc = float((leaf_idx == truth).mean())
        fused = t_lp[leaf] + w * p_lp[leaf]
        fused = fused - np.logaddexp.reduce(fused, axis=1, keepdims=True)
        ll = float(np.mean(fused[np.arange(len(truth)), np.maximum(truth, 0)]))
        if (acc, ll) > best_key:
            best, best_key = w, (acc, ll)
    return best


def train_model(data: LabelSet, index_dir: str | Path | None = None, C: float = 1.0, target_error: float = 0.01,
                progress: Progress = no_progress) -> tuple[CategoryModel, dict[str, Any]]:
    """Fit, calibrate and measure a model on `data`; returns it and its report (val + test figures)."""
    pos = _positions(data)
    if len(pos["train"]) < 2:
        raise ClassifyError(f"only {len(pos['train'])} training rows in the train split; need more labels")
    levels = data.levels
    train = data.subset(pos["train"])
    tree = LabelTree.from_labels(levels, train.labels)
    n_classes = {lv: len(tree.classes[lv]) for lv in levels}
    progress("title model", 0, 1)
    title = TitleModel(C=C).fit(train.titles, {lv: tree.encode(lv, train.labels[lv]) for lv in levels}, n_classes)
    val = data.subset(pos["val"])
    if len(val):
        for lv, s in title.scores(val.titles).items():
            title.temperature[lv] = fit_temperature(s, tree.encode(lv, val.labels[lv]))
    progress("title model", 1, 1)
    model = CategoryModel(tree, title, meta={"levels": levels, "C": C, "target_error": target_error,
                                             "rows": {k: len(v) for k, v in pos.items()}})
    vectors: dict[str, np.ndarray] = {}
    if index_dir is not None:
        progress("photo head", 0, 1)
        vectors = product_vectors(index_dir)
        model.meta["index"] = str(Path(index_dir).resolve())
        tr_ph = [i for i in pos["train"] if data.ids[i] in vectors]
        if len(tr_ph) >= 2:
            x = np.stack([vectors[data.ids[i]] for i in tr_ph])
            model.photo = PhotoHead().fit(x, {lv: tree.encode(lv, [data.labels[lv][i] for i in tr_ph])
                                              for lv in levels}, n_classes)
            va_ph = [i for i in pos["val"] if data.ids[i] in vectors]
            if va_ph:
                xv = np.stack([vectors[data.ids[i]] for i in va_ph])
                for lv, s in model.photo.scores(xv).items():
                    model.photo.temperature[lv] = fit_temperature(s, tree.encode(lv, [data.labels[lv][i]
                                                                                        for i in va_ph]))
                model.weight = _choose_weight(model, [data.titles[i] for i in va_ph], xv,
                                              tree.encode(levels[-1], [data.labels[levels[-1]][i] for i in va_ph]))
        model.meta["photos"] = {"train": len(tr_ph), "weight": model.weight}
        progress("photo head", 1, 1)
    _calibrate_review(model, data, pos["val"], vectors, target_error)
    report = {"levels": levels, "classes": n_classes, "paths": int(len(tree.paths)), "rows": model.meta["rows"],
              "weight": model.weight, "thresholds": model.thresholds,
              "val": _measure(model, data, pos["val"], vectors), "test": _measure(model, data, pos["test"], vectors)}
    model.meta["report"] = report
    return model, report


def _calibrate_review(model: CategoryModel, data: LabelSet, val: list[int], vectors: dict[str, np.ndarray],
                      target_error: float) -> None:
    """One threshold per mode, each from that mode's validation predictions."""
    leaf = model.levels[-1]
    with_photo = [i for i in val if data.ids[i] in vectors] if model.photo is not None else []
    cases = {"title": (val, True, False), "title+photo": (with_photo, True, True), "photo": (with_photo, False, True)}
    for mode, (rows, use_t, use_p) in cases.items():
        if not rows:
            continue
        titles = [data.titles[i] if use_t else "" for i in rows]
        pred = model.predict(titles, *photo_inputs(model, [data.ids[i] for i in rows], vectors, use_p))
        correct = np.array([pred.labels[leaf][k] == data.labels[leaf][i] for k, i in enumerate(rows)])
        model.thresholds[mode] = review_threshold(pred.confidence, correct, target_error)


def _measure(model: CategoryModel, data: LabelSet, rows: list[int], vectors: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {"title": evaluate_rows(model, data, rows, vectors, use_photo=False)}
    with_photo = [i for i in rows if data.ids[i] in vectors] if model.photo is not None else []
    if with_photo:
        out["with_photo"] = {"title": evaluate_rows(model, data, with_photo, vectors, use_photo=False),
                             "photo": evaluate_rows(model, data, with_photo, vectors, use_title=False),
                             "title+photo": evaluate_rows(model, data, with_photo, vectors)}
    return out
