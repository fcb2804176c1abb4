"""Searcher: query -> vector -> FAISS -> rows -> products, best photo per product.

A thin join of `models`, `index` and `store`. The model loads once, on the first photo query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.errors import BadQueryError
from vsearch.manifest import IMAGE_INDEX, STORE, TEXT_INDEX, Manifest, read_manifest

if TYPE_CHECKING:
    import faiss

    from vsearch.models.base import ImageEmbedder, TextEmbedder
    from vsearch.store import Store


@dataclass
class Hit:
    """One product in a result list; `score` is the cosine similarity of its best-matching vector."""

    rank: int
    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "id": self.id, "score": round(self.score, 6), **self.metadata}


def combine_queries(vectors: np.ndarray) -> np.ndarray:
    """Several photos of one product -> one unit query vector (the normalised mean)."""
    mean = np.asarray(vectors, np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        raise BadQueryError("query photos cancel out to a zero vector")
    return mean / norm


class Searcher:
    """Answers queries against one built index. Use as a context manager (it holds the lmdb store)."""

    def __init__(self, index_dir: str | Path, *, model: str | None = None, weights: str | None = None,
                 device: str | None = None, use_gpu: bool | None = None) -> None:
        from vsearch.store import Store

        self.index_dir = Path(index_dir)
        self.manifest: Manifest = read_manifest(self.index_dir)
        self.manifest.check_model(model)
        self._weights = weights
        self._device = device
        self._use_gpu = use_gpu
        self._embedder: ImageEmbedder | None = None
        self._text_embedder: TextEmbedder | None = None
        self._indexes: dict[str, faiss.Index] = {}
        self.store: Store = Store(self.index_dir / STORE, readonly=True)

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # -- lazily loaded parts ------------------------------------------------------------------------
    @property
    def embedder(self) -> ImageEmbedder:
        if self._embedder is None:
            from vsearch.models import create_embedder

            resize = self.manifest.preprocess.get("resize", "squash")
            emb = create_embedder(self.manifest.model, weights=self._weights, device=self._device, resize=resize)
            self.manifest.check_model(emb.name, None if self._weights else emb.weights_id, emb.dim)
            self._embedder = emb
        return self._embedder

    @property
    def text_embedder(self) -> TextEmbedder:
        if self._text_embedder is None:
            if not self.manifest.text_model:
                raise BadQueryError(f"index {self.index_dir} has no title vectors (its catalogue had no title column)")
            from vsearch.models import create_text_embedder

            self._text_embedder = create_text_embedder(self.manifest.text_model, device=self._device)
        return self._text_embedder

    def faiss_index(self, kind: str = "image") -> faiss.Index:
        if kind not in self._indexes:
            from vsearch.index import load_index

            self._indexes[kind] = load_index(self.index_dir / (IMAGE_INDEX if kind == "image" else TEXT_INDEX),
                                             use_gpu=self._use_gpu)
        return self._indexes[kind]

    # -- queries ------------------------------------------------------------------------------------
    def embed_photos(self, photos: Sequence[str | Path]) -> np.ndarray:
        """`[n, dim]` unit vectors of query photos (raises `BadImageError` for a bad one)."""
        from vsearch.embed import embed_query_photos

        if not photos:
            raise BadQueryError("no query photos given")
        return embed_query_photos(self.embedder, photos)

    def search_photos(self, photos: Sequence[str | Path], k: int = 10) -> list[Hit]:
        """Products most similar to the photos, taken together as views of one product."""
        return self.search_vector(combine_queries(self.embed_photos(photos)), k)

    def search_text(self, text: str, k: int = 10) -> list[Hit]:
        """Products whose photos match `text` in the image space (an open_clip text tower, or a trained
        alignment head), else whose titles are closest to it (title index, MiniLM)."""
        if not text.strip():
            raise BadQueryError("empty text query")
        query = self._text_in_image_space(text)
        if query is not None:
            return self.search_vector(query, k, kind="image")
        return self.search_vector(self.text_embedder.encode_texts([text])[0], k, kind="title")

    def _text_in_image_space(self, text: str) -> np.ndarray | None:
        """`text` as a unit image-space vector, or None when the index has no way to put it there."""
        if self.manifest.model.startswith("open_clip:"):
            return np.asarray(self.embedder.encode_texts([text])[0], np.float32)  # type: ignore[attr-defined]
        aligner = getattr(self, "_aligner", None)  # loaded on the first text query, kept for the next
        if aligner is None:
            from vsearch.heads import heads_path

            path = heads_path(self.index_dir, "align")
            if not path.is_file():
                return None
            from vsearch.align import load_aligner

            aligner = self._aligner = load_aligner(self.index_dir, path)
        return aligner.map_texts(self.text_embedder.encode_texts([text]))[0]  # type: ignore[no-any-return]

    def search_like(self, product_id: str, k: int = 10) -> list[Hit]:
        """Products similar to an indexed one (its photos as the query), excluding itself."""
        vectors = self.store.product_vectors(product_id, "image")
        if vectors.size == 0:
            raise BadQueryError(f"product '{product_id}' is not in index {self.index_dir}")
        return self.search_vector(combine_queries(vectors), k, exclude={product_id})

    def search_vector(self, query: np.ndarray, k: int = 10, kind: str = "image",
                      exclude: set[str] | None = None) -> list[Hit]:
        """Top-`k` distinct products for one unit vector; each product scored by its best vector."""
        from vsearch.index import search

        if k < 1:
            raise BadQueryError(f"k must be at least 1, got {k}")
        index = self.faiss_index(kind)
        exclude = exclude or set()
        fetch = min(index.ntotal, max(4 * k, 16))
        while True:
            scores, rows = search(index, query[None, :], fetch)
            best: dict[str, float] = {}
            for score, pid in zip(scores[0], self.store.row_products(rows[0])):
                if pid is not None and pid not in exclude and pid not in best:
                    best[pid] = float(score)
            if len(best) >= k or fetch >= index.ntotal:
                break
            fetch = min(index.ntotal, fetch * 4)
        top = list(best.items())[:k]
        metas = self.store.get_products([pid for pid, _ in top])
        return [Hit(rank, pid, score, meta or {}) for rank, ((pid, score), meta) in enumerate(zip(top, metas), 1)]
