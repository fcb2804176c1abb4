"""The product-identity projection on real grocery phone photos and the real Lite0 backbone."""

from __future__ import annotations

import numpy as np

from tests.retrieval.conftest import GroceryVectors
from vsearch.retrieval.projection import project, train_projection


def _r1(q: np.ndarray, q_lab: np.ndarray, g: np.ndarray) -> float:
    return float(((q @ g.T).argmax(1) == q_lab).mean())


def test_projection_lifts_phone_to_shop_recall_on_held_out_photos(grocery_vectors: GroceryVectors) -> None:
    gv = grocery_vectors
    w = train_projection(gv.train, gv.train_labels, gv.shop, epochs=200)
    assert w.shape == (gv.shop.shape[1], 256)
    out = project(gv.val, w)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    frozen, tuned = _r1(gv.val, gv.val_labels, gv.shop), _r1(out, gv.val_labels, project(gv.shop, w))
    assert tuned > frozen + 0.05, (frozen, tuned)
