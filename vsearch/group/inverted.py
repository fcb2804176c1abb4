"""Candidate search that grows with n, not n²: an inverted index over each offer's rarest features.

Exact kNN within a category (`candidates.block_knn`) multiplies every row by every other: 100k offers per category
at 1M offers. Here each row is looked up only through its rarest n-grams and code tokens, as many as fit a budget
of postings (the document frequencies of the kept features add up to at most `budget`), so a row costs at most
`budget` partial dot products however large its category. The `pool` rows of largest partial score are then
scored by the exact full cosine and each row keeps its top `k` (over the pairs found from either side). Rows
that match share a model code or a rare word, which are exactly the features kept; the neighbours lost are weak
ones that share only common n-grams ("fridge", "stainless"), measured against `block_knn` in the tests and in
eval/group/README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vsearch.core.log import Progress, no_progress
from vsearch.group.workers import parallel_map

Rescore = Callable[[Any, np.ndarray, np.ndarray], np.ndarray]
_BINS_PER_OCTAVE = 4
_LEVELS = 1024


def rare_features(x: Any, budget: int) -> Any:
    """Each row's rarest features (df > 1) whose document frequencies sum to at most `budget` postings.

    Features are taken in quarter-octave bins of document frequency, rarest first; a row always keeps its
    rarest non-empty bin, so a title made only of common n-grams still finds its neighbours (at a higher cost).

    Args:
        x: [n, d] CSR rows of one block.

    Returns:
        [n, d] CSR: the kept entries of `x` (same values).
    """
    import scipy.sparse as sp

    n = x.shape[0]
    df = np.bincount(x.indices, minlength=x.shape[1])
    dfe = df[x.indices]
    row = np.repeat(np.arange(n), np.diff(x.indptr))
    useful = dfe > 1
    b = np.floor(_BINS_PER_OCTAVE * np.log2(np.maximum(dfe, 1))).astype(np.int64)
    nb = int(b.max()) + 1 if len(b) else 1
    cost = np.bincount(row[useful] * nb + b[useful], weights=dfe[useful] - 1, minlength=n * nb).reshape(n, nb)
    within = np.cumsum(cost, axis=1) <= budget
    last = within.sum(axis=1) - 1  # bins are rarest first and costs only grow, so `within` is a prefix
    first = np.argmax(cost > 0, axis=1)
    keep = useful & (b <= np.maximum(last, first)[row])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row[keep], minlength=n))])
    return sp.csr_matrix((x.data[keep], x.indices[keep], indptr), shape=x.shape)


def top_per_row(indptr: np.ndarray, values: np.ndarray, m: int, rows_at_once: int = 4096) -> np.ndarray:
    """Mask of the `m` largest `values` of each CSR row (values in [0, 1]; equal values cut in storage order).

    Near linear time: a per-row histogram of the values on `_LEVELS` levels finds each row's cut level, and only
    the entries on that level are sorted; rows go `rows_at_once` at a time (the histogram stays in cache).
    """
    keep = np.zeros(len(values), dtype=bool)
    for r0 in range(0, len(indptr) - 1, rows_at_once):
        ptr = indptr[r0:r0 + rows_at_once + 1]
        a, b = int(ptr[0]), int(ptr[-1])
        keep[a:b] = _top_per_row(ptr - a, values[a:b], m)
    return keep


def _top_per_row(indptr: np.ndarray, values: np.ndarray, m: int) -> np.ndarray:
    n = len(indptr) - 1
    row = np.repeat(np.arange(n), np.diff(indptr))
    level = np.clip((values * (_LEVELS - 1)).astype(np.int64), 0, _LEVELS - 1)
    hist = np.bincount(row * _LEVELS + level, minlength=n * _LEVELS).reshape(n, _LEVELS)
    at_least = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]  # at_least[r, v]: entries of row r on level >= v
    cut = (at_least >= m).sum(axis=1) - 1  # -1: the row has at most m entries, keep all
    above = np.zeros(n, dtype=np.int64)
    inner = (cut >= 0) & (cut + 1 < _LEVELS)
    above[inner] = at_least[inner, cut[inner] + 1]
    keep = level > cut[row]
    on_cut = np.flatnonzero(level == cut[row])
    order = on_cut[np.lexsort((-values[on_cut], row[on_cut]))]
    r = row[order]
    rank = np.arange(len(order)) - np.searchsorted(r, r, side="left")  # 0-based within the row's cut level
    keep[order[rank < (m - above)[r]]] = True
    return keep


def _pool(q: Any, xt: Any, start: int, stop: int, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, neighbour) of the `pool` best partial scores of rows start:stop (block positions, self excluded)."""
    s = (q[start:stop] @ xt).tocsr()
    row = np.repeat(np.arange(start, stop), np.diff(s.indptr))
    s.data[s.indices == row] = 0.0  # self: below every real partial score
    keep = top_per_row(s.indptr, s.data, pool + 1) & (s.indices != row)
    return row[keep], s.indices[keep]


