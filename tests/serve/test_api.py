"""The HTTP API of a real server: good queries, the live index, and every bad input's status and JSON error."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.serve.conftest import get_json


def indexed_rows(serve_index: Path) -> list[dict[str, str]]:
    with (serve_index.parent / "catalog" / "labels.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def photo_of(serve_index: Path, row: dict[str, str]) -> bytes:
    return (serve_index.parent / "catalog" / row["image"]).read_bytes()


def test_health_and_openapi(server: str, serve_index: Path) -> None:
    status, body = get_json(server + "/api/health")
    assert status == 200 and body["products"] == len(indexed_rows(serve_index))
    assert body["model"].startswith("timm:") and body["generation"] >= 1
    assert "/api/search" in httpx.get(server + "/openapi.json").json()["paths"]


def test_photo_search_finds_the_product_and_matches_the_cli(server: str, serve_index: Path) -> None:
    row = indexed_rows(serve_index)[7]
    res = httpx.post(server + "/api/search", files={"photo": ("q.jpg", photo_of(serve_index, row), "image/jpeg")},
                     data={"k": "5"}, timeout=60)
    assert res.status_code == 200, res.text
    body = res.json()
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]
    assert body["results"][0]["id"] == row["id"] and body["results"][0]["score"] == pytest.approx(1.0, abs=1e-3)
    cli = subprocess.run([sys.executable, "-m", "vsearch", "query", str(serve_index.parent / "catalog" / row["image"]),
                          "--index", str(serve_index), "-k", "5", "--json"], capture_output=True, text=True, check=True)
    import json

    assert [r["id"] for r in json.loads(cli.stdout)["results"]] == [r["id"] for r in body["results"]]


def test_text_like_where_and_products(server: str, serve_index: Path) -> None:
    rows = indexed_rows(serve_index)
    shirts = [r for r in rows if r["articleType"] == "Tshirts"]
    text = httpx.post(server + "/api/search", json={"text": shirts[0]["productDisplayName"], "k": 3}).json()
    assert text["results"][0]["id"] == shirts[0]["id"]  # a title finds its own product in the title index
    like = httpx.post(server + "/api/search", json={"like": rows[3]["id"], "k": 4,
                                                    "where": ["articleType=Tshirts"]}).json()
    assert like["query"] == rows[3]["id"] and rows[3]["id"] not in [r["id"] for r in like["results"]]
    assert like["results"] and all(r["articleType"] == "Tshirts" for r in like["results"])
    product = httpx.get(f"{server}/api/products/{rows[3]['id']}").json()
    assert product["productDisplayName"] == rows[3]["productDisplayName"]
    image = httpx.get(f"{server}/api/products/{rows[3]['id']}/image")
    assert image.status_code == 200 and image.content == photo_of(serve_index, rows[3])
    columns = httpx.get(server + "/api/columns").json()["columns"]
    assert "Tshirts" in columns["articleType"]


def test_page_is_served(server: str) -> None:
    page = httpx.get(server + "/")
    assert page.status_code == 200 and 'capture="environment"' in page.text and "More like this" in page.text


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (width, height)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


@pytest.mark.parametrize(("kind", "status"), [("big-bytes", 413), ("megapixels", 413), ("not-image", 415),
                                              ("empty", 415), ("k-zero", 422), ("k-huge", 422), ("k-text", 422),
                                              ("unknown-like", 404), ("unknown-product", 404),
                                              ("unknown-image", 404), ("no-query", 422), ("both", 422),
                                              ("bad-json", 422), ("empty-text", 422), ("bad-where", 400),
                                              ("no-photo", 422)])
def test_bad_input_is_a_json_error(server: str, kind: str, status: int) -> None:
    post = f"{server}/api/search"
    jpeg = ("q.jpg", b"\xff\xd8" + b"0" * (21 * 1024 * 1024), "image/jpeg")
    calls = {
        "big-bytes": lambda: httpx.post(post, files={"photo": jpeg}, timeout=60),
        "megapixels": lambda: httpx.post(post, files={"photo": ("big.png", _png(8000, 7000), "image/png")}),
        "not-image": lambda: httpx.post(post, files={"photo": ("a.jpg", b"hello, not a photo", "image/jpeg")}),
        "empty": lambda: httpx.post(post, files={"photo": ("a.jpg", b"", "image/jpeg")}),
        "k-zero": lambda: httpx.post(post, json={"text": "shirt", "k": 0}),
        "k-huge": lambda: httpx.post(post, json={"text": "shirt", "k": 1001}),
        "k-text": lambda: httpx.post(post, json={"text": "shirt", "k": "ten"}),
        "unknown-like": lambda: httpx.post(post, json={"like": "no-such-id"}),
        "unknown-product": lambda: httpx.get(f"{server}/api/products/no-such-id"),
        "unknown-image": lambda: httpx.get(f"{server}/api/products/no-such-id/image"),
        "no-query": lambda: httpx.post(post, json={"k": 3}),
        "both": lambda: httpx.post(post, json={"text": "shirt", "like": "1"}),
        "bad-json": lambda: httpx.post(post, content=b"{not json", headers={"content-type": "application/json"}),
        "empty-text": lambda: httpx.post(post, json={"text": "  "}),
        "bad-where": lambda: httpx.post(post, json={"text": "shirt", "where": ["nosuchcolumn=1"]}),
        "no-photo": lambda: httpx.post(post, files={"other": ("a.txt", b"x", "text/plain")}),
    }
    res = calls[kind]()
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"error"} and body["error"] and "Traceback" not in body["error"]


def test_live_index_answers_from_the_new_generation(server: str, serve_index: Path, products_224: Path,
                                                    tmp_path: Path) -> None:
    """`vsearch index add` in another process: the running server finds the new products within seconds."""
    before = get_json(server + "/api/health")[1]
    indexed = {r["id"] for r in indexed_rows(serve_index)}
    with (products_224 / "labels.csv").open(newline="") as fh:
        new_rows = [r for r in csv.DictReader(fh) if r["id"] not in indexed][13::997][:5]
    new = tmp_path / "new"
    (new / "images").mkdir(parents=True)
    with (new / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(new_rows[0]))
        writer.writeheader()
        for row in new_rows:
            row["image"] = f"images/{Path(row['image']).name}"
            shutil.copyfile(products_224 / "images" / Path(row["image"]).name, new / row["image"])
            writer.writerow(row)
    subprocess.run([sys.executable, "-m", "vsearch", "index", "add", str(new), "--index", str(serve_index)],
                   check=True, capture_output=True, text=True)
    deadline = time.monotonic() + 10
    while get_json(server + "/api/health")[1]["products"] != before["products"] + 5:
        assert time.monotonic() < deadline, "the server did not pick up the new generation within 10 s"
        time.sleep(0.2)
    res = httpx.post(server + "/api/search", files={"photo": ("q.jpg", (new / new_rows[0]["image"]).read_bytes(),
                                                              "image/jpeg")}, data={"k": "3"}, timeout=60)
    assert res.json()["results"][0]["id"] == new_rows[0]["id"]
