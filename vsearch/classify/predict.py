"""Predict inputs: titles and/or photos from the command line or a batch CSV (id,title,image)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.classify.errors import ClassifyError
from vsearch.classify.model import CategoryModel

CHUNK = 4096


def rows_from_args(titles: list[str], photos: list[Path]) -> list[dict[str, str]]:
    """Titles (and photos, paired by position, or photos alone) as predict rows with ids 1, 2, ..."""
    if not titles and not photos:
        raise ClassifyError("give titles, --photo or --batch F.csv")
    if titles and photos and len(titles) != len(photos):
        raise ClassifyError(f"{len(titles)} titles but {len(photos)} photos: pair them one to one")
    n = max(len(titles), len(photos))
    rows = [{"id": str(i + 1), "title": titles[i] if titles else "", "image": str(photos[i]) if photos else ""}
            for i in range(n)]
    for r in rows:
        if not r["title"].strip() and not r["image"]:
            raise ClassifyError(f"empty title for input {r['id']}")
    return rows


def read_predict_batch(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV with `id` and `title` and/or `image` (relative photo paths resolve from the CSV's folder)."""
    if not path.is_file():
        raise ClassifyError(f"batch file not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "id" not in cols or not ({"title", "image"} & set(cols)):
            raise ClassifyError(f"{path.name} needs an id column and a title and/or image column; has "
                                f"{', '.join(cols) or 'none'}")
        rows, seen = [], set()
        for n, r in enumerate(reader, start=2):
            pid = (r.get("id") or "").strip()
            if not pid:
                raise ClassifyError(f"{path.name} line {n}: empty id")
            if pid in seen:
                raise ClassifyError(f"{path.name} line {n}: duplicate id {pid}")
            seen.add(pid)
            title, image = (r.get("title") or "").strip(), (r.get("image") or "").strip()
            if image and not Path(image).is_absolute():
                image = str(path.parent / image)
            if not title and not image:
                raise ClassifyError(f"{path.name} line {n}: empty title and no image for id {pid}")
            rows.append({"id": pid, "title": title, "image": image})
    if not rows:
        raise ClassifyError(f"no rows in {path}")
    return rows


def _vectors(model: CategoryModel, rows: list[dict[str, str]], index_photos: bool) -> tuple[Any, Any]:
    """Photo vectors for rows with an image file (embedded with the index's model) or a stored photo."""
    if model.photo is None:
        if any(r["image"] for r in rows) and not any(r["title"] for r in rows):
            raise ClassifyError("this model has no photo head (train it with --index) and the rows have no titles")
        return None, None
    from vsearch.classify.photo import embed_files, product_vectors

    index = model.meta["index"]
    x = np.zeros((len(rows), model.photo.dim), np.float32)
    has = np.zeros(len(rows), bool)
    files = [i for i, r in enumerate(rows) if r["image"]]
    if files:
        x[files] = embed_files(index, [rows[i]["image"] for i in files])
        has[files] = True
    if index_photos:
        stored = product_vectors(index)
        for i, r in enumerate(rows):
            if not has[i] and r["id"] in stored:
                x[i], has[i] = stored[r["id"]], True
    return x, has


def predict_rows(model: CategoryModel, rows: list[dict[str, str]], index_photos: bool = False
                 ) -> Iterator[dict[str, Any]]:
    """One JSON-ready record per row: {"id", "levels": {level: {"label", "prob"}}, "review", ...}."""
    x, has = _vectors(model, rows, index_photos)
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        sl = slice(start, start + len(part))
        pred = model.predict([r["title"] for r in part], None if x is None else x[sl], None if has is None else has[sl])
        for k, r in enumerate(part):
            yield pred.record(k, r["id"])
