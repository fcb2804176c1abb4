"""Character n-gram counts of many titles, on worker processes while the caller parses the same titles.

scikit-learn's `char_wb` analysis is pure Python (about a minute per million titles per core), so threads do not
help; each process counts its share of the titles with its own vocabulary and the shares are merged on the sorted
union of the vocabularies: the same matrix, column order and floats as one `CountVectorizer` over all titles.
"""

from __future__ import annotations

from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np

MIN_PER_PROCESS = 50_000
"""Titles a worker process must have to be worth starting."""


def count_ngrams(titles: list[str], ngram_range: tuple[int, int]) -> tuple[Any, np.ndarray]:
    """([n, v] float32 CSR counts, [v] sorted n-grams) of `char_wb` n-grams of already normalised titles."""
    from sklearn.feature_extraction.text import CountVectorizer

    cv = CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, dtype=np.float32)
    counts = cv.fit_transform(titles).tocsr()
    counts.sort_indices()
    return counts, np.asarray(cv.get_feature_names_out(), dtype=str)


def merge_counts(shares: list[tuple[Any, np.ndarray]]) -> tuple[Any, np.ndarray]:
    """Stack count matrices of consecutive title shares onto the sorted union of their n-grams."""
    import scipy.sparse as sp

    names, inverse = np.unique(np.concatenate([s[1] for s in shares]), return_inverse=True)
    blocks, offset = [], 0
    for counts, own in shares:
        # own n-grams are sorted and the union is sorted: the mapping keeps each row's columns in order
        cols = inverse[offset:offset + len(own)][counts.indices].astype(counts.indices.dtype)
        blocks.append(sp.csr_matrix((counts.data, cols, counts.indptr), shape=(counts.shape[0], len(names))))
        offset += len(own)
    return sp.vstack(blocks, format="csr"), names


class NgramCounts:
    """`count_ngrams` of the titles, started at construction: on `workers` processes when there are at least
    `MIN_PER_PROCESS` titles per process, else in `result()`. A context manager (stops the processes).

    Processes are forked where the platform can (they run only the counting, and a forked child needs no import
    of the caller's `__main__`, which a spawned child would re-run in an unguarded script); spawned elsewhere.
    """

    def __init__(self, titles: list[str], ngram_range: tuple[int, int], workers: int = 1) -> None:
        self.titles, self.ngram_range = titles, ngram_range
        shares = max(1, min(workers, len(titles) // MIN_PER_PROCESS))
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[tuple[Any, np.ndarray]]] = []
        if shares > 1:
            import multiprocessing

            import sklearn.feature_extraction.text  # noqa: F401  (imported once here, not in every child)

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(shares, mp_context=multiprocessing.get_context(method))
            bounds = np.linspace(0, len(titles), shares + 1).astype(int)
            self._futures = [self._pool.submit(count_ngrams, titles[a:b], ngram_range)
                             for a, b in zip(bounds[:-1], bounds[1:])]

    def result(self) -> tuple[Any, np.ndarray]:
        """([n, v] counts, [v] sorted n-grams)."""
        if not self._futures:
            return count_ngrams(self.titles, self.ngram_range)
        merged = merge_counts([f.result() for f in self._futures])
        self.close()
        return merged

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> NgramCounts:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
