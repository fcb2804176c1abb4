"""Grouping metrics against arithmetic done by hand on a tiny example."""

from __future__ import annotations

import pytest

from vsearch.group.metrics import adjusted_rand, bcubed, pairwise

# offers a..f; truth {a,b,c} {d,e} {f}; predicted {a,b} {c,d,e} {f}
TRUTH = ["1", "1", "1", "2", "2", "3"]
PRED = ["x", "x", "y", "y", "y", "z"]


def test_pairwise_by_hand() -> None:
    # predicted pairs: ab, cd, ce, de = 4; true pairs: ab, ac, bc, de = 4; shared: ab, de = 2
    r = pairwise(PRED, TRUTH)
    assert (r["predicted_pairs"], r["true_pairs"], r["correct_pairs"]) == (4, 4, 2)
    assert r["precision"] == pytest.approx(2 / 4)
    assert r["recall"] == pytest.approx(2 / 4)
    assert r["f1"] == pytest.approx(0.5)


def test_bcubed_by_hand() -> None:
    # precision per offer: a 2/2, b 2/2, c 1/3, d 2/3, e 2/3, f 1/1
    # recall per offer:    a 2/3, b 2/3, c 1/3, d 2/2, e 2/2, f 1/1
    r = bcubed(PRED, TRUTH)
    assert r["precision"] == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3 + 1) / 6)
    assert r["recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1 + 1) / 6)


def test_ari_by_hand() -> None:
    # index 2, predicted pairs 4, true pairs 4, C(6,2) = 15: expected 4*4/15, max 4
    expected = 16 / 15
    assert adjusted_rand(PRED, TRUTH) == pytest.approx((2 - expected) / (4 - expected))
    assert adjusted_rand(TRUTH, TRUTH) == pytest.approx(1.0)


def test_all_singletons_precision_is_one_recall_zero() -> None:
    r = pairwise(["a", "b", "c"], ["1", "1", "2"])
    assert r["precision"] == 1.0 and r["recall"] == 0.0 and r["f1"] == 0.0
