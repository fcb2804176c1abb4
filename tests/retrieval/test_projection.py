"""The product-identity projection on real grocery phone photos and the real Lite0 backbone."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from vsearch.catalog.images import load_image
from vsearch.models.registry import create_embedder
from vsearch.retrieval.projection import project, train_projection


def _embed(emb, paths: list[Path]) -> np.ndarray:
    return np.concatenate([emb.encode_images(torch.stack([emb.transform(load_image(p)) for p in paths[s:s + 32]]))
                           for s in range(0, len(paths), 32)])


def _r1(q: np.ndarray, q_lab: np.ndarray, g: np.ndarray) -> float:
    return float(((q @ g.T).argmax(1) == q_lab).mean())


def test_projection_lifts_phone_to_shop_recall_on_held_out_photos(grocery: Path) -> None:
    with (grocery / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    shop = [r for r in rows if r["source"] == "shop"]
    idx = {r["id"]: i for i, r in enumerate(shop)}
    per_product: dict[str, int] = {}
    train = []
    for r in rows:
        if r["source"] == "phone" and r["split"] == "train" and per_product.get(r["id"], 0) < 5:
            per_product[r["id"]] = per_product.get(r["id"], 0) + 1
            train.append(r)
    val = [r for r in rows if r["source"] == "phone" and r["split"] == "val"]
    emb = create_embedder(device="cpu")
    g, xt, xv = (_embed(emb, [grocery / r["image"] for r in part]) for part in (shop, train, val))
    yt, yv = (np.array([idx[r["id"]] for r in part]) for part in (train, val))
    w = train_projection(xt, yt, g, epochs=200)
    assert w.shape == (g.shape[1], 256)
    out = project(xv, w)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    frozen, tuned = _r1(xv, yv, g), _r1(out, yv, project(g, w))
    assert tuned > frozen + 0.05, (frozen, tuned)
