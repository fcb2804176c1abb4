"""Searcher: query -> vector -> FAISS -> rows -> products, best photo per product.

A thin join of `models`, `index` and `store`. The model loads once, on the first photo query.
Metadata filters (`where`) run inside the search: the allowed rows become a FAISS `IDSelector` on an
exact index; on an approximate one a selective filter is answered exactly over the allowed rows'
vectors, so k filtered results come back however few products pass. A FAISS file behind the store
(an interrupted update) is synced in memory on load, so answers always match the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.core.errors import BadQueryError
from vsearch.index.filters import Filter, parse_filter
from vsearch.index.manifest import IMAGE_INDEX, STORE, TEXT_INDEX, Manifest, read_manifest

if TYPE_CHECKING:
    import faiss

    from vsearch.index.aligner import Aligner
    from vsearch.index.store import Store
    from vsearch.models.base import ImageEmbedder, TextEmbedder


@dataclass
class Hit:
    """One product in a result list; `score` is the cosine similarity of its best-matching vector."""

    rank: int
    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "id": self.id, "score": round(self.score, 6), **self.metadata}


LIKE_TITLE_WEIGHT = 0.6
"""`search_like`'s weight of title cosine against photo cosine. Chosen on the val split of products-224 (819
queries, leave-one-out over 8,146 products, same-articleType P@1: 0.882 photos only, 0.954 / 0.957 / 0.952 at
0.5 / 0.6 / 0.7, 0.934 titles only); on test: 0.852 -> 0.944 (eval/retrieval/like_fusion.json)."""


def fuse_scores(image: dict[str, float], title: dict[str, float], weight: float) -> dict[str, float]:
    """`(1 - weight) * photo cosine + weight * title cosine` per product; a product with no title keeps its photo
    score (neither helped nor hurt by a missing title)."""
    return {pid: (1 - weight) * s + weight * title.get(pid, s) for pid, s in image.items()}


def combine_queries(vectors: np.ndarray) -> np.ndarray:
    """Several photos of one product -> one unit query vector (the normalised mean)."""
    mean = np.asarray(vectors, np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        raise BadQueryError("query photos cancel out to a zero vector")
    return mean / norm


def _load_published(index_dir: Path, name: str) -> faiss.Index:
    """The published FAISS file `name` (its pending copy while a writer is finishing a publish)."""
    from vsearch.core.errors import IndexDamagedError, IndexMissingError
    from vsearch.index.faiss_index import load_index
    from vsearch.index.manifest import live_file

    path = live_file(index_dir, name)
    try:
        return load_index(path, use_gpu=False)
    except (IndexMissingError, IndexDamagedError, FileNotFoundError):
        if path.name == name or path.exists():
            raise
        return load_index(index_dir / name, use_gpu=False)  # the writer renamed the pending copy in place mid-read


class Searcher:
    """Answers queries against one built index. Use as a context manager (it holds the lmdb store)."""

    EXACT_SUBSET = 50_000
    """On an approximate index, filters passing at most this many rows are answered by exact search."""

    def __init__(self, index_dir: str | Path, *, model: str | None = None, weights: str | None = None,
                 device: str | None = None, use_gpu: bool | None = None, where: Sequence[str] | None = None,
                 one_shot: bool = False) -> None:
        """`one_shot`: this process answers a query or two (the CLI), so on a CPU text runs through numpy MiniLM and
        torch is never imported (~1.5 s saved); a server keeps torch, 3 ms a query faster once loaded."""
        from vsearch.index.store import Store

        self.index_dir = Path(index_dir)
        self.manifest: Manifest = read_manifest(self.index_dir)
        self.manifest.check_model(model)
        self._weights = weights
        self._device = device
        self._use_gpu = use_gpu
        self._one_shot = one_shot
        self._embedder: ImageEmbedder | None = None
        self._text_embedder: TextEmbedder | None = None
        self._aligner: Aligner | None = None
        self._indexes: dict[str, faiss.Index] = {}
        self._allowed: dict[tuple[str, Filter], np.ndarray] = {}
        self._columns: set[str] | None = None
        self.store: Store = Store(self.index_dir / STORE, readonly=True)
        self.filter: Filter | None = parse_filter(where)
        if self.filter is not None:
            self.filter.check_columns(self.columns())

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    def reuse_models(self, other: Searcher) -> None:
        """Take over the models `other` already loaded (same index, a newer generation): no second load."""
        self._embedder = self._embedder or other._embedder
        self._text_embedder = self._text_embedder or other._text_embedder

    # -- lazily loaded parts ------------------------------------------------------------------------
    @property
    def embedder(self) -> ImageEmbedder:
        if self._embedder is None:
            from vsearch.models.retrieval_head import index_photo_embedder

            emb = index_photo_embedder(self.index_dir, self.manifest.model, weights_id=self.manifest.weights_id,
                                       weights=self._weights, device=self._device, resize=self.manifest.resize)
            self.manifest.check_model(emb.name, None if self._weights else emb.weights_id, emb.dim)
            self._embedder = emb
        return self._embedder

    @property
    def text_embedder(self) -> TextEmbedder:
        if self._text_embedder is None:
            if not self.manifest.text_model:
                raise BadQueryError(f"index {self.index_dir} has no title vectors (its catalogue had no title column)")
            from vsearch.models import create_text_embedder
            from vsearch.models.device import resolve_device

            device = resolve_device(self._device)
            numpy_runner = self._one_shot and device == "cpu"
            self._text_embedder = create_text_embedder(self.manifest.text_model, device=device,
                                                       precision="fp32" if numpy_runner else "auto",
                                                       runner="numpy" if numpy_runner else "torch")
        return self._text_embedder

    def faiss_index(self, kind: str = "image") -> faiss.Index:
        if kind not in self._indexes:
            from vsearch.index.faiss_index import to_gpu

            name = IMAGE_INDEX if kind == "image" else TEXT_INDEX
            index = _load_published(self.index_dir, name)
            if self.manifest.build.get("synced_generation", 0) != self.store.generation():
                from vsearch.index.update import reconcile

                index, report = reconcile(index, self.store, kind, self.manifest.index_type)
                if report.added or report.removed or report.rebuilt:
                    logging.getLogger(__name__).warning(
                        "%s is behind its store (a write in progress or interrupted): answering from the store, "
                        "%+d/-%d rows", name, report.added, report.removed)
            self._indexes[kind] = to_gpu(index, self._use_gpu, name)
        return self._indexes[kind]

    # -- filters ------------------------------------------------------------------------------------
    def columns(self) -> set[str]:
        """Metadata columns that filters may name (`id` included)."""
        if self._columns is None:
            self._columns = {"id"}
            for _, meta in self.store.iter_products():
                self._columns.update(meta)
        return self._columns

    def allowed_rows(self, where: Filter, kind: str = "image") -> np.ndarray:
        """Sorted int64 rows of `kind` whose product passes `where` (one metadata scan, cached)."""
        key = (kind, where)
        if key not in self._allowed:
            where.check_columns(self.columns())
            passing = {pid for pid, meta in self.store.iter_products() if where.matches({**meta, "id": pid})}
            rows, pids, _ = self.store.row_table(kind)
            self._allowed[key] = np.sort(rows[np.fromiter((p in passing for p in pids), bool, len(pids))])
        return self._allowed[key]

    # -- queries ------------------------------------------------------------------------------------
    def embed_photos(self, photos: Sequence[str | Path]) -> np.ndarray:
        """`[n, dim]` unit vectors of query photos (raises `BadImageError` for a bad one)."""
        from vsearch.models.embed import embed_query_photos

        if not photos:
            raise BadQueryError("no query photos given")
        return embed_query_photos(self.embedder, photos)

    def search_photos(self, photos: Sequence[str | Path], k: int = 10, where: Filter | None = None) -> list[Hit]:
        """Products most similar to the photos, taken together as views of one product."""
        return self.search_vector(combine_queries(self.embed_photos(photos)), k, where=where)

    def search_text(self, text: str, k: int = 10, where: Filter | None = None) -> list[Hit]:
        """Products whose photos match `text` in the image space (an open_clip text tower, or a trained
        alignment head), else whose titles are closest to it (title index, MiniLM)."""
        if not text.strip():
            raise BadQueryError("empty text query")
        query = self._text_in_image_space(text)
        if query is not None:
            return self.search_vector(query, k, kind="image", where=where)
        return self.search_vector(self.text_embedder.encode_texts([text])[0], k, kind="title", where=where)

    def _text_in_image_space(self, text: str) -> np.ndarray | None:
        """`text` as a unit image-space vector, or None when the index has no way to put it there."""
        if self.manifest.model.startswith("open_clip:"):
            return np.asarray(self.embedder.encode_texts([text])[0], np.float32)  # type: ignore[attr-defined]
        aligner = self._aligner  # loaded on the first text query, kept for the next
        if aligner is None:
            from vsearch.index.manifest import heads_path

            path = heads_path(self.index_dir, "align")
            if not path.is_file():
                return None
            from vsearch.index.aligner import load_aligner

            aligner = self._aligner = load_aligner(self.index_dir, path)
        return aligner.map_texts(self.text_embedder.encode_texts([text]))[0]

    def search_like(self, product_id: str, k: int = 10, where: Filter | None = None,
                    title_weight: float = LIKE_TITLE_WEIGHT) -> list[Hit]:
        """Products similar to an indexed one, excluding itself: its photos as the query, fused with its title
        (`title_weight`, 0 = photos only) when the index holds title vectors."""
        if not 0.0 <= title_weight <= 1.0:
            raise BadQueryError(f"title weight must be in 0..1, got {title_weight}")
        vectors = self.store.product_vectors(product_id, "image")
        if vectors.size == 0:
            from vsearch.core.errors import UnknownProductError

            raise UnknownProductError(f"product '{product_id}' is not in index {self.index_dir}")
        query = combine_queries(vectors)
        titles = self.store.product_vectors(product_id, "title") if self.manifest.text_model else np.zeros((0, 0))
        if title_weight == 0.0 or titles.size == 0:
            return self.search_vector(query, k, exclude={product_id}, where=where)
        return self._search_fused(query, combine_queries(titles), k, product_id, where, title_weight)

    def _search_fused(self, image_query: np.ndarray, title_query: np.ndarray, k: int, product_id: str,
                      where: Filter | None, weight: float) -> list[Hit]:
        """Top-`k` by fused photo + title cosine over the union of both indexes' top candidates, each candidate
        scored exactly on both sides from its stored vectors."""
        queries = {"image": image_query, "title": title_query}
        depth = max(4 * k, 100)
        found = {kind: dict(self._best_products(q, depth, kind, {product_id}, where)) for kind, q in queries.items()}
        candidates = set(found["image"]) | set(found["title"])
        for kind, q in queries.items():
            for pid in candidates - set(found[kind]):
                vecs = self.store.product_vectors(pid, kind)
                if vecs.size:
                    found[kind][pid] = float((vecs @ q).max())
        return self._hits(sorted(fuse_scores(found["image"], found["title"], weight).items(),
                                 key=lambda item: -item[1])[:k])

    def search_vector(self, query: np.ndarray, k: int = 10, kind: str = "image",
                      exclude: set[str] | None = None, where: Filter | None = None) -> list[Hit]:
        """Top-`k` distinct products for one unit vector; each product scored by its best vector.

        `where` (default: the Searcher's filter) keeps only products whose metadata passes.
        """
        return self._hits(self._best_products(query, k, kind, exclude, where))

    def _best_products(self, query: np.ndarray, k: int, kind: str = "image", exclude: set[str] | None = None,
                       where: Filter | None = None) -> list[tuple[str, float]]:
        """Top-`k` (product, best-vector score) pairs, best first; no metadata is read."""
        if k < 1:
            raise BadQueryError(f"k must be at least 1, got {k}")
        where = where if where is not None else self.filter
        index = self.faiss_index(kind)
        exclude = exclude or set()
        if where is None:
            best = self._search_rows(index, query, k, exclude, None, index.ntotal)
        else:
            allowed = self.allowed_rows(where, kind)
            best = self._search_filtered(index, query, k, exclude, allowed, kind) if len(allowed) else {}
        return sorted(best.items(), key=lambda item: -item[1])[:k]

    def _hits(self, top: list[tuple[str, float]]) -> list[Hit]:
        """Ranked hits with each product's metadata, read in one transaction."""
        metas = self.store.get_products([pid for pid, _ in top])
        return [Hit(rank, pid, min(1.0, max(-1.0, score)), meta or {})  # fp16 vectors can overshoot 1.0
                for rank, ((pid, score), meta) in enumerate(zip(top, metas), 1)]

    def _search_rows(self, index: faiss.Index, query: np.ndarray, k: int, exclude: set[str], params: Any,
                     limit: int) -> dict[str, float]:
        """Best score per product, fetching more neighbours until `k` products (or `limit` rows) are seen."""
        from vsearch.index.faiss_index import search

        fetch = min(limit, max(4 * k, 16))
        while True:
            scores, rows = search(index, query[None, :], fetch, params=params)
            best: dict[str, float] = {}
            for score, row, pid in zip(scores[0], rows[0], self.store.row_products(rows[0])):
                if row >= 0 and pid is not None and pid not in exclude and pid not in best:
                    best[pid] = float(score)
            if len(best) >= k or fetch >= limit:
                return best
            fetch = min(limit, fetch * 4)

    def _search_filtered(self, index: faiss.Index, query: np.ndarray, k: int, exclude: set[str],
                         allowed: np.ndarray, kind: str) -> dict[str, float]:
        import faiss

        from vsearch.index.faiss_index import is_gpu_index
        from vsearch.index.tuning import inner_index, search_parameters

        exact = isinstance(inner_index(index), faiss.IndexFlat) and not is_gpu_index(index)
        if exact or (len(allowed) > self.EXACT_SUBSET and not is_gpu_index(index)):
            params = search_parameters(index, {}, faiss.IDSelectorBatch(allowed))
            best = self._search_rows(index, query, k, exclude, params, len(allowed))
            if exact or len(best) >= k:
                return best
        return self._exact_subset(query, k, exclude, allowed)

    def _exact_subset(self, query: np.ndarray, k: int, exclude: set[str], allowed: np.ndarray) -> dict[str, float]:
        """Brute force over the allowed rows' stored vectors: exact whatever the index structure."""
        scores = self.store.get_vectors(allowed) @ np.asarray(query, np.float32)
        order = np.argsort(-scores, kind="stable")
        best: dict[str, float] = {}
        for start in range(0, len(order), max(64, 4 * k)):  # look up products only as far as needed
            chunk = order[start:start + max(64, 4 * k)]
            for pos, pid in zip(chunk, self.store.row_products(allowed[chunk])):
                if pid is not None and pid not in exclude and pid not in best:
                    best[pid] = float(scores[pos])
                    if len(best) >= k:
                        return best
        return best
