"""Catalogue reading: labels in CSV/JSONL/Parquet, several photos per product, ids from names or folders."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from vsearch.catalog.reader import load_catalog
from vsearch.core.errors import CatalogError

IDS = ["10001", "10002", "10003"]


def _rows(products_224: Path) -> list[dict[str, str]]:
    with (products_224 / "labels.csv").open(newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    return [rows[i] for i in IDS]


def _copy_photos(products_224: Path, folder: Path) -> None:
    (folder / "images").mkdir(parents=True)
    for pid in IDS:
        shutil.copy(products_224 / "images" / f"{pid}.jpg", folder / "images" / f"{pid}.jpg")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_labels_formats_keep_metadata_and_repeated_ids(tmp_path: Path, products_224: Path, fmt: str) -> None:
    _copy_photos(products_224, tmp_path)
    rows = _rows(products_224) + [{**_rows(products_224)[0], "image": "images/10002.jpg"}]  # 2nd photo of 10001
    path = tmp_path / f"labels.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    cat = load_catalog(tmp_path)
    assert [p.product_id for p in cat.photos] == ["10001", "10002", "10003", "10001"]
    assert set(cat.products) == set(IDS)
    assert cat.products["10001"]["articleType"] == "Skirts"
    assert cat.title_column == "productDisplayName"
    assert cat.title("10003").startswith(_rows(products_224)[2]["productDisplayName"][:10])


def test_missing_photo_is_reported_not_fatal(tmp_path: Path, products_224: Path) -> None:
    _copy_photos(products_224, tmp_path)
    (tmp_path / "images" / "10002.jpg").unlink()
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_rows(products_224)[0]))
        writer.writeheader()
        writer.writerows(_rows(products_224))
    cat = load_catalog(tmp_path)
    assert [p.product_id for p in cat.photos] == ["10001", "10003"]
    assert cat.missing == [("images/10002.jpg", "file not found")]


def test_ids_from_file_names_and_from_view_folders(tmp_path: Path, products_224: Path) -> None:
    _copy_photos(products_224, tmp_path / "flat")
    assert sorted(p.product_id for p in load_catalog(tmp_path / "flat").photos) == IDS
    for pid in IDS:  # <id>/<view>.jpg: two views per product
        (tmp_path / "views" / pid).mkdir(parents=True)
        for view in ("front", "back"):
            shutil.copy(products_224 / "images" / f"{pid}.jpg", tmp_path / "views" / pid / f"{view}.jpg")
    cat = load_catalog(tmp_path / "views")
    assert sorted(p.product_id for p in cat.photos) == sorted(IDS * 2)
    assert load_catalog(tmp_path / "views", id_from="stem").photos[0].product_id in ("back", "front")


def test_bad_catalogues_raise(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="no photos"):
        load_catalog(tmp_path / "empty")
    (tmp_path / "noid").mkdir()
    (tmp_path / "noid" / "labels.csv").write_text("sku,image\n1,a.jpg\n")
    with pytest.raises(CatalogError, match="no 'id' column"):
        load_catalog(tmp_path / "noid")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "labels.jsonl").write_text('{"id": 1\n')
    with pytest.raises(CatalogError, match="line 1: not valid JSON"):
        load_catalog(tmp_path / "broken")
