"""Candidate pairs: sparse kNN over character n-gram TF-IDF of titles, within each category.

Sparse products, not FAISS over a reduced vector: on PriceRunner, k=20 exact sparse kNN holds ~0.92 of
the true pairs where 128-d SVD + FAISS held 0.54 (the n-grams of a model code are what match, and an SVD
blurs them). Model codes and quantities get a block of their own, weighted `code_weight`, so
`kgn34xl35g` counts for more than `fridge`. Neighbours are found through an inverted index over each offer's
rarest features (`inverted.py`), whose cost per offer does not grow with the category; exact all-pairs search
(`block_knn`, quadratic in the category) remains for small categories on request and as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vsearch.core.log import Progress, no_progress
from vsearch.group.features import row_cosine
from vsearch.group.inverted import inverted_knn
from vsearch.group.ngrams import NgramCounts
from vsearch.group.tokens import TitleParts, normalise


def code_tokens(parts: TitleParts) -> list[str]:
    """Model codes and unit quantities as tokens: the words that tell near-identical titles apart."""
    return sorted(parts.codes) + [f"{v}{u}" for u, vs in sorted(parts.quantities.items()) for v in sorted(vs)]


NGRAM_RANGE = (2, 5)
"""Character n-gram lengths of the title block."""


def _identity(tokens: list[str]) -> list[str]:
    return tokens


@dataclass
class TitleVectoriser:
    """Fitted TF-IDF blocks: char n-grams of the title (weight 1) and code tokens (weight `code_weight`)."""

    char: Any
    code: Any
    code_weight: float

    @classmethod
    def fit_transform(cls, titles: list[str], parts: list[TitleParts], code_weight: float = 0.7,
                      ngram_range: tuple[int, int] = NGRAM_RANGE, workers: int = 1) -> tuple[TitleVectoriser, Any, Any]:
        """The fitted vectoriser and `transform` of the same titles, reading each title once."""
        with NgramCounts([normalise(t) for t in titles], ngram_range, workers) as counts:
            return cls.from_counts(counts.result(), parts, code_weight, ngram_range)

    @classmethod
    def from_counts(cls, counts: tuple[Any, np.ndarray], parts: list[TitleParts], code_weight: float = 0.7,
                    ngram_range: tuple[int, int] = NGRAM_RANGE) -> tuple[TitleVectoriser, Any, Any]:
        """`fit_transform` from the titles' character n-gram counts (`ngrams.NgramCounts`): the same floats as a
        `TfidfVectorizer` fitted on the titles."""
        from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

        matrix, names = counts
        idf = TfidfTransformer(sublinear_tf=True).fit(matrix)
        xc = idf.transform(matrix).tocsr()
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True, min_df=1,
                               dtype=np.float32, vocabulary={w: k for k, w in enumerate(names.tolist())})
        char.idf_ = idf.idf_  # public setter: `transform` of new titles then matches a fit on these titles
        code = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32)
        tokens = [code_tokens(p) for p in parts]
        if any(tokens):
            xk = code.fit_transform(tokens).tocsr()
        else:
            xk = code.fit([["_"]]).transform(tokens).tocsr()
        vec = cls(char, code, code_weight)
        return vec, *vec._combine(xc, xk)

    @classmethod
    def blank(cls, parts: list[TitleParts], code_weight: float = 0.7,
              ngram_range: tuple[int, int] = NGRAM_RANGE) -> tuple[TitleVectoriser, Any, Any]:
        """A vectoriser for offers without titles (photos only): one n-gram no title has, so every title's rows
        are zero and no title pair becomes a candidate."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        blank = "\x00\x00"
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True, dtype=np.float32,
                               vocabulary={blank: 0}).fit([blank])
        code = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32).fit([[blank]])
        vec = cls(char, code, code_weight)
        return vec, *vec.transform([""] * len(parts), parts)

    def transform(self, titles: list[str], parts: list[TitleParts]) -> tuple[Any, Any]:
        """(char block, combined L2-normalised [char | w * code] matrix), CSR rows per title."""
        xc = self.char.transform([normalise(t) for t in titles]).tocsr()
        xk = self.code.transform([code_tokens(p) for p in parts]).tocsr()
        return self._combine(xc, xk)

    def _combine(self, xc: Any, xk: Any) -> tuple[Any, Any]:
        import scipy.sparse as sp
        from sklearn.preprocessing import normalize

        xc.sort_indices()  # a fitted vocabulary's n-grams are not in row order; canonical rows merge fast
        xk.sort_indices()
        return xc, normalize(sp.hstack([xc, xk * self.code_weight]).tocsr())


