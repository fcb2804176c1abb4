"""The metric-learnt retrieval head (margin softmax over product proxies) on real grocery photos."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tests.retrieval.conftest import GroceryVectors
from vsearch.models.retrieval_head import RetrievalHead
from vsearch.retrieval.metric import MetricConfig, train_metric_head


def _r1(q: np.ndarray, q_lab: np.ndarray, g: np.ndarray) -> float:
    return float(((q @ g.T).argmax(1) == q_lab).mean())


def test_head_lifts_val_recall_and_mix_zero_is_the_frozen_ranking(grocery_vectors: GroceryVectors) -> None:
    gv = grocery_vectors
    w = train_metric_head(gv.shop, gv.train, gv.train_labels, MetricConfig(steps=150, margin=0.1))
    head = RetrievalHead(w, 0.5, {})
    q, g = head.apply(gv.val), head.apply(gv.shop)
    assert q.shape == (len(gv.val), gv.shop.shape[1] + 256)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    frozen = _r1(gv.val, gv.val_labels, gv.shop)
    assert _r1(q, gv.val_labels, g) > frozen + 0.05
    flat = replace(head, mix=0.0)  # the frozen half alone: exactly the frozen cosine
    assert np.allclose(flat.apply(gv.val) @ flat.apply(gv.shop).T, gv.val @ gv.shop.T, atol=1e-5)
    assert head.head_id != replace(head, mix=0.4).head_id


def test_training_is_deterministic_and_balanced_batches_cover_products(grocery_vectors: GroceryVectors) -> None:
    gv = grocery_vectors
    cfg = MetricConfig(steps=5, products=8, per_product=2)
    a = train_metric_head(gv.shop, gv.train, gv.train_labels, cfg)
    b = train_metric_head(gv.shop, gv.train, gv.train_labels, cfg)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, train_metric_head(gv.shop, gv.train, gv.train_labels, replace(cfg, seed=1)))
