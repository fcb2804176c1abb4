"""Products of an index as arrays (for profiles and grouping): one unit image vector per product, its title vector,
split and labels.

The labels are the metadata stored in the index (the catalogue's columns) overlaid with a labels file joined by
`id` (e.g. product-attributes.csv: the shop's attribute columns, brandName, description).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsearch.catalog.reader import read_label_rows
from vsearch.core.errors import BadQueryError, IndexMissingError
from vsearch.core.split import split_of
from vsearch.index.heads import backbone_stamp
from vsearch.index.manifest import STORE, Manifest, read_manifest
from vsearch.index.store import Store

MISSING = frozenset({"", "NA", "N/A", "nan", "None", "null"})
"""Label values that mean "unknown"."""


def label_value(row: dict[str, str], name: str) -> str:
    """The value of `name` in a labels row, stripped; "" where unknown (missing, empty or a `MISSING` word)."""
    v = str(row.get(name, "")).strip()
    return "" if v in MISSING else v


@dataclass
class Products:
    """Rows = products of one index.

    Attributes:
        ids: product ids.
        x: `[n, d]` unit image vectors (the normalised mean of a product's photos).
        split: "train" / "val" / "test" per product (`vsearch.core.split`).
        meta: per product, its labels (index metadata, then the labels file on top).
        backbone: the stamp of the index's backbone (heads trained here only fit it).
        t: `[n, dt]` unit title vectors of the index's text model (a zero row where a product has none), or
            None when the index stores no titles.
        text: the stamp of that text model (`text_model`, `text_weights_id`, `text_dim`); {} without titles.
        photos: the path of each product's first photo, as the index stored it.
    """

    ids: list[str]
    x: np.ndarray
    split: np.ndarray
    meta: list[dict[str, str]]
    backbone: dict[str, object]
    t: np.ndarray | None = None
    text: dict[str, object] = field(default_factory=dict)
    photos: list[str] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        """The value of `name` per product; "" where unknown."""
        return [label_value(m, name) for m in self.meta]

    def columns(self) -> set[str]:
        return {c for m in self.meta for c in m}

    def require(self, names: list[str]) -> None:
        """Raises BadQueryError naming the columns no product has."""
        known = self.columns()
        missing = [n for n in names if n not in known]
        if missing:
            raise BadQueryError(f"column(s) {', '.join(missing)} not in the labels; columns: "
                                f"{', '.join(sorted(known))}")

    def position(self) -> dict[str, int]:
        return {pid: i for i, pid in enumerate(self.ids)}


def read_labels(path: str | Path) -> dict[str, dict[str, str]]:
    """Rows of a labels file keyed by their `id`.

    Raises:
        BadQueryError: the file has no `id` column.
    """
    rows = read_label_rows(Path(path))
    if rows and "id" not in rows[0]:
        raise BadQueryError(f"labels file {path} has no id column; columns: {', '.join(rows[0])}")
    return {row["id"].strip(): row for row in rows if row.get("id", "").strip()}


def load_products(index_dir: str | Path, labels: str | Path | None = None) -> Products:
    """Every product of an index with its unit image vector and labels (read-only: the index is not written)."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    extra = read_labels(labels) if labels is not None else {}
    with Store(index_dir / STORE, readonly=True) as store:
        _, vectors = store.load_vectors("image")
        entries = store.row_entries("image")
        if not len(vectors) or len(entries) != len(vectors):
            raise IndexMissingError(f"index {index_dir} has no readable image vectors")
        rows_of: dict[str, list[int]] = {}
        first_photo: dict[str, str] = {}
        for i, (_, pid, source) in enumerate(entries):
            rows_of.setdefault(pid, []).append(i)
            first_photo.setdefault(pid, source)
        ids = list(rows_of)
        stored = store.get_products(ids)
        titles = _title_vectors(store, ids) if manifest.text_model else None
    x = np.stack([vectors[rows].mean(axis=0) for rows in rows_of.values()]).astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    meta = [{**(m or {}), **extra.get(pid, {})} for pid, m in zip(ids, stored)]
    split = np.array([split_of(pid) for pid in ids])
    return Products(ids, x, split, meta, backbone_stamp(manifest), titles,
                    text_stamp(manifest) if titles is not None else {}, [first_photo[pid] for pid in ids])


def text_stamp(manifest: Manifest) -> dict[str, object]:
    """The part of a manifest that title-input heads depend on."""
    return {"text_model": manifest.text_model, "text_weights_id": manifest.text_weights_id,
            "text_dim": manifest.text_dim}


def _title_vectors(store: Store, ids: list[str]) -> np.ndarray | None:
    """`[n, dt]` unit title vector per product of `ids` (zero where it has none); None if the index has none."""
    _, vectors = store.load_vectors("title")
    if not len(vectors):
        return None
    pos = {pid: i for i, pid in enumerate(ids)}
    out = np.zeros((len(ids), vectors.shape[1]), np.float32)
    for (_, pid, _), v in zip(store.row_entries("title"), vectors):
        if pid in pos:
            out[pos[pid]] = v
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out
