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


# -- the smaller items (#14), each checked through the real CLI ------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_labels_csv_shape_errors_name_the_line(tmp_path: Path, products_224: Path) -> None:
    (tmp_path / "c" / "images").mkdir(parents=True)
    shutil.copyfile(products_224 / "images" / "10001.jpg", tmp_path / "c" / "images" / "a.jpg")
    cases = {"id,image,id\n1,images/a.jpg,2\n": "line 1: column 'id' appears more than once",
             "id,image\n1,images/a.jpg\nid,image\n2,images/a.jpg\n": "line 3: the header row is repeated",
             "id,image,title\n1,images/a.jpg,x\n2,images/a.jpg\n": "line 3: 2 fields, the header has 3"}
    for text, want in cases.items():
        labels = _write(tmp_path / "c" / "labels.csv", text)
        code, _, err = invoke("index", "build", str(labels), "-m", "tiny", "--index", str(tmp_path / "i"))
        assert code == 1 and want in err and err.count("\n") == 1, (text, err)


def test_query_input_errors_come_before_the_model_and_are_one_line(tiny_index: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_index, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "model": "timm:no_such_model_anywhere"}))
    cases = {("query", str(tmp_path)): "a folder, not a photo",  # a directory as a photo
             ("query", str(tmp_path / "nope.jpg")): "no such file",
             ("query", "--text", ""): "--text is empty",
             ("query", "--like", "10001", "--title-weight", "2"): "--title-weight must be in 0..1",
             ("query", "--batch", str(_write(tmp_path / "blank.txt", "\n  \n\n"))): "lists no photo paths",
             ("query", str(tmp_path / "nope.jpg"), "-k", "0"): "-k must be at least 1"}
    for args, want in cases.items():  # the index's model cannot even load: these must fail before it is tried
        code, _, err = invoke(*args, "--index", str(broken))
        assert code == 1 and err.startswith("error:") and want in err and err.count("\n") == 1, (args, err)
        code, out, _ = invoke(*args, "--index", str(broken), "--json")
        assert code == 1 and want in json.loads(out)["error"]


def test_batch_from_stdin_and_scores_clamped(tiny_index: Path, subset_catalog: Path) -> None:
    with (subset_catalog / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:2]
    photos = [str(subset_catalog / r["image"]) for r in rows]
    result = runner.invoke(app, ["query", "--batch", "-", "-k", "2", "--index", str(tiny_index), "--json"],
                           input="\n".join(photos) + "\n")
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["query"] for d in docs] == photos
    for doc, pid in zip(docs, [r["id"] for r in rows]):  # each photo finds its own product first, scored <= 1
        assert doc["results"][0]["id"] == pid and 0.99 <= doc["results"][0]["score"] <= 1.0
        assert all(r["score"] <= 1.0 for r in doc["results"])


def test_query_during_an_interrupted_write_warns_on_one_line(tiny_index: Path, tmp_path: Path,
                                                            products_224: Path) -> None:
    from vsearch.index.store import Store

    index = tmp_path / "behind"
    shutil.copytree(tiny_index, index)
    with Store(index / "store.lmdb") as store:  # the state a writer leaves between its commit and its publish
        store.remove_products(["10001"])
    code, out, err = invoke("query", str(products_224 / "images" / "10001.jpg"), "--index", str(index), "--json")
    assert code == 0 and "10001" not in {r["id"] for r in json.loads(out)["results"]}
    warnings = [line for line in err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning:") and "behind its store" in warnings[0]
