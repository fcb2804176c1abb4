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
                 title_column: str | None = None, allow_outside_paths: bool = False) -> Catalog:
    """Read the catalogue at `root`.

    Args:
        root: folder of photos (or a labels file, whose folder is then the root).
        labels: labels file; default `labels.csv|jsonl|parquet` inside `root` when present.
        id_from: without labels: "stem" (file name), "folder" (`<id>/<view>.jpg`) or "auto".
        title_column: metadata column holding product titles; default the first of `TITLE_COLUMNS`.
        allow_outside_paths: accept image paths (absolute, `../`, symlinks) that lead outside the
            catalogue folder and the labels file's folder; refused by default, so a labels file cannot
            make a build read (and echo) arbitrary files.

    Raises:
        CatalogError: missing folder, unreadable labels (naming the line), a path outside the
            catalogue, or no photos at all.
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
        catalog = _from_labels(root, Path(labels).expanduser().absolute(), allow_outside_paths)
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
    return [row for _, row in read_numbered_rows(path)]


def read_numbered_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of every row of a labels file (the row number for Parquet).

    Raises:
        CatalogError: naming the file and line: bad encoding or JSON, a row that is not an object,
            a duplicated header column, a repeated header row, a row with another field count.
    """
    if not path.is_file():
        raise CatalogError(f"labels file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            rows = _csv_rows(path)
        elif suffix in (".jsonl", ".ndjson"):
            rows = _jsonl_rows(path)
        elif suffix == ".parquet":
            rows = _parquet_rows(path)
        else:
            raise CatalogError(f"labels file must be .csv, .jsonl or .parquet: {path}")
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise CatalogError(f"cannot read labels file {path}: {exc}") from None
    return [(n, {str(k): "" if v is None else str(v) for k, v in row.items() if k is not None}) for n, row in rows]


def _csv_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return []
        header = [h.strip() for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise CatalogError(f"{path} line 1: column '{dupes[0]}' appears more than once in the header")
        rows = []
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if [f.strip() for f in fields] == header:
                raise CatalogError(f"{path} line {line}: the header row is repeated (two files joined?)")
            if len(fields) != len(header):
                raise CatalogError(f"{path} line {line}: {len(fields)} fields, the header has {len(header)}")
            rows.append((line, dict(zip(header, fields))))
    return rows


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CatalogError(f"{path} line {line_no}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise CatalogError(f"{path} line {line_no}: a JSON {type(row).__name__}, not an object")
            rows.append((line_no, row))
    return rows


def _parquet_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CatalogError("reading Parquet labels needs pyarrow: pip install 'vsearch[parquet]'") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise CatalogError(f"cannot read labels file {path}: {exc}") from None
        raise
    return list(enumerate(table.to_pylist(), 1))


def _from_labels(root: Path, labels: Path, allow_outside: bool) -> Catalog:
    rows = read_numbered_rows(labels)
    columns = set(rows[0][1]) if rows else set()
    if rows and "id" not in columns:
        raise CatalogError(f"labels file {labels} has no 'id' column; columns: {', '.join(rows[0][1])}")
    by_stem = None if "image" in columns else _images_by_stem(root)
    bases = [root.resolve(), labels.parent.resolve()]
    photos, products, missing = [], {}, []
    for line, row in rows:
        if "id" not in row:
            raise CatalogError(f"{labels} line {line}: no 'id'")
        pid = row["id"].strip()
        if not pid:
            continue
        products.setdefault(pid, {k: v for k, v in row.items() if k not in ("id", "image")})
        if by_stem is None:
            path = _resolve(row.get("image", ""), labels.parent, root)
            if not allow_outside and not _inside(path, bases):
                raise CatalogError(f"{labels} line {line}: image '{row.get('image', '')}' is outside the catalogue "
                                   f"folder {root}; pass --allow-outside-paths to read it anyway")
        else:
            path = by_stem.get(pid)
        if path is None or not path.is_file():
            missing.append((row.get("image") or pid, "a folder, not a photo" if path and path.is_dir()
                            else "file not found"))
            continue
        photos.append(Photo(pid, path))
    return Catalog(root, photos, products, missing=missing)


def _inside(path: Path, bases: list[Path]) -> bool:
    """True when `path` (symlinks followed) lies in one of `bases`."""
    real = path.resolve()
    return any(real == base or real.is_relative_to(base) for base in bases)


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
