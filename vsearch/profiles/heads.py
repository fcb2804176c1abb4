"""Linear heads on frozen image vectors: attributes with applicability, and style tags; their tag vectors.

A head is logistic regression (numpy weights; sklearn only to train). An attribute column that a kind of
article never carries (the sleeve of a watch) gets the class `n/a` for that kind: which kinds carry it is
learned from the training products (the share of each `articleType` that has a value). Style tags are
one-vs-rest heads on the description words of `vsearch.profiles.vocab`, with per-tag thresholds calibrated
on the validation split.

An attribute head may come twice: on the image vector alone, and on the image and title vectors side by side
(`inputs="image+title"`). A catalogue product has its title and gets the second; a shopper's bare photo has none
and gets the first, so one model answers both. A third head on the words of the product's description
(`inputs="description"`, `vsearch.profiles.words`) re-weighs the attribute's real classes of a product that has a
description (`fuse`); its weight was chosen on the validation split.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.atomic import atomic_path
from vsearch.core.errors import BadQueryError, IndexMismatchError, IndexMissingError
from vsearch.profiles.words import DescriptionWords

NA = "n/a"
HEADS_VERSION = 3
READS_VERSIONS = (1, 2, 3)
IMAGE, IMAGE_TITLE, DESCRIPTION = "image", "image+title", "description"


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
    inputs: str = IMAGE
    weight: float = 1.0

    def logits(self, z: Any) -> np.ndarray:
        """`z` a dense array or, for a description head, a CSR matrix."""
        return np.asarray(z @ self.coef.T) + self.intercept

    def proba(self, z: Any) -> np.ndarray:
        """`[n, K]` class probabilities (multiclass) or `[n, 1]` tag probability, from standardised `z`."""
        s = self.logits(z)
        if self.kind == "tag":
            return 1.0 / (1.0 + np.exp(-np.clip(s, -40, 40)))
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def fuse(p: np.ndarray, labels: list[str], p_desc: np.ndarray, desc_labels: list[str], weight: float) -> np.ndarray:
    """`p` `[n, K]` with its real classes multiplied by the description head's probabilities to the power `weight`
    and renormalised to their old total, so the `n/a` probability (which a description cannot judge) is kept.

    A real class the description head lacks keeps its own probability times the geometric mean of the others'
    factors (neither favoured nor dropped)."""
    out = np.array(p, np.float64, copy=True)
    real = [j for j, c in enumerate(labels) if c != NA]
    col = {c: k for k, c in enumerate(desc_labels)}
    log_f = np.log(np.maximum(p_desc, 1e-9)) * weight
    mean_f = log_f.mean(axis=1)
    log_q = np.stack([np.log(np.maximum(out[:, j], 1e-12)) + (log_f[:, col[labels[j]]] if labels[j] in col
                                                              else mean_f) for j in real], axis=1)
    q = np.exp(log_q - log_q.max(axis=1, keepdims=True))
    out[:, real] = q / q.sum(axis=1, keepdims=True) * out[:, real].sum(axis=1, keepdims=True)
    return out


@dataclass
class TagModel:
    """Heads sharing one input standardisation, trained on one backbone's vectors (and one text model's)."""

    backbone: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray
    heads: list[LinearHead] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    title_mean: np.ndarray | None = None
    title_std: np.ndarray | None = None
    text: dict[str, Any] = field(default_factory=dict)
    words: DescriptionWords | None = None

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float32) - self.mean) / self.std

    def standardise_with_titles(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """`[n, d + dt]` input of the image+title heads."""
        assert self.title_mean is not None and self.title_std is not None
        return np.hstack([self.standardise(x), (np.asarray(t, np.float32) - self.title_mean) / self.title_std])

    @property
    def image_heads(self) -> list[LinearHead]:
        """One head per name: the one every input has (the image)."""
        return [h for h in self.heads if h.inputs == IMAGE]

    @property
    def title_heads(self) -> dict[str, LinearHead]:
        return {h.name: h for h in self.heads if h.inputs == IMAGE_TITLE}

    @property
    def description_heads(self) -> dict[str, LinearHead]:
        return {h.name: h for h in self.heads if h.inputs == DESCRIPTION} if self.words is not None else {}

    @property
    def description_column(self) -> str | None:
        """The labels column the description heads read (None without them)."""
        return str(self.extra.get("description_column", "description")) if self.description_heads else None

    @property
    def tag_names(self) -> list[str]:
        """Names of the tag-vector entries: style tags as they are, attribute classes as "Column: Class"."""
        out = []
        for h in self.image_heads:
            out += h.labels if h.kind == "tag" else [f"{h.name}: {c}" for c in h.labels if c != NA]
        return out

    def check_text(self, stamp: dict[str, Any]) -> None:
        """Raises IndexMismatchError when title vectors of another text model would feed the title heads."""
        if self.title_heads and stamp and any(self.text.get(k) != stamp.get(k) for k in self.text):
            raise IndexMismatchError(f"heads read titles of {self.text.get('text_model')} (dim "
                                     f"{self.text.get('text_dim')}), not {stamp.get('text_model')} "
                                     f"(dim {stamp.get('text_dim')})")

    def probabilities(self, x: np.ndarray, t: np.ndarray | None = None,
                      d: list[str] | None = None) -> list[tuple[LinearHead, np.ndarray]]:
        """Each head's `[n, K]` probabilities; rows with a title (non-zero row of `t`) read the image+title head,
        rows with a description (non-empty `d[i]`) are then re-weighed by the description head (`fuse`)."""
        z = self.standardise(x)
        titled = self.title_heads if t is not None else {}
        has = np.linalg.norm(t, axis=1) > 0 if titled and t is not None else np.zeros(len(x), bool)
        zt = self.standardise_with_titles(x[has], t[has]) if has.any() and t is not None else None
        described = self.description_heads if d is not None else {}
        has_d = np.array([bool(s and s.strip()) for s in d]) if described and d is not None else np.zeros(len(x), bool)
        words = self.words.transform([d[i] for i in np.flatnonzero(has_d)]) \
            if has_d.any() and self.words is not None and d is not None else None
        out = []
        for h in self.image_heads:
            p = h.proba(z)
            if zt is not None and h.name in titled:
                p[has] = titled[h.name].proba(zt)
            if words is not None and h.name in described:
                dh = described[h.name]
                p[has_d] = fuse(p[has_d], h.labels, dh.proba(words), dh.labels, dh.weight)
            out.append((h, p))
        return out

    def tag_matrix(self, x: np.ndarray, t: np.ndarray | None = None, d: list[str] | None = None) -> np.ndarray:
        """`[n, T]` probability of each tag of `tag_names` for `[n, d]` image vectors (n/a classes left out),
        read with titles `[n, dt]` and descriptions `d` where given."""
        parts = [p if h.kind == "tag" else p[:, [j for j, c in enumerate(h.labels) if c != NA]]
                 for h, p in self.probabilities(x, t, d)]
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(x), 0), np.float32)

    def predict(self, x: np.ndarray, t: np.ndarray | None = None,
                d: list[str] | None = None) -> list[dict[str, Any]]:
        """Per row: each attribute's most likely class with its probability, and the style tags over threshold."""
        out: list[dict[str, Any]] = [{"attributes": {}, "tags": []} for _ in range(len(x))]
        for h, p in self.probabilities(x, t, d):
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
    if model.title_mean is not None and model.title_std is not None:
        arrays["title_mean"], arrays["title_std"] = model.title_mean, model.title_std
    if model.words is not None:
        arrays["words_vocab"], arrays["words_idf"] = model.words.vocab, model.words.idf
    specs = []
    for k, h in enumerate(model.heads):
        arrays[f"coef_{k}"], arrays[f"intercept_{k}"] = h.coef, h.intercept
        specs.append({key: v for key, v in asdict(h).items() if key not in ("coef", "intercept")})
    meta = {"version": HEADS_VERSION, "backbone": model.backbone, "heads": specs, "extra": model.extra,
            "text": model.text}
    arrays["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    return arrays


def save_model(path: str | Path, model: TagModel) -> None:
    """One .npz, written atomically."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, **model_arrays(model))


def model_from_arrays(data: Any, where: str) -> TagModel:
    meta = json.loads(str(data["meta"]))
    if meta.get("version") not in READS_VERSIONS:
        raise IndexMismatchError(f"{where}: heads format {meta.get('version')}, this version reads "
                                 f"{', '.join(map(str, READS_VERSIONS))}")
    heads = [LinearHead(coef=data[f"coef_{k}"], intercept=data[f"intercept_{k}"], **spec)
             for k, spec in enumerate(meta["heads"])]
    names = set(getattr(data, "files", None) or data)
    titled = "title_mean" in names
    words = DescriptionWords(data["words_vocab"], data["words_idf"]) if "words_vocab" in names else None
    return TagModel(meta["backbone"], data["mean"], data["std"], heads, meta.get("extra", {}),
                    data["title_mean"] if titled else None, data["title_std"] if titled else None,
                    meta.get("text", {}), words)


def load_model(path: str | Path) -> TagModel:
    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no heads file at {path}: run `vsearch profile heads`")
    try:
        with np.load(path, allow_pickle=False) as data:
            return model_from_arrays(data, str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise BadQueryError(f"{path} is not a heads file: {exc}") from None
