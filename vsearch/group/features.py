"""Pair features: how alike two titles read, and whether their codes, quantities and variants agree.

A learned matcher weighs them (`matcher.py`); the rule-based default uses a few of them by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vsearch.group.titlesets import FAMILIES, TitleSets
from vsearch.group.workers import parallel_map

FEATURES = ("sim", "sim_char", "rank_ij", "rank_ji", "code_exact", "code_prefix", "code_conflict", "codes_a",
            "codes_b", "qty_conflict", "qty_agree", "num_jaccard", "num_conflict", "variant_diff", "word_jaccard",
            "len_ratio", "first_word_same", "code_lcp", "code_in_other", "digit_conflict", "digit_jaccard",
            "variant_a_only", "variant_b_only", "idf_diff_max", "idf_shared_max", "idf_diff_share", "idf_diff_code",
            "idf_shared_code", "idf_diff_num", "idf_shared_num")
RARITY_FAMILIES = {"all": ("words", "codes", "numbers", "variants"), "code": ("codes",), "num": ("numbers", "qty")}
"""Token families of the `idf_*` features: the rarest token only one title has (`diff`) and the rarest both have
(`shared`), over all tokens, model codes and numbers (a shared rare code is strong evidence, a shared "am4" is not;
a rare token one title lacks is strong counter-evidence). Chosen by 5-fold cross-validation over PriceRunner's
train + val clusters (eval/group/README.md)."""
TEXT_FEATURE = "sim_text"
"""Appended when the offers have title vectors of a sentence model (`GroupConfig.text_model`)."""


def neighbour_ranks(i: np.ndarray, j: np.ndarray, sim: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank (0 = nearest) of j among i's candidates and of i among j's: mutual nearness beats raw cosine.

    Ties keep the order of the pairs. One stable sort on `4 * row + (1 - sim)` (sims in [-1, 2] never cross rows).
    """
    src = np.concatenate([i, j]).astype(np.int64)
    s = np.concatenate([sim, sim]).astype(np.float64)
    order = np.argsort(src * 4.0 + (1.0 - s), kind="stable")
    count = np.bincount(src, minlength=n)
    first = np.cumsum(count) - count
    rank = np.empty(len(src), dtype=np.float32)
    rank[order] = np.arange(len(src)) - first[src[order]]
    m = len(i)
    return rank[:m], rank[m:]


def pair_features(i: np.ndarray, j: np.ndarray, sim: np.ndarray, sim_char: np.ndarray, sets: TitleSets,
                  dense: np.ndarray | None = None, workers: int = 1, chunk: int = 250_000) -> np.ndarray:
    """[n_pairs, len(FEATURES)] float32 features of the pairs (i[p], j[p]), plus `TEXT_FEATURE` (the cosine of
    their unit rows of `dense`) when given. Computed on batches of pairs (on `workers` threads)."""
    r_ij, r_ji = neighbour_ranks(i, j, sim, sets.sets.shape[0])
    out = np.zeros((len(i), len(FEATURES)), dtype=np.float32)
    out[:, 0] = sim
    out[:, 1] = sim_char
    out[:, 2] = r_ij
    out[:, 3] = r_ji
    counts = sets.counts()
    weights = rarity_weights(sets)

    def batch(start: int) -> None:
        stop = min(start + chunk, len(i))
        out[start:stop, 4:] = _set_features(sets, counts, weights, i[start:stop], j[start:stop])

    parallel_map(batch, range(0, len(i), chunk), workers)
    if dense is not None:
        out = np.hstack([out, np.einsum("pd,pd->p", dense[i], dense[j]).astype(np.float32)[:, None]])
    return out


