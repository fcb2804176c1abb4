"""Group quality against a brute-force loop over member pairs; large groups measured on a sample."""

from __future__ import annotations

from itertools import combinations

import numpy as np

from vsearch.group.build import Pairs
from vsearch.group.quality import group_quality, member_pairs


def _oracle(labels: np.ndarray, pairs: Pairs, edge_threshold: float, score_fn) -> dict:  # noqa: ANN001
    known = {(a, b): s for a, b, s in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.score.tolist())}
    out = {}
    for g in np.unique(labels).tolist():
        mem = np.flatnonzero(labels == g).tolist()
        if len(mem) < 2:
            out[g] = {"size": 1, "score": 1.0, "edge_proportion": 1.0, "weakest": 1.0}
            continue
        vals, edges = [], 0
        for a, b in combinations(mem, 2):
            if (a, b) in known:
                vals.append(known[(a, b)])
                edges += known[(a, b)] >= edge_threshold
            else:
                vals.append(float(score_fn(np.asarray([a]), np.asarray([b]))[0]))
        out[g] = {"size": len(mem), "score": float(np.mean(vals)), "edge_proportion": edges / len(vals),
                  "weakest": float(min(vals))}
    return out


def _case(n: int, n_groups: int, big: int = 0, seed: int = 0) -> tuple[np.ndarray, Pairs]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_groups, n)
    labels[:big] = n_groups
    labels = np.unique(labels, return_inverse=True)[1]
    i, j = rng.integers(0, n, 8 * n), rng.integers(0, n, 8 * n)
    key = np.unique(np.minimum(i, j)[i != j] * n + np.maximum(i, j)[i != j])
    score = rng.random(len(key)).astype(np.float32)
    return labels, Pairs(key // n, key % n, score, score)


def _fn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a * 7 + b * 13) % 100) / 100.0


def test_member_pairs_are_all_pairs_of_each_group() -> None:
    labels = np.asarray([2, 0, 2, 1, 0, 2, 3])
    a, b, g = member_pairs(labels)
    assert list(zip(a.tolist(), b.tolist(), g.tolist())) == [(1, 4, 0), (0, 2, 2), (0, 5, 2), (2, 5, 2)]


def test_quality_equals_the_loop_over_member_pairs() -> None:
    labels, pairs = _case(400, 60)
    got = group_quality(labels, pairs, 0.5, _fn)
    want = _oracle(labels, pairs, 0.5, _fn)
    assert got.keys() == want.keys()
    for g in want:
        assert got[g]["size"] == want[g]["size"]
        for k in ("score", "edge_proportion", "weakest"):
            assert abs(got[g][k] - want[g][k]) < 1e-9, (g, k)


def test_large_groups_are_measured_on_a_sample() -> None:
    labels, pairs = _case(2000, 40, big=300, seed=1)  # one group of 300+ offers: 45k+ member pairs
    exact = group_quality(labels, pairs, 0.5, _fn, max_pairs=10**9)
    sampled = group_quality(labels, pairs, 0.5, _fn, max_pairs=2000)
    for g, q in exact.items():
        if q["size"] * (q["size"] - 1) // 2 <= 2000:
            assert sampled[g] == q
        else:
            assert sampled[g]["size"] == q["size"] and sampled[g]["edge_proportion"] == q["edge_proportion"]
            assert abs(sampled[g]["score"] - q["score"]) < 0.02
            assert sampled[g]["weakest"] >= q["weakest"]
