"""Frozen backbone vectors of photos and of their camera-like views, cached on disk.

Why: the head trains on frozen features, so each photo (and each synthetic view) goes through the backbone once
per backbone; reruns with other training settings cost seconds. The cache is one `.npz` per backbone, keyed by
path, size, mtime and view number, and written atomically.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vsearch.catalog.images import load_image
from vsearch.core.atomic import atomic_path
from vsearch.models.base import ImageEmbedder
from vsearch.retrieval.augment import camera_view

Progress = Callable[[str, int, int], None]


def _noop(task: str, done: int, total: int) -> None:
    return None


class FeatureCache:
    """`key -> float32 vector` in `<folder>/<backbone hash>.npz`."""

    def __init__(self, folder: str | Path, emb: ImageEmbedder) -> None:
        import hashlib

        tag = hashlib.sha1(f"{emb.name}|{emb.weights_id}|{getattr(emb, 'cfg', '')}".encode()).hexdigest()[:12]
        self.path = Path(folder) / f"features-{tag}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as raw:
                self.vectors = dict(zip(raw["keys"].tolist(), raw["vectors"]))

    def save(self) -> None:
        keys = sorted(self.vectors)
        with atomic_path(self.path) as tmp:
            with tmp.open("wb") as fh:
                np.savez(fh, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys])
                         if keys else np.zeros((0, 0), np.float32))


def photo_key(path: str | Path, view: int | None = None, seed: int = 0) -> str:
    st = Path(path).stat()
    base = f"{path}|{st.st_size}:{st.st_mtime_ns}"
    return base if view is None else f"{base}|view{seed}:{view}"


def _encode(emb: ImageEmbedder, images: list) -> np.ndarray:
    import torch

    return emb.encode_images(torch.stack([emb.transform(im) for im in images]))


def photo_vectors(emb: ImageEmbedder, paths: Sequence[str | Path], cache: FeatureCache | None = None,
                  batch_size: int = 32, progress: Progress = _noop) -> np.ndarray:
    """`[n, dim]` frozen unit vectors of `paths` (the cached ones are not recomputed)."""
    keys = [photo_key(p) for p in paths]
    todo = [i for i, k in enumerate(keys) if cache is None or k not in cache.vectors]
    got: dict[int, np.ndarray] = {}
    for s in range(0, len(todo), batch_size):
        chunk = todo[s:s + batch_size]
        for i, v in zip(chunk, _encode(emb, [load_image(paths[i]) for i in chunk])):
            got[i] = v
        progress("embed photos", min(s + batch_size, len(todo)), len(todo))
    if cache is not None and todo:
        cache.vectors.update({keys[i]: got[i] for i in todo})
        cache.save()
    return np.stack([got[i] if i in got else cache.vectors[keys[i]] for i in range(len(keys))])  # type: ignore[union-attr]


def view_vectors(emb: ImageEmbedder, paths: Sequence[str | Path], views: int, cache: FeatureCache | None = None,
                 seed: int = 0, batch_size: int = 32, progress: Progress = _noop) -> tuple[np.ndarray, np.ndarray]:
    """Frozen vectors of `views` camera-like views of each photo: (`[n * views, dim]`, `[n * views]` photo index).

    Views of a photo use other catalogue photos as clutter and a generator seeded by (seed, path, view), so a
    catalogue gives the same views on every run and they are cacheable by path.
    """
    items = [(i, v) for i in range(len(paths)) for v in range(views)]
    keys = [photo_key(paths[i], v, seed) for i, v in items]
    todo = [j for j, k in enumerate(keys) if cache is None or k not in cache.vectors]
    got: dict[int, np.ndarray] = {}
    for s in range(0, len(todo), batch_size):
        chunk = todo[s:s + batch_size]
        images = []
        for j in chunk:
            i, v = items[j]
            rng = np.random.default_rng([seed, zlib.crc32(str(paths[i]).encode()), v])
            others = [paths[int(k)] for k in rng.choice(len(paths), size=min(3, len(paths) - 1), replace=False)
                      if int(k) != i] if len(paths) > 1 else []
            images.append(camera_view(load_image(paths[i]), rng, [load_image(p) for p in others]))
        for j, vec in zip(chunk, _encode(emb, images)):
            got[j] = vec
        progress("embed camera views", min(s + batch_size, len(todo)), len(todo))
        if cache is not None and (s // batch_size) % 20 == 19:
            cache.vectors.update({keys[j]: got[j] for j in got})
            cache.save()
    if cache is not None and todo:
        cache.vectors.update({keys[j]: got[j] for j in got})
        cache.save()
    vecs = np.stack([got[j] if j in got else cache.vectors[keys[j]] for j in range(len(keys))])  # type: ignore[union-attr]
    return vecs, np.array([i for i, _ in items], np.int64)
