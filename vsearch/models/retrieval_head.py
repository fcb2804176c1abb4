"""The product-identity head of `vsearch train retrieval`, and the embedder that applies it.

The head reads the frozen backbone's unit vectors (so training runs on cached features) and outputs
`[sqrt(1 - mix) * x, sqrt(mix) * unit(x @ W)]`: the cosine of two such vectors is `(1 - mix) * frozen cosine +
mix * projected cosine`, the fusion that kept most of the frozen ranking on products the head never saw
(eval/retrieval/README.md). It lives in `<index>/heads/retrieval.pt`; the index's manifest names it in its
weights id (`<backbone weights>+retrieval:<sha>`), so a query or an `index add` with another head, or none, is
refused with one line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.core.atomic import atomic_path, atomic_write_text
from vsearch.core.errors import IndexMismatchError, IndexMissingError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from vsearch.models.base import ImageEmbedder, ResizeMode

HEAD_FILE = "heads/retrieval.pt"
HEAD_FORMAT = 1
TAG = "+retrieval:"


@dataclass
class RetrievalHead:
    """W `[in_dim, dim]`, the mix weight, and the backbone stamp (model, weights_id, dim) it was trained on."""

    weights: np.ndarray
    mix: float
    backbone: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def out_dim(self) -> int:
        return int(self.weights.shape[0] + self.weights.shape[1])

    @property
    def head_id(self) -> str:
        """A content hash of W and mix: part of the index's weights id."""
        digest = hashlib.sha256(np.ascontiguousarray(self.weights, np.float32).tobytes())
        digest.update(repr(round(self.mix, 6)).encode())
        return digest.hexdigest()[:16]

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Frozen unit vectors `[n, in_dim]` -> unit `[n, in_dim + dim]` float32."""
        x = np.asarray(vectors, np.float32)
        p = x @ self.weights.astype(np.float32)
        p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
        return np.concatenate([np.sqrt(1 - self.mix) * x, np.sqrt(self.mix) * p], axis=1).astype(np.float32)

    def check_backbone(self, emb: ImageEmbedder) -> None:
        actual = {"model": emb.name, "weights_id": emb.weights_id, "dim": emb.dim}
        if any(self.backbone.get(k) != actual[k] for k in actual):
            raise IndexMismatchError(f"the retrieval head was trained on {self.backbone.get('model')} "
                                     f"({self.backbone.get('weights_id')}), not {emb.name} ({emb.weights_id}); "
                                     "retrain it with `vsearch train retrieval`")


class HeadedEmbedder:
    """An image embedder followed by a retrieval head; same transform, vectors of the head's output."""

    def __init__(self, base: ImageEmbedder, head: RetrievalHead) -> None:
        head.check_backbone(base)
        self.base, self.head = base, head
        self.name = base.name
        self.weights_id = f"{base.weights_id}{TAG}{head.head_id}"
        self.dim = head.out_dim
        self.device = base.device
        self.cfg = getattr(base, "cfg", None)
        self.precision = getattr(base, "precision", None)

    def transform(self, image: Image.Image) -> torch.Tensor:
        return self.base.transform(image)

    def encode_images(self, batch: torch.Tensor) -> np.ndarray:
        return self.head.apply(self.base.encode_images(batch))


def head_path(index_dir: str | Path) -> Path:
    return Path(index_dir) / HEAD_FILE


def save_head(path: str | Path, head: RetrievalHead) -> None:
    """The checkpoint and a readable JSON summary beside it, each atomically."""
    import torch

    path = Path(path)
    payload = {"format": HEAD_FORMAT, "weights": torch.from_numpy(np.ascontiguousarray(head.weights, np.float32)),
               "mix": float(head.mix), "backbone": head.backbone, "meta": head.meta}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    summary = {"format": HEAD_FORMAT, "head_id": head.head_id, "mix": head.mix, "backbone": head.backbone,
               "shape": list(head.weights.shape), "meta": head.meta}
    atomic_write_text(path.with_suffix(".json"), json.dumps(summary, indent=1, ensure_ascii=False))


def load_head(path: str | Path) -> RetrievalHead:
    """Raises `IndexMissingError` for a missing or foreign file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no retrieval head at {path}: train one with `vsearch train retrieval`")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many error types for a corrupt or foreign file
        raise IndexMissingError(f"unreadable retrieval head {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != HEAD_FORMAT:
        raise IndexMissingError(f"{path} is not a vsearch retrieval head (format {HEAD_FORMAT})")
    return RetrievalHead(raw["weights"].numpy(), float(raw["mix"]), dict(raw["backbone"]), dict(raw.get("meta", {})))


def with_index_head(index_dir: str | Path, emb: ImageEmbedder, weights_id: str | None = None) -> ImageEmbedder:
    """`emb` wrapped in the index's retrieval head when the index has one (or its manifest names one).

    Args:
        weights_id: the manifest's weights id when the index is built; a head it names must be present.
    """
    path = head_path(index_dir)
    if not path.is_file():
        if weights_id is not None and TAG in weights_id:
            raise IndexMismatchError(f"index {index_dir} was built with retrieval head "
                                     f"{weights_id.split(TAG)[-1]}, but {path} is missing")
        return emb
    return HeadedEmbedder(emb, load_head(path))  # type: ignore[return-value]


def index_photo_embedder(index_dir: str | Path, model: str, *, weights_id: str | None = None,
                         weights: str | None = None, device: str | None = None, precision: str = "auto",
                         resize: ResizeMode = "squash") -> ImageEmbedder:
    """The image embedder of an index: its backbone, then its retrieval head when it has one (unlike
    `registry.create_index_embedder`, the bare backbone a head group's stamp names).

    Why one function: every command that puts photos into an index's space (query, add, eval, classify, Ray
    actors) must apply the same head, or its vectors mean something else. `weights_id`: the manifest's, when the
    index exists (a head it names must be present).
    """
    from vsearch.models.registry import create_embedder

    base = create_embedder(model, weights=weights, device=device, precision=precision, resize=resize)
    return with_index_head(index_dir, base, weights_id)
