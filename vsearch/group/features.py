"""Pair features: how alike two titles read, and whether their codes, quantities and variants agree.

A learned matcher weighs them (`matcher.py`); the rule-based default uses a few of them by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vsearch.group.tokens import TitleParts, codes_match, quantity_conflicts

FEATURES = ("sim", "sim_char", "rank_ij", "rank_ji", "code_exact", "code_prefix", "code_conflict", "codes_a",
            "codes_b", "qty_conflict", "qty_agree", "num_jaccard", "num_conflict", "variant_diff", "word_jaccard",
            "len_ratio", "first_word_same", "code_lcp", "code_in_other", "digit_conflict", "digit_jaccard",
            "variant_a_only", "variant_b_only")
TEXT_FEATURE = "sim_text"
"""Appended when the offers have title vectors of a sentence model (`GroupConfig.text_model`)."""


def _lcp(a: frozenset[str], b: frozenset[str]) -> int:
    """Longest common prefix over code pairs: `rb29fsrndsa` / `rb29fsrndbc` share 9 characters."""
    best = 0
    for x in a:
        for y in b:
            n = 0
            for cx, cy in zip(x, y):
                if cx != cy:
                    break
                n += 1
            best = max(best, n)
    return best


def _squash(title: str) -> str:
    return "".join(c for c in title.lower() if c.isalnum())


def _code_in(codes: frozenset[str], squashed: str) -> int:
    return sum(1 for c in codes if len(c) >= 5 and c in squashed)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def neighbour_ranks(i: np.ndarray, j: np.ndarray, sim: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank (0 = nearest) of j among i's candidates and of i among j's: mutual nearness beats raw cosine."""
    src = np.concatenate([i, j])
    s = np.concatenate([sim, sim])
    order = np.lexsort((-s, src))
    src_sorted = src[order]
    starts = np.searchsorted(src_sorted, src_sorted, side="left")
    rank = np.empty(len(src), dtype=np.float32)
    rank[order] = np.arange(len(src)) - starts
    m = len(i)
    return rank[:m], rank[m:]


def pair_features(i: np.ndarray, j: np.ndarray, sim: np.ndarray, sim_char: np.ndarray,
                  parts: list[TitleParts], titles: list[str], dense: np.ndarray | None = None) -> np.ndarray:
    """[n_pairs, len(FEATURES)] float32 features of the pairs (i[p], j[p]), plus `TEXT_FEATURE` (the cosine of
    their unit rows of `dense`) when given."""
    r_ij, r_ji = neighbour_ranks(i, j, sim, len(parts))
    out = np.zeros((len(i), len(FEATURES)), dtype=np.float32)
    out[:, 0] = sim
    out[:, 1] = sim_char
    out[:, 2] = r_ij
    out[:, 3] = r_ji
    squashed: dict[int, str] = {}
    for p, (a, b) in enumerate(zip(i.tolist(), j.tolist())):
        pa, pb = parts[a], parts[b]
        sa = squashed.get(a) or squashed.setdefault(a, _squash(titles[a]))
        sb = squashed.get(b) or squashed.setdefault(b, _squash(titles[b]))
        da, db = pa.digit_tokens, pb.digit_tokens
        exact, prefix = codes_match(pa.codes, pb.codes)
        qc, qa = quantity_conflicts(pa.quantities, pb.quantities)
        num_conflict = bool(pa.numbers and pb.numbers and not (pa.numbers & pb.numbers))
        wa, wb = titles[a].split(maxsplit=1), titles[b].split(maxsplit=1)
        la, lb = len(pa.words), len(pb.words)
        out[p, 4:] = (exact, prefix, float(bool(pa.codes and pb.codes) and exact + prefix == 0),
                      len(pa.codes), len(pb.codes), qc, qa, _jaccard(pa.numbers, pb.numbers), num_conflict,
                      len(pa.variants ^ pb.variants), _jaccard(pa.words, pb.words),
                      min(la, lb) / max(la, lb, 1), float(bool(wa and wb) and wa[0].lower() == wb[0].lower()),
                      _lcp(pa.codes, pb.codes), _code_in(pa.codes, sb) + _code_in(pb.codes, sa),
                      float(bool(da and db) and not (da & db)), _jaccard(da, db),
                      len(pa.variants - pb.variants), len(pb.variants - pa.variants))
    if dense is not None:
        out = np.hstack([out, np.einsum("pd,pd->p", dense[i], dense[j]).astype(np.float32)[:, None]])
    return out


def row_cosine(x: Any, i: np.ndarray, j: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Cosine of rows i[p], j[p] of an L2-normalised CSR matrix (no dense n x n)."""
    out = np.empty(len(i), dtype=np.float32)
    for s in range(0, len(i), chunk):
        a, b = x[i[s:s + chunk]], x[j[s:s + chunk]]
        out[s:s + chunk] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    return out