def block_knn(x: Any, k: int, blocks: list[np.ndarray], progress: Progress = no_progress,
              budget: int = 20_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact top-`k` cosine neighbours of every row among the rows of its own block (positive cosines only).

    Args:
        x: [n, d] L2-normalised rows: a CSR matrix (TF-IDF) or a dense array (sentence-model vectors).
        blocks: row positions per block (category); rows are compared only inside their block.
        budget: dense similarity cells computed at a time (memory bound).

    Returns:
        (i, j, sim) arrays with i < j, each unordered pair once, sim the cosine.
    """
    out_i, out_j, out_s = [], [], []
    done, total = 0, sum(len(b) for b in blocks)
    for rows in blocks:
        n = len(rows)
        if n < 2:
            done += n
            continue
        xb = x[rows]
        xt = xb.T.tocsc() if hasattr(xb, "tocsc") else xb.T
        kk = min(k, n - 1)
        step = max(1, budget // n)
        for start in range(0, n, step):
            sim = xb[start:start + step] @ xt
            sim = sim.toarray() if hasattr(sim, "toarray") else sim
            local = np.arange(start, min(start + step, n))
            sim[np.arange(len(local)), local] = -1.0
            top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
            vals = np.take_along_axis(sim, top, axis=1)
            keep = vals > 0
            src = np.repeat(local[:, None], kk, axis=1)[keep]
            dst = top[keep]
            out_i.append(rows[np.minimum(src, dst)])
            out_j.append(rows[np.maximum(src, dst)])
            out_s.append(vals[keep].astype(np.float32))
            done += len(local)
            progress("candidates", done, total)
    return _pairs_once(out_i, out_j, out_s, int(x.shape[0]))


def _pairs_once(out_i: list[np.ndarray], out_j: list[np.ndarray], out_s: list[np.ndarray],
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The concatenated (i < j, sim) pairs of a kNN search, each unordered pair once (found from both ends)."""
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    i, j, s = np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)
    _, first = np.unique(i.astype(np.int64) * (n + 1) + j, return_index=True)
    return i[first], j[first], s[first]


def faiss_knn(vectors: np.ndarray, k: int, blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`k` inner-product neighbours of every dense unit row (image, thumbnail or sentence-model vectors) among
    the rows of its own block, by a FAISS flat index per block (exact; positive similarities only).

    Returns:
        (i, j, sim) arrays with i < j, each unordered pair once.
    """
    import faiss

    out_i, out_j, out_s = [], [], []
    for rows in blocks:
        if len(rows) < 2:
            continue
        xb = np.ascontiguousarray(vectors[rows], dtype=np.float32)
        index = faiss.IndexFlatIP(xb.shape[1])
        index.add(xb)
        kk = min(k + 1, len(rows))
        sim, nbr = index.search(xb, kk)
        src = np.repeat(np.arange(len(rows)), kk)
        dst, val = nbr.ravel(), sim.ravel()
        keep = (dst >= 0) & (dst != src) & (val > 0)
        a, b = rows[src[keep]], rows[dst[keep]]
        out_i.append(np.minimum(a, b))
        out_j.append(np.maximum(a, b))
        out_s.append(val[keep].astype(np.float32))
    return _pairs_once(out_i, out_j, out_s, len(vectors))


def sparse_knn(x: Any, k: int, blocks: list[np.ndarray], budget: int = 4000, exact_max: int = 0,
               progress: Progress = no_progress, workers: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`k` cosine neighbours of every row within its block, through the inverted index over each row's rarest
    features (`inverted_knn`: `budget` postings, pool 4k rescored exactly); blocks of at most `exact_max` rows are
    searched exactly (`block_knn`: quadratic in the block).

    Returns:
        (i, j, sim) arrays with i < j, each unordered pair once, sim the exact cosine.
    """
    small = [b for b in blocks if len(b) <= exact_max]
    large = [b for b in blocks if len(b) > exact_max]
    total = sum(len(b) for b in blocks)
    done = sum(len(b) for b in small)
    a = block_knn(x, k, small, lambda stage, d, t: progress(stage, d, total))
    b = inverted_knn(x, k, large, row_cosine, budget, 4 * k, lambda stage, d, t: progress(stage, done + d, total),
                     workers)
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]])


def category_blocks(categories: list[str], skip: set[str] | frozenset[str] = frozenset()) -> list[np.ndarray]:
    """Row positions per category (one block when none is known); skipped categories get no block."""
    by: dict[str, list[int]] = {}
    for pos, cat in enumerate(categories):
        if cat not in skip:
            by.setdefault(cat, []).append(pos)
    return [np.asarray(v, dtype=np.int64) for _, v in sorted(by.items())]


def query_knn(x: Any, queries: np.ndarray, blocks: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """Exact top-`k` neighbours of the `queries` rows (of a CSR matrix or a dense array of unit rows) among all rows
    of their block (themselves excluded).

    Returns:
        (query row, neighbour row, cosine) arrays; a pair of two queries may appear twice.
    """
    qset = set(queries.tolist())
    out_i, out_j, out_s = [], [], []
    for rows in blocks:
        q = np.asarray([r for r in rows.tolist() if r in qset], dtype=np.int64)
        if len(q) == 0 or len(rows) < 2:
            continue
        kk = min(k, len(rows) - 1)
        sim = x[q] @ x[rows].T
        sim = sim.toarray() if hasattr(sim, "toarray") else np.array(sim)  # CSR rows or dense unit rows
        where = {r: c for c, r in enumerate(rows.tolist())}
        sim[np.arange(len(q)), [where[r] for r in q.tolist()]] = -1.0
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        vals = np.take_along_axis(sim, top, axis=1)
        keep = vals > 0
        out_i.append(np.repeat(q[:, None], kk, axis=1)[keep])
        out_j.append(rows[top[keep]])
        out_s.append(vals[keep].astype(np.float32))
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)
