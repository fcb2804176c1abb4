"""Products of an index as arrays: one unit image vector per product, its split, and its labels.

The labels are the metadata stored in the index (the catalogue's columns) overlaid with a labels file joined by
`id` (e.g. product-attributes.csv: the shop's attribute columns, brandName, description).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsearch.catalog.reader import read_label_rows
from vsearch.core.errors import BadQueryError, IndexMissingError
from vsearch.core.split import split_of
from vsearch.index.heads import backbone_stamp
from vsearch.index.manifest import STORE, read_manifest
from vsearch.index.store import Store

MISSING = frozenset({"", "NA", "N/A", "nan", "None", "null"})
"""Label values that mean "unknown"."""


@dataclass
class Products:
    """Rows = products of one index.

    Attributes:
        ids: product ids.
        x: `[n, d]` unit image vectors (the normalised mean of a product's photos).
        split: "train" / "val" / "test" per product (`vsearch.core.split`).
        meta: per product, its labels (index metadata, then the labels file on top).
        backbone: the stamp of the index's backbone (heads trained here only fit it).
    """

    ids: list[str]
    x: np.ndarray
    split: np.ndarray
    meta: list[dict[str, str]]
    backbone: dict[str, object]

    def column(self, name: str) -> list[str]:
        """The value of `name` per product; "" where unknown."""
        out = [str(m.get(name, "")).strip() for m in self.meta]
        return [v if v not in MISSING else "" for v in out]

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
        for i, (_, pid, _) in enumerate(entries):
            rows_of.setdefault(pid, []).append(i)
        ids = list(rows_of)
        stored = store.get_products(ids)
    x = np.stack([vectors[rows].mean(axis=0) for rows in rows_of.values()]).astype(np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    meta = [{**(m or {}), **extra.get(pid, {})} for pid, m in zip(ids, stored)]
    split = np.array([split_of(pid) for pid in ids])
    return Products(ids, x, split, meta, backbone_stamp(manifest))
