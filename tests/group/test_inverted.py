"""The inverted candidate search against exact all-pairs kNN (`block_knn`) on real offers, and its parts against
brute-force oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vsearch.group.candidates import TitleVectoriser, block_knn, category_blocks, sparse_knn
from vsearch.group.features import row_cosine
from vsearch.group.inverted import inverted_knn, rare_features, top_per_row
from vsearch.group.offers import read_labels, read_offers
from vsearch.group.tokens import parse_title


@pytest.fixture(scope="module")
def rows(offers_csv: Path):  # noqa: ANN201
    offers = read_offers(offers_csv, "product_id", "product_title", "vendor_id", "category_label")
    truth = read_labels(offers_csv, "product_id", "cluster_id")
    parts = [parse_title(t) for t in offers.titles]
    _, _, x = TitleVectoriser.fit_transform(offers.titles, parts, 0.5)
    labels = np.asarray([truth[o] for o in offers.ids])
    return x, category_blocks(offers.categories), labels


def _keys(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return i.astype(np.int64) * 1_000_000 + j


def test_inverted_search_finds_the_exact_neighbours_that_matter(data_dir: Path) -> None:
    """All 21,143 PriceRunner offers (categories of 1,291 to 3,179 offers)."""
    path = data_dir / "pricerunner" / "offers.csv"
    offers = read_offers(path, "product_id", "product_title", "vendor_id", "category_label")
    truth = read_labels(path, "product_id", "cluster_id")
    labels = np.asarray([truth[o] for o in offers.ids])
    parts = [parse_title(t) for t in offers.titles]
    _, _, x = TitleVectoriser.fit_transform(offers.titles, parts, 0.5)
    blocks = category_blocks(offers.categories)
    ei, ej, es = block_knn(x, 20, blocks)
    ai, aj, asim = sparse_knn(x, 20, blocks, budget=4000)
    assert np.all(ai < aj) and len(np.unique(_keys(ai, aj))) == len(ai)
    assert np.allclose(asim, row_cosine(x, ai, aj), atol=1e-6)  # exact cosines, not partial scores
    found = np.isin(_keys(ei, ej), _keys(ai, aj))
    same = labels[ei] == labels[ej]
    # measured: 0.82 of all exact pairs (the rest are weak pairs sharing only common n-grams: "bosch frost free
    # fridge freezer"), 0.985 of the exact pairs that are one product, and as many same-product pairs in all
    assert found.mean() >= 0.78, found.mean()
    assert found[same].mean() >= 0.97, found[same].mean()
    assert (labels[ai] == labels[aj]).sum() >= 0.99 * same.sum()
    assert np.median(es[~found]) < np.median(es[found])  # what it misses is the weak tail


def test_unlimited_budget_and_pool_is_exact_up_to_ties(rows) -> None:  # noqa: ANN001
    x, blocks, _ = rows
    ei, ej, es = block_knn(x, 10, blocks)
    ai, aj, asim = inverted_knn(x, 10, blocks, row_cosine, budget=10**9, pool=10**6)
    kth = np.zeros(x.shape[0])  # each row's 10th best cosine over its block: ties at it may go either way
    for b in blocks:
        sim = (x[b] @ x[b].T).toarray()
        np.fill_diagonal(sim, -1)
        kth[b] = np.sort(sim, axis=1)[:, -10]
    exact, approx = set(_keys(ei, ej).tolist()), set(_keys(ai, aj).tolist())
    sim_of = dict(zip(_keys(ei, ej).tolist(), es.tolist())) | dict(zip(_keys(ai, aj).tolist(), asim.tolist()))
    for key in exact ^ approx:
        a, b = divmod(key, 1_000_000)
        assert min(abs(sim_of[key] - kth[a]), abs(sim_of[key] - kth[b])) < 1e-5


def test_workers_give_the_same_pairs(rows) -> None:  # noqa: ANN001
    x, blocks, _ = rows
    one = sparse_knn(x, 20, blocks, budget=2000, workers=1)
    two = sparse_knn(x, 20, blocks, budget=2000, workers=2)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_exact_max_searches_small_blocks_exactly(rows) -> None:  # noqa: ANN001
    x, blocks, _ = rows
    ei, ej, _ = block_knn(x, 20, blocks)
    ai, aj, _ = sparse_knn(x, 20, blocks, exact_max=10**6)
    assert np.array_equal(np.sort(_keys(ei, ej)), np.sort(_keys(ai, aj)))


def test_rare_features_keep_the_rarest_within_the_budget(rows) -> None:  # noqa: ANN001
    x, blocks, _ = rows
    xb = x[blocks[0]]
    q = rare_features(xb, 300)
    df = np.bincount(xb.indices, minlength=xb.shape[1])
    for r in range(0, xb.shape[0], 7):
        kept = q.indices[q.indptr[r]:q.indptr[r + 1]]
        every = xb.indices[xb.indptr[r]:xb.indptr[r + 1]]
        useful = every[df[every] > 1]
        assert set(kept) <= set(useful)
        if len(useful):
            assert df[kept].min() == df[useful].min()  # the rarest shared feature is always kept
            dropped = np.setdiff1d(useful, kept)
            if len(dropped):
                assert df[dropped].min() >= df[kept].max()  # rarest first
        within_first_bin = len(kept) and np.ptp(np.floor(4 * np.log2(df[kept]))) == 0
        assert (df[kept] - 1).sum() <= 300 or within_first_bin


def test_top_per_row_against_sorting() -> None:
    rng = np.random.default_rng(0)
    for trial in range(200):
        lens = rng.integers(0, 40, rng.integers(1, 20))
        indptr = np.concatenate([[0], np.cumsum(lens)])
        values = rng.random(indptr[-1]).astype(np.float32)
        if trial % 2:
            values = np.round(values * 4) / 4  # ties
        m = int(rng.integers(1, 12))
        keep = top_per_row(indptr, values, m, rows_at_once=int(rng.integers(1, 8)))  # chunks of rows too
        for r in range(len(lens)):
            seg, k = values[indptr[r]:indptr[r + 1]], keep[indptr[r]:indptr[r + 1]]
            assert k.sum() == min(m, len(seg))
            if len(seg) > m:
                assert seg[k].min() >= seg[~k].max()
