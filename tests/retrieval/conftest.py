"""Grocery phone photos and shop images embedded once (real Lite0) for the retrieval tests."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from vsearch.catalog.images import load_image
from vsearch.models.registry import create_embedder


@dataclass
class GroceryVectors:
    """Shop vectors (one per product), 5 train photos per product and all 100 val photos, with labels."""

    shop_rows: list[dict[str, str]]
    shop: np.ndarray
    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray


def embed(emb, paths: list[Path]) -> np.ndarray:
    return np.concatenate([emb.encode_images(torch.stack([emb.transform(load_image(p)) for p in paths[s:s + 32]]))
                           for s in range(0, len(paths), 32)])


@pytest.fixture(scope="session")
def grocery_rows(grocery: Path) -> list[dict[str, str]]:
    with (grocery / "labels.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def grocery_vectors(grocery: Path, grocery_rows: list[dict[str, str]]) -> GroceryVectors:
    shop = [r for r in grocery_rows if r["source"] == "shop"]
    idx = {r["id"]: i for i, r in enumerate(shop)}
    per_product: dict[str, int] = {}
    train = []
    for r in grocery_rows:
        if r["source"] == "phone" and r["split"] == "train" and per_product.get(r["id"], 0) < 5:
            per_product[r["id"]] = per_product.get(r["id"], 0) + 1
            train.append(r)
    val = [r for r in grocery_rows if r["source"] == "phone" and r["split"] == "val"]
    emb = create_embedder(device="cpu")
    g, xt, xv = (embed(emb, [grocery / r["image"] for r in part]) for part in (shop, train, val))
    yt, yv = (np.array([idx[r["id"]] for r in part]) for part in (train, val))
    return GroceryVectors(shop, g, xt, yt, xv, yv)
