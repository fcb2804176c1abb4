"""Read a catalogue: a folder of photos, optionally with a labels file (CSV, JSONL or Parquet).

A labels file has an `id` column, an `image` column (path relative to the labels file or the
folder) and any other columns, kept as product metadata. Repeated ids are several photos of one
product. Without a labels file, ids come from file names, or from folder names when the photos are
laid out as `<id>/<view>.jpg` (then file names repeat across folders).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vsearch.core.errors import CatalogError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"})
LABEL_FILES = ("labels.csv", "labels.jsonl", "labels.parquet")
TITLE_COLUMNS = ("title", "productDisplayName", "name", "product_name")
IdFrom = Literal["auto", "stem", "folder"]


@dataclass(frozen=True)
class Photo:
    """One photo of one product."""

    product_id: str
    path: Path


@dataclass
class Catalog:
    """Photos and per-product metadata. `missing` lists labelled photos whose file does not exist."""

    root: Path
    photos: list[Photo]
    products: dict[str, dict[str, str]]
    title_column: str | None = None
    missing: list[tuple[str, str]] = field(default_factory=list)

    def title(self, product_id: str) -> str:
        if not self.title_column:
            return ""
        return self.products.get(product_id, {}).get(self.title_column, "") or ""


def load_catalog(root: str | Path, labels: str | Path | None = None, id_from: IdFrom = "auto",
                 title_column: str | None = None) -> Catalog:
    """Read the catalogue at `root`.

    Args:
        root: folder of photos (or a labels file, whose folder is then the root).
        labels: labels file; default `labels.csv|jsonl|parquet` inside `root` when present.
        id_from: without labels: "stem" (file name), "folder" (`<id>/<view>.jpg`) or "auto".
        title_column: metadata column holding product titles; default the first of `TITLE_COLUMNS`.

    Raises:
        CatalogError: missing folder, unreadable labels, or no photos at all.
    """
    if id_from not in ("auto", "stem", "folder"):
        raise CatalogError(f"--id-from must be auto, stem or folder, not '{id_from}'")
    root = Path(root).expanduser().absolute()  # absolute sources let a build resume from any folder
    if root.is_file() and labels is None:
        root, labels = root.parent, root
    if not root.is_dir():
        raise CatalogError(f"catalogue folder not found: {root}")
    if labels is None:
        labels = next((root / name for name in LABEL_FILES if (root / name).is_file()), None)
    if labels is not None:
        catalog = _from_labels(root, Path(labels).expanduser().absolute())
    else:
        catalog = _from_folder(root, id_from)
    if not catalog.photos:
        raise CatalogError(f"no photos found in {root}" + (f" (labels: {labels})" if labels else ""))
    columns = {col for meta in catalog.products.values() for col in meta}
    if title_column is not None and title_column not in columns:
        raise CatalogError(f"title column '{title_column}' not in labels; columns: {', '.join(sorted(columns))}")
    catalog.title_column = title_column or next((c for c in TITLE_COLUMNS if c in columns), None)
    return catalog


def read_label_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV, JSONL or Parquet file as dicts of strings."""
    if not path.is_file():
        raise CatalogError(f"labels file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
        elif suffix in (".jsonl", ".ndjson"):
            with path.open(encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh if line.strip()]
        elif suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise CatalogError("reading Parquet labels needs pyarrow: pip install 'vsearch[parquet]'") from None
            rows = pq.read_table(path).to_pylist()
        else:
            raise CatalogError(f"labels file must be .csv, .jsonl or .parquet: {path}")
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error, OSError) as exc:
        raise CatalogError(f"cannot read labels file {path}: {exc}") from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise CatalogError(f"cannot read labels file {path}: {exc}") from None
        raise
    return [{str(k): "" if v is None else str(v) for k, v in row.items() if k is not None} for row in rows]


def _from_labels(root: Path, labels: Path) -> Catalog:
    rows = read_label_rows(labels)
    if rows and "id" not in rows[0]:
        raise CatalogError(f"labels file {labels} has no 'id' column; columns: {', '.join(rows[0])}")
    by_stem = None if rows and "image" in rows[0] else _images_by_stem(root)
    photos, products, missing = [], {}, []
    for row in rows:
        pid = row["id"].strip()
        if not pid:
            continue
        products.setdefault(pid, {k: v for k, v in row.items() if k not in ("id", "image")})
        if by_stem is None:
            path = _resolve(row["image"], labels.parent, root)
        else:
            path = by_stem.get(pid)
        if path is None or not path.is_file():
            missing.append((row.get("image") or pid, "file not found"))
            continue
        photos.append(Photo(pid, path))
    return Catalog(root, photos, products, missing=missing)


def _resolve(image: str, labels_dir: Path, root: Path) -> Path:
    path = Path(image)
    if path.is_absolute():
        return path
    first = labels_dir / path
    return first if first.exists() else root / path


def _list_images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _images_by_stem(root: Path) -> dict[str, Path]:
    return {p.stem: p for p in _list_images(root)}


def _from_folder(root: Path, id_from: IdFrom) -> Catalog:
    paths = _list_images(root)
    if id_from == "auto":
        stems = [p.stem for p in paths]
        id_from = "folder" if len(set(stems)) < len(stems) and all(p.parent != root for p in paths) else "stem"
    photos = [Photo(p.parent.name if id_from == "folder" else p.stem, p) for p in paths]
    products: dict[str, dict[str, str]] = {photo.product_id: {} for photo in photos}
    return Catalog(root, photos, products)