def inverted_knn(x: Any, k: int, blocks: list[np.ndarray], rescore: Rescore, budget: int = 4000, pool: int = 40,
                 progress: Progress = no_progress, workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`k` neighbours of every row within its block, found through the rows' rarest features (see module).

    Args:
        x: [n, d] L2-normalised CSR rows.
        blocks: row positions per block (category).
        rescore: (x, i, j) -> exact cosine of rows i[p], j[p].
        budget: postings a row may read (sum of the document frequencies of its kept features).
        pool: rows per row scored exactly (the best partial scores).

    Returns:
        (i, j, sim) arrays with i < j, each unordered pair once, sim the exact cosine (> 0).
    """
    out_i, out_j, out_s = [], [], []
    done, total = 0, sum(len(b) for b in blocks)
    for rows in blocks:
        if len(rows) >= 2:
            i, j, sim = _block_knn(x[rows], k, rescore, budget, pool, workers)
            out_i.append(rows[i])
            out_j.append(rows[j])
            out_s.append(sim)
        done += len(rows)
        progress("candidates", done, total)
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def _block_knn(xb: Any, k: int, rescore: Rescore, budget: int, pool: int, workers: int,
               chunk: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`inverted_knn` within one block: (i, j, sim) in block positions, i < j."""
    import scipy.sparse as sp

    n = xb.shape[0]
    q, xt = rare_features(xb, budget), xb.T.tocsr()
    found = parallel_map(lambda s: _pool(q, xt, s, min(s + chunk, n), pool), range(0, n, chunk), workers)
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    pairs = sp.csr_matrix((np.ones(len(a), np.float32), (np.minimum(a, b), np.maximum(a, b))), shape=(n, n))
    pairs.sum_duplicates()  # found from both sides: scored once
    lo = np.repeat(np.arange(n), np.diff(pairs.indptr))
    hi = pairs.indices
    step = max(1, -(-len(lo) // workers))
    sims = parallel_map(lambda s: rescore(xb, lo[s:s + step], hi[s:s + step]), range(0, len(lo), step), workers)
    sim = np.concatenate(sims) if sims else np.zeros(0, np.float32)
    both = sp.csr_matrix((np.concatenate([sim, sim]), (np.concatenate([lo, hi]), np.concatenate([hi, lo]))),
                         shape=(n, n))
    src = np.repeat(np.arange(n), np.diff(both.indptr))
    keep = top_per_row(both.indptr, both.data, k) & (both.data > 0)
    i, j = src[keep], both.indices[keep]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    kept = sp.csr_matrix((both.data[keep], (lo, hi)), shape=(n, n))  # a pair kept by both its rows: twice
    times = sp.csr_matrix((np.ones(len(lo), np.float32), (lo, hi)), shape=(n, n))
    kept.sum_duplicates()
    times.sum_duplicates()
    return (np.repeat(np.arange(n), np.diff(kept.indptr)), kept.indices.astype(np.int64),
            (kept.data / times.data).astype(np.float32))
