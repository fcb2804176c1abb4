"""Photos -> vectors, with decoding and preprocessing in worker processes beside the forward pass.

Reader (`PhotoDataset`: decode + transform, bad files reported, not raised) -> embedder (batched
forward) -> the caller's writer. Bad photos are yielded as failures so a long job keeps going.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vsearch.catalog.images import load_image
from vsearch.core.errors import BadImageError
from vsearch.models.base import ImageEmbedder


@dataclass
class EmbeddedBatch:
    """Vectors for the photos at `positions` of the input list; `failures` are (position, reason)."""

    positions: list[int]
    vectors: np.ndarray
    failures: list[tuple[int, str]]


class PhotoDataset(torch.utils.data.Dataset):
    """Decodes and transforms one photo per item; a bad photo gives its error text instead of a tensor."""

    def __init__(self, paths: Sequence[Path | str], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.transform(load_image(self.paths[i])), None
        except BadImageError as exc:
            return i, None, str(exc)
        except Exception as exc:  # a decoder bug on one odd file must not stop the whole job
            return i, None, f"{self.paths[i]}: {type(exc).__name__}: {exc}"


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]) -> tuple[list[int], torch.Tensor | None,
                                                                                  list[tuple[int, str]]]:
    good = [(i, t) for i, t, _ in items if t is not None]
    failures = [(i, err) for i, t, err in items if t is None and err is not None]
    tensor = torch.stack([t for _, t in good]) if good else None
    return [i for i, _ in good], tensor, failures


def default_workers() -> int:
    """Decode workers: one per spare core, at least one, so decoding overlaps the forward pass."""
    from vsearch.core.cpus import usable_cpus

    return max(1, min(8, usable_cpus() - 1))


def photo_batches(embedder: ImageEmbedder, paths: Sequence[Path | str], batch_size: int = 64,
                  workers: int | None = None) -> Iterator[tuple[list[int], torch.Tensor | None, list[tuple[int, str]]]]:
    """Decoded, preprocessed photos in batches, in order: (positions, `[n, 3, H, W]` or None, failures)."""
    workers = default_workers() if workers is None else workers
    yield from torch.utils.data.DataLoader(
        PhotoDataset(paths, embedder.transform), batch_size=batch_size, num_workers=workers,
        collate_fn=_collate, pin_memory=embedder.device.startswith("cuda"),
        prefetch_factor=4 if workers else None, persistent_workers=False)


def embed_photos(embedder: ImageEmbedder, paths: Sequence[Path | str], batch_size: int = 64,
                 workers: int | None = None) -> Iterator[EmbeddedBatch]:
    """Embed `paths` in batches, in order. Yields one `EmbeddedBatch` per batch."""
    for positions, tensor, failures in photo_batches(embedder, paths, batch_size, workers):
        vectors = embedder.encode_images(tensor) if tensor is not None else np.zeros((0, embedder.dim), np.float32)
        yield EmbeddedBatch(positions, vectors, failures)


def embed_query_photos(embedder: ImageEmbedder, paths: Sequence[Path | str]) -> np.ndarray:
    """Embed query photos in-process (no workers); raises `BadImageError` on the first bad one."""
    tensors = [embedder.transform(load_image(p)) for p in paths]
    return embedder.encode_images(torch.stack(tensors))
