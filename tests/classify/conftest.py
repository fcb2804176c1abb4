"""Fixtures for classification tests: a real slice of product-styles.csv, a trained model."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

LEVELS = ["masterCategory", "subCategory", "articleType"]


@pytest.fixture(scope="session")
def styles_subset(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 8th row of the 43,009 real titles (about 5,400 rows, all three levels)."""
    with (data_dir / "product-styles.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))[::8]
    path = tmp_path_factory.mktemp("styles") / "styles.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def styles_data(styles_subset: Path):  # noqa: ANN201
    from vsearch.classify.data import read_label_file

    return read_label_file(styles_subset, LEVELS)


@pytest.fixture(scope="session")
def title_model(styles_data):  # noqa: ANN001, ANN201
    from vsearch.classify.train import train_model

    return train_model(styles_data)
