"""Fixtures for grouping tests: a real slice of PriceRunner offers (whole clusters, a few categories)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

COLUMNS = ["--id-column", "product_id", "--title-column", "product_title", "--seller-column", "vendor_id",
           "--category-column", "category_label"]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def offer_rows(data_dir: Path) -> list[dict[str, str]]:
    """Every offer of every 5th cluster in Mobile Phones, CPUs and Fridges (about 1,400 real offers)."""
    with (data_dir / "pricerunner" / "offers.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    keep = {"Mobile Phones", "CPUs", "Fridges"}
    clusters = sorted({int(r["cluster_id"]) for r in rows if r["category_label"] in keep})[::5]
    chosen = set(map(str, clusters))
    return [r for r in rows if r["cluster_id"] in chosen]


@pytest.fixture(scope="session")
def offers_csv(offer_rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rows(tmp_path_factory.mktemp("offers") / "offers.csv", offer_rows)
