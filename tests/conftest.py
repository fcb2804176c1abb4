"""Shared fixtures: real photos from ../shared/data, real models, indexes built once per session."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "products-224" / "labels.csv").is_file():
        pytest.fail(f"real data not found at {DATA}: tests read ../shared/data (or $VSEARCH_SHARED_DATA)")
    return DATA


@pytest.fixture(scope="session")
def products_224(data_dir: Path) -> Path:
    return data_dir / "products-224"


@pytest.fixture(scope="session")
def products_small(data_dir: Path) -> Path:
    return data_dir / "products-small"


@pytest.fixture(scope="session")
def grocery(data_dir: Path) -> Path:
    return data_dir / "grocery-phone"


def write_subset(products_224: Path, out_dir: Path, n: int, every: int = 1) -> Path:
    """A labels.csv over `n` real products (every `every`-th row), their photos copied beside it
    (catalogue paths must stay inside the catalogue folder)."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    with (products_224 / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))[::every][:n]
    labels = out_dir / "labels.csv"
    with labels.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            image = f"images/{Path(row['image']).name}"
            shutil.copyfile(products_224 / row["image"], out_dir / image)
            writer.writerow({**row, "image": image})
    return labels


@pytest.fixture(scope="session")
def subset_catalog(products_224: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 real products spread over the whole catalogue (every 27th row)."""
    return write_subset(products_224, tmp_path_factory.mktemp("subset"), 300, every=27).parent


@pytest.fixture(scope="session")
def tiny_index(subset_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the 300-product subset built with the tiny random-init model (fast)."""
    from vsearch.catalog.reader import load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.models import create_embedder, create_text_embedder

    index_dir = tmp_path_factory.mktemp("tiny-index")
    build_catalog_index(load_catalog(subset_catalog), index_dir, create_embedder("tiny", device="cpu"),
                        create_text_embedder(device="cpu"), workers=0)
    return index_dir


@pytest.fixture(scope="session")
def lite0_subset_index(subset_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same subset indexed with the real default model (EfficientNet-Lite0, ImageNet weights)."""
    from vsearch.catalog.reader import load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.models import create_embedder

    index_dir = tmp_path_factory.mktemp("lite0-index")
    build_catalog_index(load_catalog(subset_catalog), index_dir, create_embedder(device="cpu"), None, workers=1)
    return index_dir


def code_hash() -> str:
    """SHA-256 of the code that turns photos into an index (catalog, models, index, core) and the labels."""
    import hashlib

    digest = hashlib.sha256()
    for folder in ("core", "catalog", "models", "index"):
        for path in sorted((ROOT / "vsearch" / folder).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update((DATA / "products-224" / "labels.csv").read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def full_index(products_224: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 8,146 products-224 photos and titles with the default model: built once (~2 min on 2 cores).

    Set VSEARCH_TEST_FULL_INDEX to a folder to reuse the index across runs: it is reused only when the
    `code_hash` it was built by matches the code now (else rebuilt from scratch), so an embedding
    regression cannot hide behind stored vectors.
    """
    from vsearch.catalog.reader import load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.models import create_embedder, create_text_embedder

    reuse = os.environ.get("VSEARCH_TEST_FULL_INDEX")
    stamp = code_hash()
    if reuse:
        index_dir = Path(reuse)
        if (index_dir / "manifest.json").is_file() and (index_dir / "code_hash").is_file() and \
                (index_dir / "code_hash").read_text().strip() == stamp:
            return index_dir
        shutil.rmtree(index_dir, ignore_errors=True)
    else:
        index_dir = tmp_path_factory.mktemp("full-index")
    build_catalog_index(load_catalog(products_224), index_dir, create_embedder(device="cpu"),
                        create_text_embedder(device="cpu"))
    (index_dir / "code_hash").write_text(stamp + "\n")
    return index_dir
