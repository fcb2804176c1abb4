"""Style words mined from real seller descriptions; representative photos picked from real embeddings."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from vsearch.profiles.evaluate import macro_recall_at, recall_at
from vsearch.profiles.select import representatives
from vsearch.profiles.train import applicability, attribute_targets, balanced_accuracy, f1_threshold
from vsearch.profiles.vocab import mine_styles


@pytest.fixture(scope="module")
def attribute_rows(data_dir: Path) -> dict[str, dict[str, str]]:
    """product-attributes.csv rows of the products-224 products, with their articleType."""
    with (data_dir / "products-224" / "labels.csv").open(newline="") as fh:
        types = {r["id"]: r["articleType"] for r in csv.DictReader(fh)}
    with (data_dir / "product-attributes.csv").open(newline="", encoding="utf-8") as fh:
        return {r["id"]: {**r, "articleType": types[r["id"]]} for r in csv.DictReader(fh) if r["id"] in types}


def test_mined_styles_of_real_descriptions(attribute_rows: dict[str, dict[str, str]]) -> None:
    boho = [r["description"] for r in attribute_rows.values() if " boho " in r["description"].lower()]
    assert boho and all("bohemian" in mine_styles(d) for d in boho)
    assert mine_styles("A classical cut, not classic") == {"classic"}  # whole words only
    assert mine_styles("Casually chic. Very GLAM.") == {"casual", "chic", "glamorous"}
    assert mine_styles("") == set()
    mined = [mine_styles(r["description"]) for r in attribute_rows.values()]
    casual = sum("casual" in m for m in mined)
    assert casual > sum("vintage" in m for m in mined) > 0  # the seller copy's frequency order holds


def test_applicability_is_learned_from_the_labels(attribute_rows: dict[str, dict[str, str]]) -> None:
    rows = list(attribute_rows.values())
    values = [r["Sleeve Length"] for r in rows]
    types = [r["articleType"] for r in rows]
    train = np.ones(len(rows), bool)
    applies = applicability(values, types, train, 0.2)
    assert {"Tshirts", "Shirts"} <= set(applies)
    assert not {"Watches", "Sports Shoes", "Handbags"} & set(applies)
    targets = attribute_targets(values, types, applies)
    watch = types.index("Watches")
    assert targets[watch] == "n/a"
    unlabelled_shirt = next((i for i, (v, t) in enumerate(zip(values, types)) if t == "Tshirts" and not v), None)
    if unlabelled_shirt is not None:
        assert targets[unlabelled_shirt] == ""  # unknown, not n/a


def test_representatives_cover_both_kinds(full_vectors: tuple[np.ndarray, list[str]]) -> None:
    x, types = full_vectors
    watches = [i for i, t in enumerate(types) if t == "Watches"]
    shirts = [i for i, t in enumerate(types) if t == "Tshirts"][: max(2, len(watches) // 3)]
    assert len(watches) >= 6
    group = x[watches + shirts]
    picked = representatives(group, 4)
    assert len(set(picked.tolist())) == 4
    n = len(watches)
    assert any(p >= n for p in picked) and any(p < n for p in picked)  # the minority kind is represented
    assert representatives(group[:3], 8).tolist() == [0, 1, 2]
    assert representatives(group, 4).tolist() == picked.tolist()  # seeded


def test_recall_and_balanced_accuracy_by_hand() -> None:
    s = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.1], [0.1, 0.3, 0.7]])
    # query 0: truth 2 ranks 2nd; query 1: truth 1 ties with group 0 (a tie counts against); query 2: truth 2 first
    assert recall_at(s, np.array([2, 1, 2]), ks=(1, 2)) == {"R@1": round(1 / 3, 4), "R@2": 1.0}
    # per group: group 2 has queries 0 (miss at 1) and 2 (hit) -> 0.5; group 1 has query 1 (miss) -> 0; mean 0.25
    assert macro_recall_at(s, np.array([2, 1, 2]), ks=(1,)) == {"R@1": 0.25}
    assert balanced_accuracy(np.array(["a", "a", "a", "b"]), np.array(["a", "a", "b", "a"])) == pytest.approx(1 / 3)
    assert f1_threshold(np.array([0.9, 0.8, 0.2, 0.1]), np.array([True, True, False, False])) == 0.25
    assert f1_threshold(np.array([0.9, 0.1]), np.array([False, False])) == 0.5


@pytest.fixture(scope="module")
def full_vectors(lite0_subset_index: Path) -> tuple[np.ndarray, list[str]]:
    from vsearch.index.products import load_products

    products = load_products(lite0_subset_index)
    return products.x, products.column("articleType")
