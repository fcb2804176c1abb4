"""Quality of a group: how well its members hold together.

`edge_proportion`: the share of member pairs that are candidate edges scoring ≥ the edge threshold (the
reference system's measure). `score` (reported in groups.csv): the mean match score over *all* member pairs,
unscored pairs scored on demand, which also sees how weak an edge is, not only whether it exists.
A group of one offer scores 1. A group of more than `max_pairs` member pairs (over 45 offers; PriceRunner's
largest true group has 27) is measured on its candidate edges and a seeded random sample of `max_pairs` other
pairs: `score` is then an unbiased estimate (±0.01) and `weakest` the weakest pair seen, so the cost stays
linear in the offers (at 1M synthetic offers, chains of near products reach thousands of offers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def member_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of offers sharing a label: (a, b, label), a < b, groups in label order, pairs in position order.

    Returns:
        Three [n_pairs] arrays; sum over groups of size·(size-1)/2 pairs.
    """
    order = np.argsort(labels, kind="stable")  # members of a group together, by position
    sizes = np.bincount(labels)
    start = np.cumsum(sizes) - sizes
    local = np.arange(len(order)) - start[labels[order]]  # index of each member within its group
    later = sizes[labels[order]] - 1 - local  # pairs (x, y > x) of each member
    x = np.repeat(np.arange(len(order)), later)
    y = x + 1 + (np.arange(len(x)) - np.repeat(np.cumsum(later) - later, later))
    return order[x], order[y], labels[order[x]]


def group_quality(labels: np.ndarray, pairs: Any, edge_threshold: float, score_fn: ScoreFn,
                  max_pairs: int = 1_000) -> dict[int, dict[str, float]]:
    """label -> {size, score, edge_proportion, weakest} (weakest: the lowest member-pair score)."""
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if n else 0)
    n_pairs = sizes * (sizes - 1) // 2
    small = n_pairs[labels] <= max_pairs
    keep = np.flatnonzero(small)
    a, b, g = member_pairs(labels[keep])
    a, b = keep[a], keep[b]
    big = np.flatnonzero(n_pairs > max_pairs)
    if len(big):
        a2, b2, g2 = _sampled_pairs(labels, pairs, big, max_pairs)
        a, b, g = np.concatenate([a, a2]), np.concatenate([b, b2]), np.concatenate([g, g2])
    known, score = _scores(a, b, n, pairs, score_fn)
    counted = np.bincount(g, minlength=len(sizes))
    total = np.bincount(g, weights=score, minlength=len(sizes))
    edges = np.bincount(g, weights=known & (score >= edge_threshold), minlength=len(sizes))
    weakest = np.full(len(sizes), np.inf)
    np.minimum.at(weakest, g, score)
    if len(big):  # known edges all counted; the sampled other pairs stand for all the others
        k = np.bincount(g[known], minlength=len(sizes))[big]
        k_sum = np.bincount(g[known], weights=score[known], minlength=len(sizes))[big]
        other_mean = (total[big] - k_sum) / np.maximum(counted[big] - k, 1)
        total[big] = k_sum + other_mean * (n_pairs[big] - k)
    out: dict[int, dict[str, float]] = {}
    for label in np.flatnonzero(sizes).tolist():
        if sizes[label] < 2:
            out[label] = {"size": 1, "score": 1.0, "edge_proportion": 1.0, "weakest": 1.0}
        else:
            out[label] = {"size": int(sizes[label]), "score": float(total[label] / n_pairs[label]),
                          "edge_proportion": float(edges[label] / n_pairs[label]), "weakest": float(weakest[label])}
    return out


def _scores(a: np.ndarray, b: np.ndarray, n: int, pairs: Any, score_fn: ScoreFn) -> tuple[np.ndarray, np.ndarray]:
    """(is a candidate edge, score) of pairs a < b: the candidate's score (its last, if listed twice), else on
    demand through `score_fn` (one call, pairs in the given order)."""
    key = a.astype(np.int64) * n + b
    known_key = np.minimum(pairs.i, pairs.j).astype(np.int64) * n + np.maximum(pairs.i, pairs.j)
    order = np.argsort(known_key, kind="stable")
    known_key, known_score = known_key[order], np.asarray(pairs.score, dtype=np.float64)[order]
    score = np.zeros(len(key), dtype=np.float64)
    known = np.zeros(len(key), dtype=bool)
    if len(known_key):
        at = np.maximum(np.searchsorted(known_key, key, side="right") - 1, 0)
        known = known_key[at] == key
        score[known] = known_score[at[known]]
    if (~known).any():
        score[~known] = np.asarray(score_fn(a[~known], b[~known]), dtype=np.float64)
    return known, score


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (one sort: numpy's hashing `unique` was the slow part here)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys


def _sampled_pairs(labels: np.ndarray, pairs: Any, big: np.ndarray,
                   max_pairs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs measured in the large groups `big`: their candidate edges and `max_pairs` random member pairs each
    (seeded; duplicates and candidate edges among them dropped)."""
    n = len(labels)
    inside = (labels[pairs.i] == labels[pairs.j]) & np.isin(labels[pairs.i], big)
    edge_keys = _distinct(np.minimum(pairs.i, pairs.j)[inside].astype(np.int64) * n
                          + np.maximum(pairs.i, pairs.j)[inside])
    sizes = np.bincount(labels)
    order = np.argsort(labels, kind="stable")
    start = np.cumsum(sizes) - sizes
    group = np.repeat(big, max_pairs)
    rng = np.random.default_rng(0)
    x = order[start[group] + (rng.random(len(group)) * sizes[group]).astype(np.int64)]
    y = order[start[group] + (rng.random(len(group)) * sizes[group]).astype(np.int64)]
    lo, hi = np.minimum(x, y)[x != y], np.maximum(x, y)[x != y]
    key = _distinct(lo.astype(np.int64) * n + hi)
    at = np.minimum(np.searchsorted(edge_keys, key), max(len(edge_keys) - 1, 0))
    fresh = edge_keys[at] != key if len(edge_keys) else np.ones(len(key), dtype=bool)
    key = np.concatenate([edge_keys, key[fresh]])
    a, b = key // n, key % n
    return a, b, labels[a]
