"""`vsearch train retrieval` end to end: real shop images and phone photos, the head stamped into the index."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.index.manifest import read_manifest
from vsearch.index.search import Searcher
from vsearch.models.retrieval_head import load_head

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(grocery: Path, grocery_rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("retrieval")
    real = tmp / "real.csv"
    seen: set[str] = set()
    with real.open("w", newline="") as fh:  # one train photo per product keeps the test fast
        w = csv.DictWriter(fh, fieldnames=["id", "image", "split"])
        w.writeheader()
        for r in grocery_rows:
            if r["source"] == "phone" and r["id"] not in seen:
                seen.add(r["id"])
                w.writerow({"id": r["id"], "image": str(grocery / r["image"]), "split": r["split"]})
        w.writerow({"id": "not-in-catalogue", "image": str(grocery / r["image"]), "split": "train"})
    index = tmp / "index"
    res = runner.invoke(app, ["train", "retrieval", "--index", str(index), "--catalog", str(grocery / "shop"),
                              "--id-from", "folder", "--real-photos", str(real), "--real-where", "split=train",
                              "--views", "1", "--steps", "30", "--dim", "64", "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["products"] == 31 and report["synthetic_views"] == 31
    assert report["real_photos"] == 31 and report["real_photos_skipped"] == 1
    return index


def test_index_is_built_with_the_stamped_head_and_queries_use_it(trained: Path, grocery: Path) -> None:
    manifest, head = read_manifest(trained), load_head(trained / "heads" / "retrieval.pt")
    assert manifest.dim == 1280 + 64 == head.out_dim
    assert manifest.weights_id.endswith(f"+retrieval:{head.head_id}")
    val = next(p for p in (grocery / "phone" / "val").rglob("*.jpg"))
    with Searcher(trained, device="cpu") as s:
        hits = s.search_photos([val], k=31)
    assert len(hits) == 31 and len({h.id for h in hits}) == 31


def test_a_changed_or_missing_head_is_a_one_line_error(trained: Path, grocery: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    path = copy / "heads" / "retrieval.pt"
    raw = torch.load(path, weights_only=True)
    raw["weights"] = raw["weights"] * 2 + 0.01
    torch.save(raw, path)
    photo = str(next((grocery / "phone" / "val").rglob("*.jpg")))
    res = runner.invoke(app, ["query", photo, "--index", str(copy)])
    assert res.exit_code == 1 and "retrieval:" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    path.unlink()
    res = runner.invoke(app, ["index", "add", str(grocery / "shop"), "--index", str(copy), "--id-from", "folder",
                              "--json"])
    assert res.exit_code == 1 and "missing" in json.loads(res.stdout)["error"]


def test_retraining_needs_replace_and_index_add_keeps_the_head(trained: Path, grocery: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    args = ["train", "retrieval", "--index", str(copy), "--catalog", str(grocery / "shop"), "--id-from", "folder",
            "--views", "1", "--steps", "5", "--dim", "32", "--device", "cpu", "--no-titles"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "--replace" in res.output
    res = runner.invoke(app, [*args, "--replace", "--json"])
    assert res.exit_code == 0, res.output
    assert read_manifest(copy).dim == 1280 + 32
    res = runner.invoke(app, ["index", "add", str(grocery / "shop"), "--index", str(copy), "--id-from", "folder",
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["photos_reused"] == 31


def test_query_ocr_reranks_by_package_text(trained: Path, grocery: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    from vsearch.catalog.reader import load_catalog
    from vsearch.retrieval.rerank import CATALOG_TEXT, write_catalog_text

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    photo = str(next((grocery / "phone" / "val").rglob("*.jpg")))
    res = runner.invoke(app, ["query", photo, "--index", str(copy), "--ocr"])
    assert res.exit_code == 1 and "--ocr" in res.output and len(res.output.strip().splitlines()) == 1
    assert write_catalog_text(copy, load_catalog(grocery / "shop", id_from="folder")) == 31
    texts = json.loads((copy / CATALOG_TEXT).read_text())
    assert "BRAVO" in texts["Bravo-Apple-Juice"].upper()
    plain = json.loads(runner.invoke(app, ["query", photo, "--index", str(copy), "-k", "31", "--json"]).stdout)
    res = runner.invoke(app, ["query", photo, "--index", str(copy), "-k", "5", "--ocr", "--json"])
    assert res.exit_code == 0, res.output
    fused = json.loads(res.stdout)["results"]
    assert [h["rank"] for h in fused] == [1, 2, 3, 4, 5]
    image = {h["id"]: h["score"] for h in plain["results"]}
    assert all(h["score"] >= image[h["id"]] - 1e-4 for h in fused)  # text only adds
    assert [h["score"] for h in fused] == sorted((h["score"] for h in fused), reverse=True)


def test_index_build_resumes_with_the_head_and_refuses_another_backbone(trained: Path, grocery: Path,
                                                                         tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    args = ["index", "build", str(grocery / "shop"), "--index", str(copy), "--id-from", "folder", "--device", "cpu"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["photos_reused"] == 31
    res = runner.invoke(app, [*args, "--model", "tiny"])
    assert res.exit_code == 1 and "retrieval head was trained on" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_every_photo_path_into_the_index_applies_its_head(trained: Path, grocery: Path) -> None:
    """classify's photo features and the Searcher's query vectors come from one factory: same head, same vectors
    (classify used to build the bare backbone and was refused by the manifest check)."""
    import numpy as np

    from vsearch.classify.photo import embed_files

    photos = sorted(str(p) for p in (grocery / "phone" / "val").rglob("*.jpg"))[:3]
    with Searcher(trained, device="cpu") as s:
        query = s.embed_photos(photos)
    features = embed_files(trained, photos, device="cpu")
    assert features.shape == (3, read_manifest(trained).dim)
    assert np.allclose(features, query, atol=1e-5)
