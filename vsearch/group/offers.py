"""Offers read from a CSV file: id, title, optional seller and category. Bad input fails here, once."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from vsearch.group.errors import GroupError


@dataclass
class Offers:
    """Parallel lists: offer `ids[i]` has `titles[i]`, `sellers[i]` ("" = unknown) and `categories[i]`."""

    ids: list[str]
    titles: list[str]
    sellers: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.sellers = self.sellers or [""] * n
        self.categories = self.categories or [""] * n

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, positions: list[int]) -> Offers:
        return Offers([self.ids[i] for i in positions], [self.titles[i] for i in positions],
                      [self.sellers[i] for i in positions], [self.categories[i] for i in positions])

    def concat(self, other: Offers) -> Offers:
        return Offers(self.ids + other.ids, self.titles + other.titles, self.sellers + other.sellers,
                      self.categories + other.categories)


def read_rows(path: Path, what: str = "offers file") -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a UTF-8 CSV file; a missing, empty or undecodable file is a GroupError."""
    if not path.is_file():
        raise GroupError(f"{what} not found: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise GroupError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise GroupError(f"{what} {path} is not a readable CSV file: {exc}") from None
    if not header:
        raise GroupError(f"{what} {path} is empty")
    return header, rows


def need_columns(header: list[str], columns: dict[str, str | None], path: Path) -> None:
    """Every named column (option -> column) must be in the header."""
    for option, col in columns.items():
        if col is not None and col not in header:
            raise GroupError(f"{path}: no column '{col}' ({option}); columns are {', '.join(header)}")


def read_offers(path: Path, id_column: str = "id", title_column: str = "title", seller_column: str | None = None,
                category_column: str | None = None, min_offers: int = 2) -> Offers:
    """Offers of a CSV file.

    Raises:
        GroupError: missing file or column, an empty id or title, a repeated id, fewer than `min_offers` rows.
    """
    header, rows = read_rows(path)
    need_columns(header, {"--id-column": id_column, "--title-column": title_column,
                          "--seller-column": seller_column, "--category-column": category_column}, path)
    ids, titles, sellers, cats = [], [], [], []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        oid = (row.get(id_column) or "").strip()
        title = " ".join((row.get(title_column) or "").split())
        if not oid:
            raise GroupError(f"{path} line {line}: empty id in column '{id_column}'")
        if not title:
            raise GroupError(f"{path} line {line}: offer {oid} has an empty title")
        if oid in seen:
            raise GroupError(f"{path} line {line}: id {oid} repeated (first on line {seen[oid]})")
        seen[oid] = line
        ids.append(oid)
        titles.append(title)
        sellers.append((row.get(seller_column) or "").strip() if seller_column else "")
        cats.append((row.get(category_column) or "").strip() if category_column else "")
    if len(ids) < min_offers:
        raise GroupError(f"{path} holds {len(ids)} offer{'s' if len(ids) != 1 else ''}; grouping needs at least "
                         f"{min_offers}")
    return Offers(ids, titles, sellers, cats)


def read_labels(path: Path, id_column: str, label_column: str, what: str = "groups file") -> dict[str, str]:
    """id -> label (a group or a truth cluster) of a CSV file; empty labels are skipped."""
    header, rows = read_rows(path, what)
    need_columns(header, {"id column": id_column, "label column": label_column}, path)
    out: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        oid = (row.get(id_column) or "").strip()
        label = (row.get(label_column) or "").strip()
        if not oid:
            raise GroupError(f"{path} line {line}: empty id in column '{id_column}'")
        if oid in out:
            raise GroupError(f"{path} line {line}: id {oid} repeated")
        if label:
            out[oid] = label
    if not out:
        raise GroupError(f"{path}: no labelled rows in column '{label_column}'")
    return out
