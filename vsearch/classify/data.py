"""Labelled products for classification: id, title, optional photo, one label per level.

Read from CSV/JSONL/Parquet (via the catalogue reader) or built from a training-set version. Bad input
fails here, once, with a one-line message: unknown level, empty title, duplicate id, missing label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vsearch.classify.errors import ClassifyError

TITLE_COLUMNS = ("title", "productDisplayName", "name")


@dataclass
class LabelSet:
    """Parallel lists: `ids[i]` has `titles[i]`, `images[i]` ("" for none) and `labels[level][i]`."""

    levels: list[str]
    ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, positions: list[int]) -> LabelSet:
        """The rows at `positions`, in that order."""
        return LabelSet(list(self.levels), [self.ids[i] for i in positions], [self.titles[i] for i in positions],
                        [self.images[i] for i in positions],
                        {lv: [vals[i] for i in positions] for lv, vals in self.labels.items()})

    def row(self, i: int) -> dict[str, object]:
        return {"id": self.ids[i], "title": self.titles[i], "image": self.images[i],
                "labels": {lv: self.labels[lv][i] for lv in self.levels}}


def parse_levels(levels: str | list[str]) -> list[str]:
    """`"a,b,c"` -> `["a", "b", "c"]`, root first; an empty or repeated level is an error."""
    out = [lv.strip() for lv in levels.split(",")] if isinstance(levels, str) else list(levels)
    if not out or any(not lv for lv in out):
        raise ClassifyError("--levels needs level column names, e.g. masterCategory,subCategory,articleType")
    if len(set(out)) != len(out):
        raise ClassifyError(f"a level is repeated in {','.join(out)}")
    return out


def title_column_of(columns: list[str], title_column: str | None) -> str:
    if title_column:
        if title_column not in columns:
            raise ClassifyError(f"title column '{title_column}' not found; columns are {', '.join(columns)}")
        return title_column
    for name in TITLE_COLUMNS:
        if name in columns:
            return name
    raise ClassifyError(f"no title column ({', '.join(TITLE_COLUMNS)}); pass --title-column")


def from_rows(rows: list[dict[str, str]], levels: list[str], title_column: str | None = None,
              image_column: str = "image", where: str = "labels") -> LabelSet:
    """Validate label rows (each with `id`, a title and every level) into a `LabelSet`."""
    if not rows:
        raise ClassifyError(f"no rows in {where}")
    columns = list(rows[0])
    if "id" not in columns:
        raise ClassifyError(f"{where} has no 'id' column")
    for lv in levels:
        if lv not in columns:
            raise ClassifyError(f"unknown level '{lv}': {where} has columns {', '.join(columns)}")
    tcol = title_column_of(columns, title_column)
    out = LabelSet(list(levels), labels={lv: [] for lv in levels})
    seen: set[str] = set()
    for n, row in enumerate(rows, start=2):
        pid = str(row.get("id") or "").strip()
        if not pid:
            raise ClassifyError(f"{where} line {n}: empty id")
        if pid in seen:
            raise ClassifyError(f"{where} line {n}: duplicate id {pid}")
        seen.add(pid)
        title = str(row.get(tcol) or "").strip()
        if not title:
            raise ClassifyError(f"{where} line {n}: empty title for id {pid}")
        out.ids.append(pid)
        out.titles.append(title)
        out.images.append(str(row.get(image_column) or "").strip())
        for lv in levels:
            value = str(row.get(lv) or "").strip()
            if not value:
                raise ClassifyError(f"{where} line {n}: empty {lv} for id {pid}")
            out.labels[lv].append(value)
    return out


def read_label_file(path: str | Path, levels: list[str], title_column: str | None = None,
                    image_column: str = "image") -> LabelSet:
    """A labels file (CSV, JSONL or Parquet) as a validated `LabelSet`."""
    from vsearch.catalog.reader import read_label_rows
    from vsearch.core.errors import CatalogError

    path = Path(path)
    if not path.is_file():
        raise ClassifyError(f"labels file not found: {path}")
    try:
        rows = read_label_rows(path)
    except CatalogError as exc:
        raise ClassifyError(str(exc)) from None
    out = from_rows(rows, levels, title_column, image_column, where=path.name)
    out.images = [str(path.parent / im) if im and not Path(im).is_absolute() else im for im in out.images]
    return out
