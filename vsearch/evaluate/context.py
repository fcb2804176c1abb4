"""What every protocol shares: the index's stored vectors and metadata, its model, and an embedding cache.

Catalogue vectors are read straight from the store and searched exactly with numpy, so evaluation
does not depend on the ANN index type. Photos that are not in the index are embedded with the
index's own model (from its manifest) and cached for the rest of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.index.manifest import STORE, Manifest, read_manifest

if TYPE_CHECKING:
    from PIL import Image

    from vsearch.index.store import Store
    from vsearch.models.base import ImageEmbedder

_logger = logging.getLogger(__name__)


class EvalContext:
    """One index opened read-only for evaluation. Use as a context manager."""

    def __init__(self, index_dir: str | Path, *, device: str = "cpu", batch_size: int = 64,
                 workers: int | None = None) -> None:
        from vsearch.index.store import Store

        self.index_dir = Path(index_dir)
        self.manifest: Manifest = read_manifest(self.index_dir)
        self.store: Store = Store(self.index_dir / STORE, readonly=True)
        self.device = device
        self.batch_size = batch_size
        self.workers = workers
        self._embedder: ImageEmbedder | None = None
        self._vectors: dict[str, tuple[list[str], np.ndarray]] = {}
        self._products: dict[str, dict[str, str]] | None = None
        self._product_vectors: dict[str, np.ndarray] | None = None
        self._cache: dict[str, np.ndarray | None] = {}
        self.embedded = 0

    def __enter__(self) -> EvalContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.close()

    @property
    def embedder(self) -> ImageEmbedder:
        """The index's image model, created once (and checked against the manifest)."""
        if self._embedder is None:
            from vsearch.models.retrieval_head import index_photo_embedder

            emb = index_photo_embedder(self.index_dir, self.manifest.model, weights_id=self.manifest.weights_id,
                                       device=self.device, resize=self.manifest.resize)
            self.manifest.check_model(emb.name, emb.weights_id, emb.dim)
            self._embedder = emb
        return self._embedder

    @property
    def products(self) -> dict[str, dict[str, str]]:
        if self._products is None:
            self._products = dict(self.store.iter_products())
        return self._products

    def vectors(self, kind: str = "image") -> tuple[list[str], np.ndarray]:
        """Stored vectors of `kind` ("image" or "title"): product id per row and float32 `[n, dim]`."""
        if kind not in self._vectors:
            rows, vecs = self.store.load_vectors(kind)
            ids = [pid or "" for pid in self.store.row_products(rows)]  # vectors as FAISS holds them (fp16-rounded)
            self._vectors[kind] = (ids, vecs)
        return self._vectors[kind]

    def product_vectors(self) -> dict[str, np.ndarray]:
        """One unit vector per indexed product: the normalised mean of its photos (as `Searcher.search_like`)."""
        if self._product_vectors is None:
            ids, vecs = self.vectors("image")
            sums: dict[str, np.ndarray] = {}
            for pid, vec in zip(ids, vecs):
                sums[pid] = sums[pid] + vec if pid in sums else vec.copy()
            self._product_vectors = {pid: v / max(float(np.linalg.norm(v)), 1e-12) for pid, v in sums.items()}
        return self._product_vectors

    def embed_paths(self, paths: Sequence[Path | str]) -> tuple[np.ndarray, np.ndarray]:
        """Embed photo files (cached by path): `[n, dim]` vectors and `[n]` bool, False for a bad photo."""
        from vsearch.models.embed import embed_photos

        todo = list(dict.fromkeys(str(p) for p in paths if str(p) not in self._cache))
        if todo:
            for batch in embed_photos(self.embedder, todo, batch_size=self.batch_size, workers=self.workers):
                for pos, vec in zip(batch.positions, batch.vectors):
                    self._cache[todo[pos]] = vec
                for pos, reason in batch.failures:
                    _logger.warning("skipped query photo: %s", reason)
                    self._cache[todo[pos]] = None
            self.embedded += len(todo)
        dim = self.embedder.dim
        vecs = [self._cache[str(p)] for p in paths]
        ok = np.array([v is not None for v in vecs], dtype=bool)
        out = np.stack([v if v is not None else np.zeros(dim, np.float32) for v in vecs]) if vecs else \
            np.zeros((0, dim), np.float32)
        return out, ok

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed in-memory pictures (synthetic views): `[n, dim]` unit vectors."""
        import torch

        emb = self.embedder
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([emb.transform(im) for im in images[start:start + self.batch_size]])
            out.append(emb.encode_images(batch))
        self.embedded += len(images)
        return np.concatenate(out) if out else np.zeros((0, emb.dim), np.float32)
