"""The CLI as a user runs it: build, info, query (photos, text, like, batch), and one-line errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tests.catalog.test_images import make_odd_files
from vsearch.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_info_and_query_json_shape(tiny_index: Path, products_224: Path) -> None:
    code, out, _ = invoke("index", "info", "--index", str(tiny_index), "--json")
    info = json.loads(out)
    assert code == 0 and info["model"] == "tiny" and info["count"] == 300 and info["products"] == 300
    assert info["text_model"] == "minilm" and info["text_count"] == 300 and info["size_bytes"] > 0
    photo = products_224 / "images" / "10001.jpg"
    code, out, _ = invoke("query", str(photo), "-k", "5", "--index", str(tiny_index), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["query"] == str(photo)
    assert [r["rank"] for r in doc["results"]] == [1, 2, 3, 4, 5]
    assert doc["results"][0]["id"] == "10001" and doc["results"][0]["score"] > 0.999  # the photo itself
    assert "productDisplayName" in doc["results"][0]
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)


def test_text_and_like_queries(tiny_index: Path) -> None:
    code, out, _ = invoke("query", "--text", "Puma Men Black Sports Shoes", "-k", "3", "--index", str(tiny_index),
                          "--json")
    hits = json.loads(out)["results"]
    assert code == 0 and len(hits) == 3
    assert any("Shoes" in h["articleType"] for h in hits)  # MiniLM over titles is a real text model
    code, out, _ = invoke("query", "--like", "10001", "-k", "4", "--index", str(tiny_index), "--json")
    ids = [h["id"] for h in json.loads(out)["results"]]
    assert code == 0 and len(ids) == 4 and "10001" not in ids


def test_several_photos_per_product_never_repeat_a_product(tmp_path: Path, products_224: Path) -> None:
    """Two photos per product (labels with repeated ids): results are per product, best photo scored."""
    from PIL import Image, ImageOps

    rows = list(csv.DictReader((products_224 / "labels.csv").open()))[:40]
    (tmp_path / "cat" / "images").mkdir(parents=True)
    out_rows = []
    for row in rows:
        src = products_224 / row["image"]
        shutil.copy(src, tmp_path / "cat" / "images" / f"{row['id']}_a.jpg")
        ImageOps.mirror(Image.open(src)).save(tmp_path / "cat" / "images" / f"{row['id']}_b.jpg")
        out_rows += [{**row, "image": f"images/{row['id']}_{v}.jpg"} for v in "ab"]
    with (tmp_path / "cat" / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(out_rows[0]))
        writer.writeheader()
        writer.writerows(out_rows)
    index = tmp_path / "idx"
    code, out, err = invoke("index", "build", str(tmp_path / "cat"), "--index", str(index), "--model", "tiny",
                            "--no-titles", "--workers", "0", "--json")
    report = json.loads(out)
    assert code == 0 and report["vectors"] == 80 and report["products"] == 40
    code, out, _ = invoke("query", str(tmp_path / "cat" / "images" / f"{rows[3]['id']}_b.jpg"), "-k", "40",
                          "--index", str(index), "--json")
    ids = [h["id"] for h in json.loads(out)["results"]]
    assert len(ids) == len(set(ids)) == 40 and ids[0] == rows[3]["id"]


def test_bad_photos_are_skipped_and_named(tmp_path: Path, products_224: Path) -> None:
    bad, good = make_odd_files(tmp_path / "cat", products_224)
    code, out, err = invoke("index", "build", str(tmp_path / "cat"), "--index", str(tmp_path / "idx"), "--model",
                            "tiny", "--workers", "1", "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["photos_embedded"] == len(good) and report["vectors"] == len(good)
    named = {Path(item["path"]).name: item["reason"] for item in report["bad"]}
    assert set(named) == set(bad)
    for name, reason in bad.items():
        assert reason in named[name], (name, named[name])


def test_resume_reuses_and_model_mismatch_is_refused(tmp_path: Path, subset_catalog: Path) -> None:
    index = str(tmp_path / "idx")
    args = ("index", "build", str(subset_catalog), "--index", index, "--no-titles", "--workers", "0", "--json")
    code, out, _ = invoke(*args, "--model", "tiny")
    assert code == 0 and json.loads(out)["photos_embedded"] == 300
    code, out, _ = invoke(*args, "--model", "tiny")
    again = json.loads(out)
    assert code == 0 and again["photos_embedded"] == 0 and again["photos_reused"] == 300 and again["vectors"] == 300
    code, _, err = invoke(*args, "--model", "timm:tf_efficientnet_lite0")
    assert code == 1 and "tiny" in err and "Traceback" not in err
    code, _, err = invoke("query", str(subset_catalog / "labels.csv"), "--index", index, "--model",
                          "timm:tf_efficientnet_lite0")
    assert code == 1 and "built with model tiny" in err


def test_batch_queries_one_json_line_each(tmp_path: Path, tiny_index: Path, products_224: Path) -> None:
    listing = tmp_path / "photos.txt"
    listing.write_text(f"{products_224 / 'images' / '10001.jpg'}\n# comment\n{tmp_path / 'nope.jpg'}\n"
                       f"{products_224 / 'images' / '10003.jpg'}\n")
    code, out, _ = invoke("query", "--batch", str(listing), "-k", "2", "--index", str(tiny_index), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 3
    assert [len(doc["results"]) for doc in lines] == [2, 0, 2] and "no such file" in lines[1]["error"]


def test_user_errors_are_one_line(tmp_path: Path, tiny_index: Path, products_224: Path) -> None:
    photo = str(products_224 / "images" / "10001.jpg")
    (tmp_path / "empty").mkdir()
    cases = [
        ("query", photo, "--index", str(tmp_path / "missing")),
        ("query", str(tmp_path / "missing.jpg"), "--index", str(tiny_index)),
        ("query", photo, "--text", "x", "--index", str(tiny_index)),
        ("query", "--like", "no-such-id", "--index", str(tiny_index)),
        ("index", "build", str(tmp_path / "empty"), "--index", str(tmp_path / "i1"), "--model", "tiny"),
        ("index", "build", str(tmp_path / "nowhere"), "--index", str(tmp_path / "i2")),
        ("index", "build", str(products_224), "--index", str(tmp_path / "i3"), "--model", "no-such-model"),
        ("index", "info", "--index", str(tmp_path / "missing")),
    ]
    for args in cases:
        code, out, err = invoke(*args)
        assert code != 0, args
        assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) <= 2, (args, err)
