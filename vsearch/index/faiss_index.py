"""FAISS index over the store's vectors: build, save atomically, load (on GPU when there is one), search.

Vectors are unit length and searched by inner product, so scores are cosine similarities. The
FAISS ids are the store's rows (`IndexIDMap2`), so results join back to products through lmdb.
"""

from __future__ import annotations

import logging
from pathlib import Path

import faiss
import numpy as np

from vsearch.core.atomic import atomic_path
from vsearch.core.errors import IndexDamagedError, IndexMismatchError, IndexMissingError

_logger = logging.getLogger(__name__)


def gpu_count() -> int:
    """GPUs FAISS can use here (0 with a CPU-only wheel or no device)."""
    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def build_index(vectors: np.ndarray, rows: np.ndarray, factory: str = "Flat") -> faiss.Index:
    """An inner-product index over `[n, dim]` float32 `vectors` with ids `rows` `[n]`.

    Args:
        vectors: unit-length embeddings.
        rows: int64 ids returned by search.
        factory: FAISS index factory string for the inner index ("Flat", "HNSW32", "IVF1024,PQ32"...).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = int(vectors.shape[1])
    inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if not inner.is_trained:
        inner.train(vectors)
    index = faiss.IndexIDMap2(inner)
    if len(vectors):
        index.add_with_ids(vectors, np.ascontiguousarray(rows, dtype=np.int64))
    return index


def save_index(index: faiss.Index, path: str | Path) -> None:
    """Write `index` to `path` atomically (temp file in the same folder, then rename)."""
    if _is_gpu_index(index):
        index = faiss.index_gpu_to_cpu(index)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))


def _is_gpu_index(index: faiss.Index) -> bool:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    return "Gpu" in type(inner).__name__ or "Gpu" in type(index).__name__


def load_index(path: str | Path, use_gpu: bool | None = None) -> faiss.Index:
    """Read an index; move it to the GPUs when FAISS has any (`use_gpu=None`) or when asked.

    Raises:
        IndexMissingError: no file at `path`.
        IndexDamagedError: a file FAISS cannot read (truncated, empty, not an index).
    """
    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no index at {path}: build one with `vsearch index build CATALOG`")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:  # FAISS reports a torn or foreign file as a multi-line C++ error
        reason = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else "unreadable"
        raise IndexDamagedError(f"{path} is damaged ({path.stat().st_size} bytes: {reason}); rebuild it from the "
                                "store with `vsearch index repair`") from None
    return to_gpu(index, use_gpu, path.name)


def to_gpu(index: faiss.Index, use_gpu: bool | None = None, name: str = "index") -> faiss.Index:
    """`index` moved to all GPUs when FAISS has any (`use_gpu=None`) or when asked; else unchanged.

    The decision is made at run time from `faiss.get_num_gpus()`, so one build serves both kinds of host.
    """
    if use_gpu is None:
        use_gpu = gpu_count() > 0
    if use_gpu and gpu_count() > 0:
        try:
            index = faiss.index_cpu_to_all_gpus(index)
            _logger.info("%s on %d GPU(s)", name, gpu_count())
        except RuntimeError as exc:  # an index type without a GPU implementation stays on the CPU
            _logger.warning("%s stays on CPU: %s", name, exc)
    return index


def is_gpu_index(index: faiss.Index) -> bool:
    """True for an index that lives on a GPU (filters then use the exact CPU path)."""
    return _is_gpu_index(index)


def search(index: faiss.Index, queries: np.ndarray, k: int, params: faiss.SearchParameters | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Top-`k` (scores `[q, k]`, rows `[q, k]`); rows are -1 past the end of the index.

    Raises:
        IndexMismatchError: the queries' dimension differs from the index's.
    """
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    if queries.shape[1] != index.d:
        raise IndexMismatchError(f"query vectors have dim {queries.shape[1]}, the index has dim {index.d}")
    k = max(1, min(int(k), max(1, index.ntotal)))
    scores, rows = index.search(queries, k) if params is None else index.search(queries, k, params=params)
    return scores, rows
