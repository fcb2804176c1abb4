"""Incremental grouping: new offers join existing groups or open new ones; existing groups never merge or split.

Only the new offers are compared (exact kNN against every offer of their category), so the cost grows with
the batch, not with the catalogue's pair count; the fitted vectoriser and matcher of the build are reused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from vsearch.core.log import Progress, no_progress
from vsearch.group.build import Encoded, Grouping, Pairs, never_positions, score_pairs, title_vectors
from vsearch.group.candidates import category_blocks, query_knn
from vsearch.group.cluster import _Groups
from vsearch.group.errors import GroupError
from vsearch.group.features import row_cosine
from vsearch.group.offers import Offers
from vsearch.group.photos import Photos
from vsearch.group.quality import group_quality
from vsearch.group.tokens import parse_title


def new_index_offers(g: Grouping, progress: Progress = no_progress) -> tuple[Offers, Photos]:
    """The products of the grouping's index not grouped yet, read with the build's columns.

    Raises:
        GroupError: the grouping was not built from an index, or every product of it is grouped.
    """
    from vsearch.group.photos import read_index_offers

    if g.source is None or g.photos is None:
        raise GroupError("this grouping was built from an offers CSV: give the new offers as a CSV")
    offers, photos, _ = read_index_offers(g.source, frozenset(g.offers.ids), progress)
    if not len(offers):
        raise GroupError(f"every product of {g.source.index} is grouped already; add photos with vsearch index add "
                         "first")
    return offers, photos


def assign_offers(g: Grouping, new: Offers, progress: Progress = no_progress,
                  new_photos: Photos | None = None) -> tuple[Grouping, list[dict[str, Any]]]:
    """Place `new` offers into `g`; return the extended grouping and one row per new offer.

    Raises:
        GroupError: a new offer id already in the grouping; photos given to a grouping without them or missing.
    """
    if (g.photos is None) != (new_photos is None):
        raise GroupError("this grouping was built from " + ("titles only: new offers come as a CSV" if g.photos is None
                         else "an index: new offers come from it (vsearch group assign --index)"))
    old_ids = set(g.offers.ids)
    clash = [oid for oid in new.ids if oid in old_ids]
    if clash:
        raise GroupError(f"offer {clash[0]} is already grouped ({len(clash)} of the new ids are)")
    offers = g.offers.concat(new)
    n_old, n = len(g.offers), len(offers)
    dense = None
    if g.dense is not None and g.config.text_model:
        dense = np.concatenate([g.dense, title_vectors(new.titles, g.config.text_model, progress)])
    photos = None if g.photos is None or new_photos is None else g.photos.concat(new_photos)
    enc = Encoded.of(offers, [parse_title(t) for t in offers.titles], g.vectoriser, dense, g.config.threads(), photos)
    queries = np.arange(n_old, n)
    blocks = category_blocks(offers.categories, g.config.skip_categories)
    i, j, s = query_knn(enc.x, queries, blocks, g.config.k)
    if dense is not None and g.config.dense_k > 0:
        a, b, _ = query_knn(dense, queries, blocks, g.config.dense_k)
        i, j, s = np.concatenate([i, a]), np.concatenate([j, b]), np.concatenate([s, row_cosine(enc.x, a, b)])
    if photos is not None and g.config.photo_k > 0:
        for vectors in (photos.x, photos.thumb):
            a, b, _ = query_knn(vectors, queries, blocks, g.config.photo_k)
            i, j, s = np.concatenate([i, a]), np.concatenate([j, b]), np.concatenate([s, row_cosine(enc.x, a, b)])
    sellers = np.asarray(offers.sellers, dtype=object)
    keep = (sellers[i] != sellers[j]) | (sellers[i] == "")
    a, b = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    key = a * (n + 1) + b
    _, first = np.unique(key, return_index=True)
    a, b, s = a[first], b[first], s[keep][first]
    progress("assign", len(new) // 2, len(new))
    _, score = score_pairs(enc, g.matcher, a, b, s)

    groups = _Groups(offers.sellers)
    has_old = [k < n_old for k in range(n)]
    roots: dict[int, int] = {}
    for k, lab in enumerate(g.labels.tolist()):
        if lab in roots:
            r = groups.union(groups.find(roots[lab]), groups.find(k))
            roots[lab] = r
        else:
            roots[lab] = k
    forbid = {frozenset(p) for p in never_positions(offers, g.never)}
    threshold = g.config.merge_threshold(g.matcher)
    for x, y, sc in sorted(zip(a.tolist(), b.tolist(), score.tolist()), key=lambda t: -t[2]):
        if sc < threshold:
            break
        rx, ry = groups.find(x), groups.find(y)
        if rx == ry or not groups.sellers[rx].isdisjoint(groups.sellers[ry]):
            continue
        if has_old[rx] and has_old[ry]:
            continue  # two existing groups: assignment never regroups the catalogue
        if forbid and any(frozenset((m1, m2)) in forbid for m1 in groups.members[rx] for m2 in groups.members[ry]):
            continue
        r = groups.union(rx, ry)
        has_old[r] = has_old[rx] or has_old[ry]
    labels = np.empty(n, dtype=np.int64)
    labels[:n_old] = g.labels
    root_label = {groups.find(k): int(g.labels[k]) for k in range(n_old)}
    nxt = int(g.labels.max()) + 1
    for k in range(n_old, n):
        r = groups.find(k)
        if r not in root_label:
            root_label[r] = nxt
            nxt += 1
        labels[k] = root_label[r]
    pairs = Pairs(np.concatenate([g.pairs.i, a]), np.concatenate([g.pairs.j, b]),
                  np.concatenate([g.pairs.sim, s]), np.concatenate([g.pairs.score, score]))
    quality = group_quality(labels, pairs, g.config.edge_threshold, lambda p, q: score_pairs(enc, g.matcher, p, q)[1])
    out = replace(g, offers=offers, labels=labels, quality=quality, pairs=pairs, dense=dense, photos=photos)
    names = out.group_names()
    rows = [{"id": offers.ids[k], "group": names[k], "joined": "existing" if labels[k] < int(g.labels.max()) + 1
             else "new", "group_size": quality[int(labels[k])]["size"], "score": quality[int(labels[k])]["score"]}
            for k in range(n_old, n)]
    progress("assign", len(new), len(new))
    return out, rows
