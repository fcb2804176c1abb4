"""Pairs with match scores -> groups, never putting two offers of one seller (or a never-merge pair) together.

Two methods, chosen by measurement (eval/group/README.md): greedy merging by descending score with average
linkage between the two groups, and label propagation over the thresholded graph followed by seller repair.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Groups:
    """Union-find whose groups carry their sellers and members (for constraint checks)."""

    def __init__(self, sellers: list[str]) -> None:
        n = len(sellers)
        self.parent = list(range(n))
        self.sellers: list[set[str]] = [{s} if s else set() for s in sellers]
        self.members: list[list[int]] = [[k] for k in range(n)]

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> int:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.sellers[a] |= self.sellers[b]
        self.members[a] += self.members[b]
        self.sellers[b], self.members[b] = set(), []
        return a


def _blocked(forbid: dict[int, set[int]], groups: _Groups, a: int, b: int) -> bool:
    small, big = (a, b) if len(groups.members[a]) <= len(groups.members[b]) else (b, a)
    big_set = None
    for m in groups.members[small]:
        for other in forbid.get(m, ()):
            if big_set is None:
                big_set = set(groups.members[big])
            if other in big_set:
                return True
    return False


def greedy_merge(n: int, i: np.ndarray, j: np.ndarray, score: np.ndarray, sellers: list[str], threshold: float,
                 linkage: float = 0.0, never: list[tuple[int, int]] | None = None,
                 score_fn: ScoreFn | None = None) -> np.ndarray:
    """Merge offers along pairs by descending score while the constraints allow.

    Args:
        threshold: pairs scoring below it are never followed.
        linkage: a merge also needs the mean score over all pairs between the two groups to reach it (average
            linkage), which stops chains through one strong edge. Pairs that are not candidates are scored by
            `score_fn` on demand (or count as 0 without one).
        never: offer pairs that must not share a group (business rule).

    Returns:
        [n] group number per offer (0..n_groups-1, in order of first member).
    """
    groups = _Groups(sellers)
    forbid: dict[int, set[int]] = {}
    for a, b in never or []:
        forbid.setdefault(a, set()).add(b)
        forbid.setdefault(b, set()).add(a)
    keep = score >= threshold
    order = np.argsort(-score[keep], kind="stable")
    ii, jj = i[keep][order], j[keep][order]
    pair_score: dict[tuple[int, int], float] = {}
    if linkage > 0:
        for a, b, s in zip(i.tolist(), j.tolist(), score.tolist()):
            pair_score[(a, b) if a < b else (b, a)] = s
    for a, b in zip(ii.tolist(), jj.tolist()):
        ra, rb = groups.find(a), groups.find(b)
        if ra == rb or not groups.sellers[ra].isdisjoint(groups.sellers[rb]):  # stops at the first shared seller
            continue
        if forbid and _blocked(forbid, groups, ra, rb):
            continue
        if linkage > 0 and len(groups.members[ra]) * len(groups.members[rb]) > 1:
            cross = [(x, y) if x < y else (y, x) for x in groups.members[ra] for y in groups.members[rb]]
            missing = [p for p in cross if p not in pair_score]
            if missing and score_fn is not None:
                arr = np.asarray(missing)
                pair_score.update(zip(missing, score_fn(arr[:, 0], arr[:, 1]).tolist()))
            total = sum(pair_score.get(p, 0.0) for p in cross)
            if total / (len(groups.members[ra]) * len(groups.members[rb])) < linkage:
                continue
        groups.union(ra, rb)
    return _numbered([groups.find(k) for k in range(n)])


def label_propagation(n: int, i: np.ndarray, j: np.ndarray, score: np.ndarray, sellers: list[str],
                      threshold: float, rounds: int = 20, seed: int = 0) -> np.ndarray:
    """Weighted label propagation over pairs scoring ≥ threshold, then seller repair (see `repair_sellers`)."""
    keep = score >= threshold
    a, b, w = i[keep], j[keep], score[keep]
    nbrs: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for x, y, s in zip(a.tolist(), b.tolist(), w.tolist()):
        nbrs[x].append((y, s))
        nbrs[y].append((x, s))
    label = list(range(n))
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        changed = 0
        for x in rng.permutation(n).tolist():
            if not nbrs[x]:
                continue
            votes: dict[int, float] = {}
            for y, s in nbrs[x]:
                votes[label[y]] = votes.get(label[y], 0.0) + s
            best = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            if best != label[x]:
                label[x] = best
                changed += 1
        if not changed:
            break
    return repair_sellers(np.asarray(label), i, j, score, sellers)


def repair_sellers(label: np.ndarray, i: np.ndarray, j: np.ndarray, score: np.ndarray,
                   sellers: list[str]) -> np.ndarray:
    """Split groups holding two offers of one seller: each offer of a repeated seller beyond the one best tied
    to the group starts its own group."""
    n = len(label)
    strength = np.zeros(n)
    same = label[i] == label[j]
    np.add.at(strength, i[same], score[same])
    np.add.at(strength, j[same], score[same])
    out = label.copy()
    nxt = int(label.max()) + 1 if n else 0
    seen: dict[tuple[int, str], int] = {}
    for x in np.argsort(-strength, kind="stable").tolist():
        if not sellers[x]:
            continue
        key = (int(label[x]), sellers[x])
        if key in seen:
            out[x] = nxt
            nxt += 1
        else:
            seen[key] = x
    return _numbered(out.tolist())


def _numbered(roots: list[int]) -> np.ndarray:
    mapping: dict[int, int] = {}
    return np.asarray([mapping.setdefault(r, len(mapping)) for r in roots], dtype=np.int64)