def _jaccard(inter: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    union = a + b - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def rarity_weights(sets: TitleSets) -> np.ndarray:
    """[v, len(RARITY_FAMILIES)] the idf of each column where its family belongs to the group, else 0."""
    groups = [np.isin(sets.family, [FAMILIES.index(f) for f in fams]) for fams in RARITY_FAMILIES.values()]
    return np.stack([np.where(g, sets.idf, 0.0) for g in groups], axis=1).astype(np.float32)


def _rarity(si: Any, sj: Any, shared: Any, weights: np.ndarray) -> list[np.ndarray]:
    """The `idf_*` columns: per family group the highest idf among tokens one title lacks and among shared ones;
    for all tokens also the idf share of the tokens that differ."""
    if not weights.shape[0]:  # no title has a token (photos only)
        return [np.zeros(si.shape[0])] * (2 * weights.shape[1] + 1)
    both = si + sj
    diff = (both - 2 * shared).tocsr()
    cols = []
    for g in range(weights.shape[1]):
        w = weights[:, g][None, :]
        cols.append(diff.multiply(w).tocsr().max(axis=1).toarray().ravel())
        cols.append(shared.multiply(w).tocsr().max(axis=1).toarray().ravel())
        if g == 0:
            total = np.asarray(both @ weights[:, 0]).ravel()
            cols.append(np.asarray(diff @ weights[:, 0]).ravel() / np.maximum(total, 1e-6))
    return cols


def _set_features(sets: TitleSets, counts: np.ndarray, weights: np.ndarray, i: np.ndarray,
                  j: np.ndarray) -> np.ndarray:
    """Columns 4.. of `FEATURES` (float64) for a batch of pairs."""
    w, c, num, v, d, _, u = range(len(FAMILIES))
    si, sj = sets.sets[i], sets.sets[j]
    shared = si.multiply(sj).tocsr()
    inter = sets.family_sums(shared)
    a, b = counts[i], counts[j]
    agree = sets.units_with_shared_value(shared)
    lcp, prefix = _code_pairs(sets, i, j)
    exact = inter[:, c]
    both = lambda f: (a[:, f] > 0) & (b[:, f] > 0)  # noqa: E731
    la, lb = a[:, w], b[:, w]
    cols = [exact, prefix, both(c) & (exact + prefix == 0), a[:, c], b[:, c], inter[:, u] - agree, agree,
            _jaccard(inter[:, num], a[:, num], b[:, num]), both(num) & (inter[:, num] == 0),
            a[:, v] + b[:, v] - 2 * inter[:, v], _jaccard(inter[:, w], la, lb),
            np.minimum(la, lb) / np.maximum(np.maximum(la, lb), 1),
            (sets.first_word[i] >= 0) & (sets.first_word[i] == sets.first_word[j]), lcp,
            _code_in(sets, i, j) + _code_in(sets, j, i), both(d) & (inter[:, d] == 0),
            _jaccard(inter[:, d], a[:, d], b[:, d]), a[:, v] - inter[:, v], b[:, v] - inter[:, v],
            *_rarity(si, sj, shared, weights)]
    return np.stack([np.asarray(col, dtype=np.float64) for col in cols], axis=1)


def _ragged(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner p, position starts[p] + t) for t in 0..counts[p]-1, all p in order."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offset = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - offset[owner] + starts[owner]


def _code_pairs(sets: TitleSets, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the longest common prefix over its code pairs (`rb29fsrndsa` / `rb29fsrndbc`: 9), and how many
    codes of i that j lacks extend or are extended by a code of j that i lacks (`ue40j6300` / `ue40j6300ak`;
    the shorter at least 5 characters), as `tokens.codes_match` counts them."""
    na = sets.code_ptr[i + 1] - sets.code_ptr[i]
    nb = sets.code_ptr[j + 1] - sets.code_ptr[j]
    owner = np.repeat(np.arange(len(i)), na * nb)
    t = np.arange(len(owner)) - (np.cumsum(na * nb) - na * nb)[owner]
    ia, ib = t // np.maximum(nb[owner], 1), t % np.maximum(nb[owner], 1)
    ca = sets.code_ids[sets.code_ptr[i[owner]] + ia]
    cb = sets.code_ids[sets.code_ptr[j[owner]] + ib]
    ra, rb = sets.code_row[ca], sets.code_row[cb]
    same_chars = sets.code_chars[ra] == sets.code_chars[rb]
    first_diff = np.where(same_chars.all(axis=1), same_chars.shape[1], np.argmin(same_chars, axis=1))
    short = np.minimum(sets.code_len[ra], sets.code_len[rb])
    common = np.minimum(first_diff, short)
    lcp = np.zeros(len(i), dtype=np.int64)
    np.maximum.at(lcp, owner, common)
    equal = ca == cb
    slot_a = (np.cumsum(na) - na)[owner] + ia
    slot_b = (np.cumsum(nb) - nb)[owner] + ib
    a_in_b = np.bincount(slot_a, weights=equal, minlength=int(na.sum())) > 0
    b_in_a = np.bincount(slot_b, weights=equal, minlength=int(nb.sum())) > 0
    extends = (common >= short) & (short >= 5) & ~a_in_b[slot_a] & ~b_in_a[slot_b]
    slot_extends = np.bincount(slot_a, weights=extends, minlength=int(na.sum())) > 0
    prefix = np.bincount(np.repeat(np.arange(len(i)), na), weights=slot_extends, minlength=len(i))
    return lcp, prefix.astype(np.int64)


def _code_in(sets: TitleSets, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Per pair: codes of i (5+ characters) found inside j's squashed title."""
    owner, pos = _ragged(sets.code_ptr[i], sets.code_ptr[i + 1] - sets.code_ptr[i])
    rows = sets.code_row[sets.code_ids[pos]]
    long_ = sets.code_len[rows] >= 5
    owner, rows = owner[long_], rows[long_]
    found = [c in t for c, t in zip(sets.code_text[rows].tolist(), sets.squashed[j[owner]].tolist())]
    return np.bincount(owner, weights=np.asarray(found, dtype=np.float64), minlength=len(i))


def row_cosine(x: Any, i: np.ndarray, j: np.ndarray, chunk: int = 100_000, workers: int = 1) -> np.ndarray:
    """Cosine of rows i[p], j[p] of an L2-normalised CSR matrix (no dense n x n), in batches of pairs."""
    out = np.empty(len(i), dtype=np.float32)

    def batch(s: int) -> None:
        a, b = x[i[s:s + chunk]], x[j[s:s + chunk]]
        out[s:s + chunk] = np.asarray(a.multiply(b).sum(axis=1)).ravel()

    parallel_map(batch, range(0, len(i), chunk), workers)
    return out
