"""Metric functions against hand-computed values, a brute-force reference and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from vsearch.core.metrics import (
    classification_metrics,
    group_max,
    multilabel_report,
    per_query_metrics,
    rank_hits,
    retrieval_metrics,
    summarize,
    tag_report,
)


def one(scores: list[float], relevant: list[bool], ks: list[int], valid: list[bool] | None = None) -> dict:
    return retrieval_metrics(np.array([scores]), np.array([relevant]), ks,
                             None if valid is None else np.array([valid]))


def test_hand_computed_single_query() -> None:
    m = one([0.9, 0.8, 0.7, 0.6], [False, True, False, True], [1, 2, 4])
    assert m["precision@1"] == 0 and m["hit@1"] == 0
    assert m["precision@2"] == 0.5 and m["recall@2"] == 0.5 and m["hit@2"] == 1
    assert m["recall@4"] == 1 and m["precision@4"] == 0.5
    assert m["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert m["map@2"] == pytest.approx((1 / 2) / 2)  # AP@K divides by min(K, #relevant) = 2
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert m["ndcg@1"] == 0
    assert m["queries"] == 1 and m["queries_without_relevant"] == 0


def test_ties_count_against_the_query() -> None:
    m = one([0.5, 0.5, 0.5], [True, False, False], [1, 2, 3])
    assert (m["hit@1"], m["hit@2"], m["hit@3"]) == (0, 0, 1)
    assert m["map@3"] == pytest.approx(1 / 3)
    # a tie below a strictly better non-relevant item: the relevant one still goes last among equals
    m = one([0.9, 0.5, 0.5], [False, True, False], [2, 3])
    assert m["hit@2"] == 0 and m["hit@3"] == 1
    # a collapsed model (all scores equal) gets nothing right at 1 however the gallery is ordered
    collapsed = retrieval_metrics(np.zeros((4, 6)), np.eye(4, 6, dtype=bool), [1])
    assert collapsed["hit@1"] == 0


def test_empty_relevant_sets_are_left_out_and_counted() -> None:
    scores = np.array([[0.9, 0.1], [0.9, 0.1]])
    relevant = np.array([[True, False], [False, False]])
    m = retrieval_metrics(scores, relevant, [1])
    assert m["hit@1"] == 1 and m["map@1"] == 1
    assert m["queries"] == 1 and m["queries_without_relevant"] == 1
    hits, n_rel = rank_hits(scores, relevant, 1)
    per = per_query_metrics(hits, n_rel, [1])
    assert all(np.isnan(v[1]) for v in per.values())
    nothing = summarize(per, np.array([False, True]))
    assert math.isnan(nothing["hit@1"]) and nothing["queries"] == 0


def test_k_larger_than_gallery() -> None:
    m = one([0.3, 0.9, 0.1], [True, False, False], [1, 10])
    assert m["hit@10"] == 1 and m["recall@10"] == 1
    assert m["precision@10"] == pytest.approx(0.1)  # missing ranks count as non-relevant
    assert m["map@10"] == pytest.approx(1 / 2)  # found at rank 2, one relevant item
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))
    hits, _ = rank_hits(np.array([[0.3, 0.9, 0.1]]), np.array([[True, False, False]]), 10)
    assert hits.shape == (1, 10) and not hits[0, 3:].any()


def test_excluded_items_leave_the_gallery() -> None:
    # the query itself (score 1.0) is excluded: it neither counts as relevant nor takes rank 1
    m = one([1.0, 0.9, 0.8], [True, True, False], [1, 5], valid=[False, True, True])
    assert m["hit@1"] == 1 and m["recall@5"] == 1 and m["precision@5"] == pytest.approx(1 / 5)
    hits, n_rel = rank_hits(np.array([[1.0, 0.2, 0.8]]), np.array([[False, True, False]]), 5,
                            np.array([[False, True, True]]))
    assert n_rel[0] == 1 and hits[0].tolist() == [False, True, False, False, False]


def brute_force(scores: np.ndarray, relevant: np.ndarray, ks: list[int]) -> dict[str, float]:
    """Plain-Python reference: sort each row by (score desc, non-relevant first), then textbook formulas."""
    sums: dict[str, list[float]] = {}
    for s, r in zip(scores.tolist(), relevant.tolist()):
        n_rel = sum(r)
        if n_rel == 0:
            continue
        ranked = [rel for _, rel in sorted(zip(s, r), key=lambda t: (-t[0], t[1]))]
        for k in ks:
            top = ranked[:k]
            found = sum(top)
            ap = sum(sum(top[:i + 1]) / (i + 1) for i in range(len(top)) if top[i]) / min(k, n_rel)
            dcg = sum(1 / math.log2(i + 2) for i in range(len(top)) if top[i])
            idcg = sum(1 / math.log2(i + 2) for i in range(min(k, n_rel)))
            for name, value in ((f"precision@{k}", found / k), (f"recall@{k}", found / n_rel),
                                (f"hit@{k}", float(found > 0)), (f"map@{k}", ap), (f"ndcg@{k}", dcg / idcg)):
                sums.setdefault(name, []).append(value)
    return {name: float(np.mean(v)) for name, v in sums.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((300, 40)), 1)  # rounding makes many ties
    relevant = rng.random((300, 40)) < 0.08  # some rows have no relevant item
    ks = [1, 3, 10, 50]
    ours = retrieval_metrics(scores, relevant, ks)
    ref = brute_force(scores, relevant, ks)
    assert ours["queries"] + ours["queries_without_relevant"] == 300 and ours["queries_without_relevant"] > 0
    for name, value in ref.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name


def test_agrees_with_sklearn_without_ties() -> None:
    rng = np.random.default_rng(7)
    scores = rng.random((50, 30))
    relevant = rng.random((50, 30)) < 0.2
    relevant[:, 0] = True  # every query has a relevant item
    for k in (5, 30):
        ours = retrieval_metrics(scores, relevant, [k])
        assert ours[f"ndcg@{k}"] == pytest.approx(ndcg_score(relevant.astype(float), scores, k=k))
    full = retrieval_metrics(scores, relevant, [30])
    ap = np.mean([average_precision_score(r, s) for r, s in zip(relevant, scores)])
    assert full["map@30"] == pytest.approx(ap)


def test_group_max_takes_each_products_best_photo() -> None:
    scores = np.array([[0.1, 0.7, 0.3, 0.2], [0.5, 0.0, 0.4, 0.9]], np.float32)
    out, names = group_max(scores, ["b", "a", "b", "c"])
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(out, [[0.7, 0.3, 0.2], [0.0, 0.5, 0.9]], rtol=1e-6)


def test_classification_hand_computed() -> None:
    m = classification_metrics(["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"])
    assert m["accuracy"] == pytest.approx(3 / 5)
    per = m["per_class"]
    assert (per["a"]["precision"], per["a"]["recall"], per["a"]["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (per["b"]["precision"], per["b"]["recall"], per["b"]["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (per["c"]["precision"], per["c"]["recall"], per["c"]["f1"]) == (0.0, 0.0, 0.0)  # never predicted
    assert m["f1_macro"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["f1_weighted"] == pytest.approx((0.5 * 2 + 0.8 * 2 + 0.0 * 1) / 5)
    assert m["confusion"] == {"labels": ["a", "b", "c"], "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 0]]}
    with pytest.raises(ValueError):
        classification_metrics(["a"], ["a", "b"])


def test_tag_report_scores() -> None:
    labels = ["a", "b", "c"]
    scores = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    r = tag_report(["a", "b", "c", "b"], ["a", "b", "c", "a"], scores, labels)
    assert r["accuracy"] == pytest.approx(0.75)
    # class b: positives rows 1 and 3; ranking by column b: row1 0.6 (T), rows 2,3 tie at 0.3 -> AP by sklearn
    assert r["per_class"]["b"]["ap"] == pytest.approx(average_precision_score([0, 1, 0, 1], scores[:, 1]))
    assert r["per_class"]["a"]["ap"] == pytest.approx(1.0)
    assert math.isnan(r["top5_accuracy"])  # 3 classes: top-5 is trivially right, so not reported
    with pytest.raises(ValueError):
        tag_report(["a"], ["a"], np.zeros((1, 2)), labels)


def test_multilabel_hand_computed() -> None:
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 1]], bool)
    s = np.array([[0.9, 0.2, 0.6], [0.8, 0.1, 0.7], [0.7, 0.3, 0.2], [0.1, 0.4, 0.9]])
    r = multilabel_report(y, s, ["x", "never", "z"])
    assert r["per_tag"]["x"]["ap"] == pytest.approx((1 + 2 / 3) / 2)  # ranks 1 (T), 2 (F), 3 (T)
    assert r["per_tag"]["never"]["ap"] is None  # no positive: no AP, left out of mAP
    assert r["per_tag"]["z"]["ap"] == pytest.approx(1.0)
    assert r["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1.0) / 2)
    assert r["tags_with_positives"] == 2
