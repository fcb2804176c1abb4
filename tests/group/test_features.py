"""Vectorised pair features against the per-pair Python loop they replaced (the oracle), on real offers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vsearch.group.candidates import TitleVectoriser, block_knn, category_blocks
from vsearch.group.features import FEATURES, neighbour_ranks, pair_features, row_cosine
from vsearch.group.offers import read_offers
from vsearch.group.titlesets import TitleSets
from vsearch.group.tokens import TitleParts, codes_match, parse_title, quantity_conflicts


def _lcp(a: frozenset[str], b: frozenset[str]) -> int:
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


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _tokens(p: TitleParts) -> dict[str, set[tuple[str, str]]]:
    """A title's tokens by the families of the `idf_*` features."""
    fam = {"words": p.words, "codes": p.codes, "numbers": p.numbers, "variants": p.variants,
           "qty": {f"{u}={v}" for u, vs in p.quantities.items() for v in vs}}
    tagged = {f: {(f, t) for t in toks} for f, toks in fam.items()}
    return {"all": tagged["words"] | tagged["codes"] | tagged["numbers"] | tagged["variants"],
            "code": tagged["codes"], "num": tagged["numbers"] | tagged["qty"]}


def _loop_rarity(i: np.ndarray, j: np.ndarray, parts: list[TitleParts]) -> np.ndarray:
    """The 7 `idf_*` columns, one pair at a time, from document frequencies counted over `parts`."""
    toks = [_tokens(p) for p in parts]
    df: Counter[tuple[str, str]] = Counter(t for tk in toks for t in set().union(*tk.values()))
    idf = {t: np.log((len(parts) + 1) / (c + 1)) + 1 for t, c in df.items()}
    out = np.zeros((len(i), 7))
    for p, (a, b) in enumerate(zip(i.tolist(), j.tolist())):
        row = []
        for g in ("all", "code", "num"):
            ta, tb = toks[a][g], toks[b][g]
            row += [max((idf[t] for t in ta ^ tb), default=0.0), max((idf[t] for t in ta & tb), default=0.0)]
            if g == "all":
                total = sum(idf[t] for t in ta) + sum(idf[t] for t in tb)
                row.append(sum(idf[t] for t in ta ^ tb) / max(total, 1e-6))
        out[p] = row
    return out


def _loop_features(i: np.ndarray, j: np.ndarray, parts: list[TitleParts], titles: list[str]) -> np.ndarray:
    """Columns 4.. of FEATURES but the `idf_*` ones, one pair at a time (the loop `pair_features` ran before it was
    vectorised)."""
    out = np.zeros((len(i), len(FEATURES) - 4 - 7), dtype=np.float32)
    for p, (a, b) in enumerate(zip(i.tolist(), j.tolist())):
        pa, pb = parts[a], parts[b]
        sa, sb = _squash(titles[a]), _squash(titles[b])
        da, db = pa.digit_tokens, pb.digit_tokens
        exact, prefix = codes_match(pa.codes, pb.codes)
        qc, qa = quantity_conflicts(pa.quantities, pb.quantities)
        wa, wb = titles[a].split(maxsplit=1), titles[b].split(maxsplit=1)
        la, lb = len(pa.words), len(pb.words)
        code_in = sum(1 for c in pa.codes if len(c) >= 5 and c in sb) + sum(
            1 for c in pb.codes if len(c) >= 5 and c in sa)
        out[p] = (exact, prefix, float(bool(pa.codes and pb.codes) and exact + prefix == 0), len(pa.codes),
                  len(pb.codes), qc, qa, _jaccard(pa.numbers, pb.numbers),
                  bool(pa.numbers and pb.numbers and not (pa.numbers & pb.numbers)), len(pa.variants ^ pb.variants),
                  _jaccard(pa.words, pb.words), min(la, lb) / max(la, lb, 1),
                  float(bool(wa and wb) and wa[0].lower() == wb[0].lower()), _lcp(pa.codes, pb.codes), code_in,
                  float(bool(da and db) and not (da & db)), _jaccard(da, db), len(pa.variants - pb.variants),
                  len(pb.variants - pa.variants))
    return out


@pytest.fixture(scope="module")
def encoded(offers_csv: Path):  # noqa: ANN201
    offers = read_offers(offers_csv, "product_id", "product_title", "vendor_id", "category_label")
    parts = [parse_title(t) for t in offers.titles]
    _, xc, x = TitleVectoriser.fit_transform(offers.titles, parts, 0.5)
    return offers, parts, xc, x


def _pairs(encoded) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Real candidate pairs plus random pairs (scored on demand), self pairs included."""
    offers, _, _, x = encoded
    i, j, _ = block_knn(x, 20, category_blocks(offers.categories))
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(offers), 3000), rng.integers(0, len(offers), 3000)
    return np.concatenate([i, a, [0, 5]]), np.concatenate([j, b, [0, 5]])


def test_vectorised_features_equal_the_loop(encoded) -> None:  # noqa: ANN001
    offers, parts, xc, x = encoded
    i, j = _pairs(encoded)
    sets = TitleSets.of(parts, offers.titles)
    f = pair_features(i, j, row_cosine(x, i, j), row_cosine(xc, i, j), sets, chunk=4096)
    oracle = _loop_features(i, j, parts, offers.titles)
    assert np.array_equal(f[:, 4:-7], oracle)
    assert np.allclose(f[:, -7:], _loop_rarity(i, j, parts), rtol=1e-5, atol=1e-5)
    assert (f[:, FEATURES.index("idf_shared_code")] > 0).any() and (f[:, FEATURES.index("idf_diff_num")] > 0).any()
    assert (f[:, FEATURES.index("code_prefix")] > 0).any() and (f[:, FEATURES.index("code_in_other")] > 0).any()
    threaded = pair_features(i, j, row_cosine(x, i, j, chunk=999, workers=2), row_cosine(xc, i, j), sets,
                             workers=2, chunk=1000)
    assert np.array_equal(threaded, f)


def test_features_of_odd_titles_equal_the_loop() -> None:
    titles = ["Samsung UE40J6300AK 40\" TV", "samsung ue40j6300 tv 40 inch", "Apple iPhone 8 Plus 64GB",
              "apple iphone 8 256 gb", "KDL-40WE665", "kdl 40we665 sony", "x", "Tür Kühlschrank 1.5l 2 kw",
              "rb29fsrndsa fridge", "rb29fsrndbc fridge", "milk"]
    parts = [parse_title(t) for t in titles]
    n = len(titles)
    i, j = np.divmod(np.arange(n * n), n)
    f = pair_features(i, j, np.zeros(n * n, np.float32), np.zeros(n * n, np.float32), TitleSets.of(parts, titles))
    assert np.array_equal(f[:, 4:-7], _loop_features(i, j, parts, titles))
    assert np.allclose(f[:, -7:], _loop_rarity(i, j, parts), rtol=1e-5, atol=1e-5)


def test_neighbour_ranks_equal_a_lexsort_oracle() -> None:
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, 50, 2000), rng.integers(0, 50, 2000)
    sim = np.round(rng.random(2000), 2).astype(np.float32)  # many ties: kept in pair order
    src, s = np.concatenate([i, j]), np.concatenate([sim, sim])
    order = np.lexsort((-s, src))
    starts = np.searchsorted(src[order], src[order], side="left")
    rank = np.empty(len(src), np.float32)
    rank[order] = np.arange(len(src)) - starts
    r_ij, r_ji = neighbour_ranks(i, j, sim, 50)
    assert np.array_equal(r_ij, rank[:2000]) and np.array_equal(r_ji, rank[2000:])
