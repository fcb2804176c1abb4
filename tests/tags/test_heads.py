"""Attribute heads trained on real Lite0 embeddings of real products-224 photos, judged on held-out products."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vsearch.core.errors import IndexMismatchError, IndexMissingError
from vsearch.index.heads import HeadGroup, HeadSpec, build_head, load_group, save_group
from vsearch.index.manifest import heads_path
from vsearch.tags.rules import RULES_VERSION, apply_rules
from vsearch.tags.train import TrainConfig, calibrate_thresholds, classification_metrics, train_multiclass

FAST = TrainConfig(hidden=0, epochs=12, patience=4, batch_size=512, lr=3e-3)  # linear heads: seconds on CPU


def copy_index(src: Path, dst: Path) -> Path:
    """The shared full index is read-only: heads and colour vectors are written into a copy."""
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def attributes_index(full_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from vsearch.tags.train_heads import train_attributes

    index = copy_index(full_index, tmp_path_factory.mktemp("attr") / "index")
    report = train_attributes(index, ["articleType", "baseColour", "gender"], rules=("pattern",), stages=True,
                              cfg=FAST)
    return index, report


@pytest.mark.parametrize(("title", "pattern", "sleeve"), [
    ("Turtle Check Men Navy Blue Shirt", "checked", None),
    ("Arrow Men Striped Printed Blue Shirt", "striped", None),  # priority: striped before printed
    ("Jealous 21 Women Polka Dot Black Top", "polka dot", None),
    ("Inkfruit Men Solid Sleeveless Vest", "solid", "sleeveless"),
    ("Proline Men Half Sleeve Red T-shirt", None, "short"),
    ("Basics Men Full Sleeve Checked Shirt", "checked", "long"),
    ("Puma Men Black Polo T-shirt", None, "short"),
    ("Titan Women Silver Watch", None, None),
    ("Stripes of Paris Women Bag", "striped", None),  # a rule reads words, not brands: a known limit
])
def test_title_rules(title: str, pattern: str | None, sleeve: str | None) -> None:
    assert apply_rules(title, "pattern") == pattern
    assert apply_rules(title, "sleeve") == sleeve


def test_metrics_by_hand() -> None:
    m = classification_metrics(["a", "a", "b", "c"], ["a", "b", "b", "c"])
    assert m["accuracy"] == 0.75
    # a: P 1 R .5 F .667 (2); b: P .5 R 1 F .667 (1); c: 1 (1) -> weighted (2*.667+.667+1)/4, macro (.667+.667+1)/3
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 / 3 + 1) / 4, abs=1e-4)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3, abs=1e-4)
    assert m["confusion"] == {"labels": ["a", "b", "c"], "matrix": [[1, 1, 0], [0, 1, 0], [0, 0, 1]]}
    prob = np.array([[0.9, 0.2], [0.6, 0.1], [0.3, 0.05], [0.1, 0.4]])
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]], np.float32)
    # tag 0: any threshold in (0.3, 0.6] separates perfectly, the grid's first such is 0.35; tag 1 has no positives
    assert calibrate_thresholds(prob, y) == [0.35, 0.5]


def test_attribute_heads_beat_majority_on_test_split(attributes_index: tuple[Path, dict]) -> None:
    _, report = attributes_index
    heads = report["heads"]
    art, colour = heads["articleType"], heads["baseColour"]
    assert art["test"] > 1000 and art["train"] > 5000  # the split, not a sample: held-out products only
    assert art["accuracy"] >= art["majority_baseline"]["accuracy"] + 0.5
    assert art["weighted_f1"] >= 0.80
    assert colour["accuracy"] >= colour["majority_baseline"]["accuracy"] + 0.3
    assert heads["gender"]["accuracy"] >= heads["gender"]["majority_baseline"]["accuracy"] + 0.2
    pattern = heads["pattern"]
    assert pattern["test"] > 300 and "title rule" in pattern["note"]
    assert pattern["accuracy"] >= pattern["majority_baseline"]["accuracy"] + 0.1
    for name in ("articleType", "baseColour"):
        per_class = heads[name]["per_class"]
        assert sum(c["support"] for c in per_class.values()) == heads[name]["test"]
        matrix = np.asarray(heads[name]["confusion"]["matrix"])
        assert matrix.sum() == heads[name]["test"] and np.trace(matrix) / matrix.sum() == pytest.approx(
            heads[name]["accuracy"], abs=1e-3)


def test_checkpoint_round_trip_and_backbone_stamp(attributes_index: tuple[Path, dict], tmp_path: Path) -> None:
    index, _ = attributes_index
    path = heads_path(index, "attributes")
    group = load_group(path)
    assert group.extra["rules_version"] == RULES_VERSION
    spec, head = group.heads["articleType"]
    assert "Shirts" in spec.labels and spec.inputs == ["image", "colour", "stages"]
    assert spec.source == "column:articleType" and group.heads["pattern"][0].source.startswith("rules:")
    x = np.random.default_rng(0).normal(size=(4, spec.in_dim)).astype(np.float32)
    copy = tmp_path / "a.pt"
    save_group(copy, group)
    again = load_group(copy, group.backbone)
    np.testing.assert_array_equal(again.heads["articleType"][1].predict(x), head.predict(x))
    assert (tmp_path / "a.json").is_file()
    with pytest.raises(IndexMismatchError, match="trained on timm:tf_efficientnet_lite0"):
        load_group(copy, {**group.backbone, "model": "tiny"})
    with pytest.raises(IndexMismatchError):
        load_group(copy, {**group.backbone, "weights_id": "other"})
    with pytest.raises(IndexMissingError):
        load_group(tmp_path / "missing.pt")


def test_random_heads_do_not_pass(attributes_index: tuple[Path, dict]) -> None:
    """The same evaluation on an untrained head is near chance: the thresholds above can fail."""
    from vsearch.index.store import Store
    from vsearch.tags.features import load_features

    index, report = attributes_index
    spec, _ = load_group(heads_path(index, "attributes")).heads["articleType"]
    with Store(index / "store.lmdb", readonly=True) as store:
        products = dict(store.iter_products())
        feats = load_features(store, spec.inputs, cache=False)  # stage features: stored by the fixture
    random_head = build_head(spec)
    test = feats.split == "test"
    pred = np.asarray(spec.labels)[random_head.predict(feats.x[test]).argmax(axis=1)]
    truth = np.asarray([products[p]["articleType"] for p, t in zip(feats.ids, test) if t])
    assert float((pred == truth).mean()) < report["heads"]["articleType"]["majority_baseline"]["accuracy"] + 0.1


def test_training_is_deterministic(full_index: Path) -> None:
    from vsearch.index.store import Store
    from vsearch.tags.features import load_features

    with Store(full_index / "store.lmdb", readonly=True) as store:
        products = dict(store.iter_products())
        feats = load_features(store, ["image"], cache=False)
    rows = np.arange(0, len(feats.ids), 4)
    labels = [products[feats.ids[i]]["masterCategory"] for i in rows]
    cfg = TrainConfig(hidden=0, epochs=3)
    runs = [train_multiclass("m", feats.x[rows], labels, feats.split[rows], ["image"], cfg) for _ in range(2)]
    x = feats.x[rows[:20]]
    np.testing.assert_array_equal(runs[0][1].predict(x), runs[1][1].predict(x))
    assert runs[0][2]["accuracy"] > runs[0][2]["majority_baseline"]["accuracy"]


def test_group_file_is_written_atomically(tmp_path: Path) -> None:
    spec = HeadSpec("x", "multiclass", ["a", "b"], ["image"], 4, 2)
    group = HeadGroup("attributes", {"model": "m", "weights_id": "w", "dim": 4}, {"x": (spec, build_head(spec))})
    save_group(tmp_path / "heads" / "attributes.pt", group)
    assert sorted(p.name for p in (tmp_path / "heads").iterdir()) == ["attributes.json", "attributes.pt"]


def test_stage_features_see_colour(attributes_index: tuple[Path, dict]) -> None:
    """Pooled stage maps carry the colour the final ImageNet embedding drops: alone, they beat it on baseColour."""
    from vsearch.index.store import Store
    from vsearch.tags.features import load_features

    index, _ = attributes_index
    with Store(index / "store.lmdb", readonly=True) as store:
        products = dict(store.iter_products())
        feats = load_features(store, ["image", "stages"], cache=False)
    labels = [products[pid]["baseColour"] for pid in feats.ids]
    accuracy = {kind: train_multiclass("baseColour", feats.parts[kind], labels, feats.split, [kind], FAST)[2][
        "accuracy"] for kind in ("image", "stages")}
    assert accuracy["stages"] >= accuracy["image"] + 0.04, accuracy


def test_stage_features_of_new_photos_match_stored(attributes_index: tuple[Path, dict], products_224: Path) -> None:
    """`vsearch tag` computes stage features of a new photo as training computed them for indexed photos."""
    import torch

    from vsearch.catalog.images import load_image
    from vsearch.index.store import Store
    from vsearch.models.stages import stage_features
    from vsearch.tags.features import vectors_by_source
    from vsearch.tags.tagger import Tagger

    index, _ = attributes_index
    tagger = Tagger(index)
    assert "stages" in tagger.inputs
    with Store(index / "store.lmdb", readonly=True) as store:
        stored = vectors_by_source(store, "stages")
    sources = sorted(stored)[:6]
    live = stage_features(tagger.embedder, torch.stack([tagger.embedder.transform(load_image(s)) for s in sources]))
    channels = sum(info["num_chs"] for info in tagger.embedder.model.feature_info)  # type: ignore[attr-defined]
    assert live.shape == (6, 2 * channels)
    want = np.stack([stored[s] for s in sources]).astype(np.float32)
    cos = (live * want).sum(axis=1) / np.linalg.norm(live, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() > 0.99, cos
    out = tagger.tag_photos(sources[:2])
    assert set(out[0]["attributes"]) == {"articleType", "baseColour", "gender", "pattern"}


def test_head_inputs_follow_the_backbone() -> None:
    from vsearch.index.manifest import Manifest
    from vsearch.tags.features import head_inputs

    def manifest(model: str) -> Manifest:
        return Manifest(model=model, weights_id="w", dim=512, preprocess={})

    assert head_inputs(manifest("timm:tf_efficientnet_lite0"), True, True) == ["image", "colour", "stages"]
    assert head_inputs(manifest("open_clip:ViT-B-32/laion2b_s34b_b79k"), True, True) == ["image", "colour"]
    assert head_inputs(manifest("timm:tf_efficientnet_lite0"), False, False) == ["image"]
