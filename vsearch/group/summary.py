"""Summary of a grouping (counts, sizes, quality) and the review views: weakest groups and what holds them."""

from __future__ import annotations

from typing import Any

import numpy as np

from vsearch.group.build import Grouping
from vsearch.group.errors import GroupError


def summarise(g: Grouping) -> dict[str, Any]:
    sizes = np.bincount(g.labels)
    multi = [q for q in g.quality.values() if q["size"] > 1]
    return {"offers": len(g.offers), "groups": int(len(sizes)), "multi_offer_groups": len(multi),
            "offers_in_multi_offer_groups": int(sizes[sizes > 1].sum()), "largest_group": int(sizes.max()),
            "candidate_pairs": int(len(g.pairs.i)), "matcher": g.matcher.kind,
            "threshold": g.config.merge_threshold(g.matcher), "method": g.config.method,
            "mean_score": float(np.mean([q["score"] for q in multi])) if multi else 1.0,
            "mean_edge_proportion": float(np.mean([q["edge_proportion"] for q in multi])) if multi else 1.0}


def _members(g: Grouping) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for pos, lab in enumerate(g.labels.tolist()):
        out.setdefault(lab, []).append(pos)
    return out


def _label_of(g: Grouping, name: str) -> int:
    names = g.group_names()
    try:
        return int(g.labels[names.index(name)])
    except ValueError:
        raise GroupError(f"no group {name!r} (groups are named like {names[0]})") from None


def holding_edges(g: Grouping, label: int) -> list[dict[str, Any]]:
    """The maximum spanning tree of the group's scored pairs, weakest link first: the pairs the group hangs on."""
    inside = (g.labels[g.pairs.i] == label) & (g.labels[g.pairs.j] == label)
    order = np.argsort(-g.pairs.score[inside], kind="stable")
    ii, jj, ss = g.pairs.i[inside][order], g.pairs.j[inside][order], g.pairs.score[inside][order]
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        parent.setdefault(a, a)
        while parent[a] != a:
            a = parent[a]
        return a

    tree = []
    for a, b, s in zip(ii.tolist(), jj.tolist(), ss.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            tree.append({"a": g.offers.ids[a], "b": g.offers.ids[b], "score": round(float(s), 4),
                         "title_a": g.offers.titles[a], "title_b": g.offers.titles[b]})
    return sorted(tree, key=lambda e: e["score"])


def show_group(g: Grouping, name: str) -> dict[str, Any]:
    """Members (id, title, seller, category) of a group, its quality and the pairs holding it together."""
    label = _label_of(g, name)
    mem = _members(g)[label]
    o = g.offers
    return {"group": name, **g.quality[label],
            "offers": [{"id": o.ids[k], "title": o.titles[k], "seller": o.sellers[k], "category": o.categories[k]}
                       for k in mem],
            "holding_pairs": holding_edges(g, label)}


def review(g: Grouping, limit: int = 20, min_size: int = 2) -> list[dict[str, Any]]:
    """The weakest groups of at least `min_size` offers (lowest score first), each with its weakest links."""
    names = g.group_names()
    first = {}
    for pos, lab in enumerate(g.labels.tolist()):
        first.setdefault(lab, names[pos])
    cands = sorted((q["score"], lab) for lab, q in g.quality.items() if q["size"] >= min_size)
    out = []
    for _, lab in cands[:limit]:
        shown = show_group(g, first[lab])
        shown["holding_pairs"] = shown["holding_pairs"][:3]
        out.append(shown)
    return out
