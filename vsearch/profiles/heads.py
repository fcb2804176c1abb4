"""Linear heads on frozen image vectors: attributes with applicability, and style tags; their tag vectors.

A head is logistic regression (numpy weights; sklearn only to train). An attribute column that a kind of
article never carries (the sleeve of a watch) gets the class `n/a` for that kind: which kinds carry it is
learned from the training products (the share of each `articleType` that has a value). Style tags are
one-vs-rest heads on the description words of `vsearch.profiles.vocab`, with per-tag thresholds calibrated
on the validation split.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.atomic import atomic_path
from vsearch.core.errors import BadQueryError, IndexMismatchError, IndexMissingError

NA = "n/a"
HEADS_VERSION = 1


@dataclass
class LinearHead:
    """One head: `kind` "multiclass" (softmax over `labels`) or "tag" (one sigmoid, `labels == [tag]`)."""

    name: str
    kind: str
    labels: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    threshold: float = 0.5
    source: str = ""
    applies_to: list[str] | None = None

    def logits(self, z: np.ndarray) -> np.ndarray:
        return z @ self.coef.T + self.intercept

    def proba(self, z: np.ndarray) -> np.ndarray:
        """`[n, K]` class probabilities (multiclass) or `[n, 1]` tag probability, from standardised `z`."""
        s = self.logits(z)
        if self.kind == "tag":
            return 1.0 / (1.0 + np.exp(-np.clip(s, -40, 40)))
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


@dataclass
class TagModel:
    """Heads sharing one input standardisation, trained on one backbone's vectors."""

    backbone: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    heads: list[LinearHead] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float32) - self.mean) / self.std

    @property
    def tag_names(self) -> list[str]:
        """Names of the tag-vector entries: style tags as they are, attribute classes as "Column: Class"."""
        out = []
        for h in self.heads:
            out += h.labels if h.kind == "tag" else [f"{h.name}: {c}" for c in h.labels if c != NA]
        return out

    def tag_matrix(self, x: np.ndarray) -> np.ndarray:
        """`[n, T]` probability of each tag of `tag_names` for `[n, d]` image vectors (n/a classes left out)."""
        z = self.standardise(x)
        parts = []
        for h in self.heads:
            p = h.proba(z)
            parts.append(p if h.kind == "tag" else p[:, [j for j, c in enumerate(h.labels) if c != NA]])
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(x), 0), np.float32)

    def predict(self, x: np.ndarray) -> list[dict[str, Any]]:
        """Per row: each attribute's most likely class with its probability, and the style tags over threshold."""
        z = self.standardise(x)
        out: list[dict[str, Any]] = [{"attributes": {}, "tags": []} for _ in range(len(x))]
        for h in self.heads:
            p = h.proba(z)
            for row in range(len(x)):
                if h.kind == "tag":
                    if p[row, 0] >= h.threshold:
                        out[row]["tags"].append({"tag": h.labels[0], "prob": round(float(p[row, 0]), 4)})
                else:
                    j = int(p[row].argmax())
                    out[row]["attributes"][h.name] = {"label": h.labels[j], "prob": round(float(p[row, j]), 4)}
        return out

    def check_backbone(self, stamp: dict[str, Any]) -> None:
        for key in ("model", "weights_id", "dim"):
            if self.backbone.get(key) != stamp.get(key):
                raise IndexMismatchError(f"heads were trained on {self.backbone.get('model')} (dim "
                                         f"{self.backbone.get('dim')}), not {stamp.get('model')} "
                                         f"(dim {stamp.get('dim')})")


def model_arrays(model: TagModel) -> dict[str, np.ndarray]:
    """The model as named arrays: weights as they are, everything else as one JSON string ("meta")."""
    arrays: dict[str, np.ndarray] = {"mean": model.mean, "std": model.std}
    specs = []
    for k, h in enumerate(model.heads):
        arrays[f"coef_{k}"], arrays[f"intercept_{k}"] = h.coef, h.intercept
        specs.append({key: v for key, v in asdict(h).items() if key not in ("coef", "intercept")})
    meta = {"version": HEADS_VERSION, "backbone": model.backbone, "heads": specs, "extra": model.extra}
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    return arrays


def save_model(path: str | Path, model: TagModel) -> None:
    """One .npz, written atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **model_arrays(model))


def model_from_arrays(data: Any, where: str) -> TagModel:
    meta = json.loads(str(data["meta"]))
    if meta.get("version") != HEADS_VERSION:
        raise IndexMismatchError(f"{where}: heads format {meta.get('version')}, this version reads {HEADS_VERSION}")
    heads = [LinearHead(coef=data[f"coef_{k}"], intercept=data[f"intercept_{k}"], **spec)
             for k, spec in enumerate(meta["heads"])]
    return TagModel(meta["backbone"], data["mean"], data["std"], heads, meta.get("extra", {}))


def load_model(path: str | Path) -> TagModel:
    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no heads file at {path}: run `vsearch profile heads`")
    try:
        with np.load(path, allow_pickle=False) as data:
            return model_from_arrays(data, str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise BadQueryError(f"{path} is not a heads file: {exc}") from None
