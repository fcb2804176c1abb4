"""A trained category model: title model + optional photo head, fused and decoded over the label tree.

Fusion is late: per level, `log p = log p_title + w * log p_photo` (both calibrated), `w` chosen on
validation. A product with only a title or only a photo uses that part alone. Confidence is the
probability of the decoded path; below the threshold calibrated for the row's mode, `review` is True.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.classify.errors import ClassifyError
from vsearch.classify.photo import PhotoHead
from vsearch.classify.title import TitleModel
from vsearch.classify.tree import LabelTree

MODES = ("title", "photo", "title+photo")


@dataclass
class Predictions:
    """Per row: label and probability per level, the path confidence, the mode used and the review flag."""

    labels: dict[str, list[str]]
    probs: dict[str, np.ndarray]
    confidence: np.ndarray
    modes: list[str]
    review: np.ndarray

    def record(self, i: int, pid: str) -> dict[str, Any]:
        """The JSON line of row `i`: {"id", "levels": {level: {"label", "prob"}}, "review", ...}."""
        return {"id": pid, "levels": {lv: {"label": self.labels[lv][i], "prob": round(float(self.probs[lv][i]), 4)}
                                      for lv in self.labels},
                "confidence": round(float(self.confidence[i]), 4), "mode": self.modes[i],
                "review": bool(self.review[i])}


@dataclass
class CategoryModel:
    tree: LabelTree
    title: TitleModel | None
    photo: PhotoHead | None = None
    weight: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> list[str]:
        return self.tree.levels

    def log_proba(self, titles: list[str], vectors: np.ndarray | None = None,
                  has_photo: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
        """Fused `[n, C_level]` log-probabilities and each row's mode. `titles[i] == ""` means no title;
        `vectors[i]` counts only where `has_photo[i]`."""
        n = len(titles)
        has_title = np.array([bool(t) for t in titles], bool)
        has_photo = np.zeros(n, bool) if has_photo is None or self.photo is None else np.asarray(has_photo, bool)
        if self.title is None:
            has_title[:] = False
        if (~has_title & ~has_photo).any():
            i = int(np.flatnonzero(~has_title & ~has_photo)[0])
            raise ClassifyError(f"row {i + 1}: empty title and no photo")
        out = {lv: np.zeros((n, len(self.tree.classes[lv])), np.float64) for lv in self.levels}
        if has_title.any():
            rows = np.flatnonzero(has_title)
            for lv, lp in self.title.log_proba([titles[i] for i in rows]).items():  # type: ignore[union-attr]
                out[lv][rows] += lp
        if has_photo.any():
            rows = np.flatnonzero(has_photo)
            w = np.where(has_title[rows], self.weight, 1.0)[:, None]
            for lv, lp in self.photo.log_proba(vectors[rows]).items():  # type: ignore[union-attr,index]
                out[lv][rows] += w * lp
        modes = [("title+photo" if p else "title") if t else "photo" for t, p in zip(has_title, has_photo)]
        return out, modes

    def predict(self, titles: list[str], vectors: np.ndarray | None = None,
                has_photo: np.ndarray | None = None) -> Predictions:
        logp, modes = self.log_proba(titles, vectors, has_photo)
        decoded = self.tree.decode(logp)
        thr = np.array([self.thresholds.get(m, self.thresholds.get("title", 0.0)) for m in modes])
        return Predictions(self.tree.labels_of(decoded), decoded.level_prob, decoded.path_prob, modes,
                           decoded.path_prob < thr)


def photo_inputs(model: CategoryModel, ids: list[str], vectors: dict[str, np.ndarray],
                 use_photo: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
    """`[n, dim]` vectors and the has-photo mask for `ids` (None, None without a photo head)."""
    if model.photo is None or not use_photo:
        return None, None
    has = np.array([pid in vectors for pid in ids], bool)
    x = np.zeros((len(ids), model.photo.dim), np.float32)
    for k, pid in enumerate(ids):
        if has[k]:
            x[k] = vectors[pid]
    return x, has


def save_model(model: CategoryModel, path: str | Path) -> None:
    """Pickle the model (joblib) atomically, with its metadata as JSON beside it."""
    import joblib

    from vsearch.core.atomic import atomic_path, atomic_write_text

    path = Path(path)
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp, compress=3)
    atomic_write_text(path.with_suffix(".json"), json.dumps(model.meta, indent=2, default=str))


def load_model(path: str | Path) -> CategoryModel:
    import joblib

    path = Path(path)
    if not path.is_file():
        raise ClassifyError(f"no model at {path}")
    model = joblib.load(path)
    if not isinstance(model, CategoryModel):
        raise ClassifyError(f"{path} is not a category model")
    return model
