"""Quality of a group: how well its members hold together.

`edge_proportion`: the share of member pairs that are candidate edges scoring ≥ the edge threshold (the
reference system's measure). `score` (reported in groups.csv): the mean match score over *all* member pairs,
unscored pairs scored on demand, which also sees how weak an edge is, not only whether it exists.
A group of one offer scores 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def group_quality(labels: np.ndarray, pairs: Any, edge_threshold: float,
                  score_fn: ScoreFn) -> dict[int, dict[str, float]]:
    """label -> {size, score, edge_proportion, weakest} (weakest: the lowest member-pair score)."""
    out: dict[int, dict[str, float]] = {}
    members: dict[int, list[int]] = {}
    for pos, g in enumerate(labels.tolist()):
        members.setdefault(g, []).append(pos)
    known: dict[tuple[int, int], float] = {}
    inside = labels[pairs.i] == labels[pairs.j]
    for a, b, s in zip(pairs.i[inside].tolist(), pairs.j[inside].tolist(), pairs.score[inside].tolist()):
        known[(a, b)] = s
    todo_a, todo_b = [], []
    for mem in members.values():
        if len(mem) < 2:
            continue
        ms = sorted(mem)
        for x in range(len(ms)):
            for y in range(x + 1, len(ms)):
                if (ms[x], ms[y]) not in known:
                    todo_a.append(ms[x])
                    todo_b.append(ms[y])
    if todo_a:
        extra = score_fn(np.asarray(todo_a), np.asarray(todo_b))
        for a, b, s in zip(todo_a, todo_b, extra.tolist()):
            known[(a, b)] = -1.0 - s  # scored on demand: not a candidate edge (s recovered as -1 - v)
    for g, mem in members.items():
        n = len(mem)
        if n < 2:
            out[g] = {"size": 1, "score": 1.0, "edge_proportion": 1.0, "weakest": 1.0}
            continue
        ms = sorted(mem)
        vals, edges = [], 0
        for x in range(n):
            for y in range(x + 1, n):
                v = known[(ms[x], ms[y])]
                s = v if v >= 0 else -1.0 - v
                vals.append(s)
                edges += int(v >= 0 and v >= edge_threshold)
        arr = np.asarray(vals)
        out[g] = {"size": n, "score": float(arr.mean()), "edge_proportion": edges / len(vals),
                  "weakest": float(arr.min())}
    return out
