"""The alignment head read at query time: maps text vectors into an index's image space (text search,
zero-shot tag scores). Trained by `vsearch.tags.align`; stored with the index's heads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vsearch.index.heads import Head, HeadGroup, backbone_stamp, load_group
from vsearch.index.manifest import heads_path, read_manifest


class Aligner:
    """Maps text into an index's image space (through the head, or natively for open_clip)."""

    def __init__(self, group: HeadGroup) -> None:
        self.group = group
        self.native = bool(group.extra.get("native"))
        self.head: Head | None = None if self.native else group.heads["align"][1]
        zs = group.extra.get("zero_shot", {})
        self.tags: list[str] = list(zs.get("tags", []))
        self.tag_vectors = np.asarray(zs.get("vectors", torch.zeros(0, group.backbone["dim"])), np.float32)
        self.quantiles = np.asarray(zs.get("quantiles", torch.zeros(0, 101)), np.float32)

    def map_texts(self, text_vectors: np.ndarray) -> np.ndarray:
        """MiniLM `[n, 384]` -> unit `[n, dim]` vectors in the image space."""
        if self.head is None:
            return unit_rows(text_vectors)
        return unit_rows(self.head.predict(text_vectors))

    def zero_shot(self, image_vectors: np.ndarray) -> np.ndarray:
        """`[n, dim]` unit image vectors -> `[n, tags]` catalogue percentiles in [0, 1]."""
        scores = image_vectors @ self.tag_vectors.T
        grid = np.linspace(0, 1, self.quantiles.shape[1]) if len(self.quantiles) else np.zeros(0)
        return np.stack([np.interp(scores[:, j], self.quantiles[j], grid) for j in range(len(self.tags))], axis=1) \
            if self.tags else np.zeros((len(image_vectors), 0), np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def load_aligner(index_dir: str | Path, path: str | Path | None = None) -> Aligner:
    """The index's alignment group, checked against its backbone."""
    stamp = backbone_stamp(read_manifest(index_dir))
    return Aligner(load_group(path or heads_path(index_dir, "align"), stamp))
