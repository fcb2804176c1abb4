"""Text <-> image alignment on real image-title pairs: title -> image recall, text search, zero-shot tags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.tags.align import AlignConfig, recall_at

FAST = AlignConfig(hidden=512, epochs=8, patience=3)


@pytest.fixture(scope="module")
def aligned_index(full_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from vsearch.tags.align import train_align

    index = tmp_path_factory.mktemp("align") / "index"
    shutil.copytree(full_index, index)
    return index, train_align(index, cfg=FAST)


def test_recall_by_hand() -> None:
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    # every query scores its own item highest (1.0, 1.0, 0.96)
    assert recall_at(queries, gallery, np.array([0, 1, 2]), ks=(1,)) == {"R@1": 1.0}
    # ask for the wrong truth: query 2 -> item 0 scores 0.6, behind 0.96 and 0.8 -> rank 3
    assert recall_at(queries, gallery, np.array([0, 1, 0]), ks=(1, 2, 3)) == {"R@1": 0.6667, "R@2": 0.6667,
                                                                              "R@3": 1.0}


def test_title_to_image_recall_on_test_split(aligned_index: tuple[Path, dict]) -> None:
    _, report = aligned_index
    rec = report["title_to_image_recall"]
    n = report["gallery_sizes"]["test_split"]
    assert n > 1000 and report["pairs"]["train"] > 5000
    assert rec["gallery_test_split"]["R@10"] >= 0.4  # chance is 10 / n < 0.01
    assert rec["gallery_full_catalogue"]["R@10"] >= 0.15  # chance is 10 / 8146


def test_text_search_goes_through_image_space(aligned_index: tuple[Path, dict]) -> None:
    from vsearch.core.split import split_of
    from vsearch.index.aligner import load_aligner
    from vsearch.index.search import Searcher

    index, _ = aligned_index
    with Searcher(index) as searcher:
        products = dict(searcher.store.iter_products())
        test_ids = [pid for pid in products if split_of(pid) == "test"][:40]
        found = 0
        for pid in test_ids:
            hits = searcher.search_text(products[pid]["productDisplayName"], k=10)
            found += pid in {h.id for h in hits}
        title = products[test_ids[0]]["productDisplayName"]
        hit = searcher.search_text(title, k=1)[0]
        query = load_aligner(index).map_texts(searcher.text_embedder.encode_texts([title]))[0]
        image = searcher.store.product_vectors(hit.id, "image")[0]
    assert found / len(test_ids) >= 0.15
    assert hit.score == pytest.approx(float(query @ image), abs=2e-2)  # scored against the photo, not the title


def test_without_alignment_text_search_uses_titles(full_index: Path) -> None:
    from vsearch.index.search import Searcher

    with Searcher(full_index) as searcher:
        pid, meta = next(iter(searcher.store.iter_products()))
        hits = searcher.search_text(meta["productDisplayName"], k=5)
    assert hits[0].score > 0.99 and hits[0].metadata["productDisplayName"] == meta["productDisplayName"]


def test_zero_shot_tags_follow_real_usage(aligned_index: tuple[Path, dict]) -> None:
    """No labels were used, yet 'sporty' should fire far more often on products whose usage is Sports."""
    from vsearch.index.store import Store
    from vsearch.tags.features import load_features
    from vsearch.tags.tagger import Tagger

    index, _ = aligned_index
    tagger = Tagger(index)
    with Store(index / "store.lmdb", readonly=True) as store:
        products = dict(store.iter_products())
        feats = load_features(store, ["image"], cache=False)
    preds = tagger.predict(feats.parts)
    assert all(t["zero_shot"] for p in preds for t in p["tags"])
    sporty = np.array([any(t["tag"] == "sporty" for t in p["tags"]) for p in preds])
    usage = np.array([products[pid]["usage"] for pid in feats.ids])
    assert 0.07 < sporty.mean() < 0.13  # the threshold is the catalogue's 90th percentile
    assert sporty[usage == "Sports"].mean() > 2 * sporty[usage != "Sports"].mean()


def test_text_column_reuses_or_embeds(aligned_index: tuple[Path, dict]) -> None:
    from vsearch.index.store import Store
    from vsearch.models import create_text_embedder
    from vsearch.tags.align import _title_vectors

    index, _ = aligned_index
    text = create_text_embedder(device="cpu")
    with Store(index / "store.lmdb", readonly=True) as store:
        ids = [pid for pid, _ in store.iter_products()][:30]
        stored = np.stack([store.product_vectors(pid, "title")[0] for pid in ids])
        same = _title_vectors(store, ids, "productDisplayName", text)
        other = _title_vectors(store, ids, "articleType", text)
    np.testing.assert_allclose(same, stored, atol=1e-6)
    assert float(np.mean(np.sum(other * stored, axis=1))) < 0.9


def test_cli_text_query_json(aligned_index: tuple[Path, dict]) -> None:
    index, _ = aligned_index
    res = CliRunner().invoke(app, ["query", "--text", "red floral summer dress", "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    assert len(results) == 10 and all(r["score"] < 0.99 for r in results)


def test_open_clip_index_uses_its_own_text_tower(products_224: Path, tmp_path: Path) -> None:
    """Mechanics only (no CLIP weights offline): a random-init open_clip index answers text in its image space."""
    import csv

    from vsearch.catalog.reader import load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.index.search import Searcher
    from vsearch.models import create_embedder
    from vsearch.tags.align import train_align
    from vsearch.tags.tagger import Tagger

    with (products_224 / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))[::400][:16]
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "image": str(products_224 / r["image"])} for r in rows)
    index = tmp_path / "clip"
    embedder = create_embedder("open_clip:ViT-S-32", device="cpu", precision="fp32")
    build_catalog_index(load_catalog(labels, allow_outside_paths=True), index, embedder, None, workers=0)
    report = train_align(index, zero_shot_words={"sporty": ["sporty"], "formal": ["formal"]})
    assert report["native"] is True
    with Searcher(index) as searcher:
        hits = searcher.search_text("blue shirt", k=3)
        query = embedder.encode_texts(["blue shirt"])[0]  # type: ignore[attr-defined]
        image = searcher.store.product_vectors(hits[0].id, "image")[0]
    assert hits[0].score == pytest.approx(float(query @ image), abs=2e-2)
    [result] = Tagger(index).tag_photos([products_224 / rows[0]["image"]])
    assert all(t["zero_shot"] and t["prob"] >= 0.9 for t in result["tags"])
