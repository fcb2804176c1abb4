"""One writer per index; readers beside a writer; damaged stores refused, never shrunk; paths confined.

Real photos, the tiny model, real lmdb/FAISS, real second processes holding the lock.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_subset
from vsearch.catalog.reader import load_catalog
from vsearch.core.errors import CatalogError, IndexBusyError, IndexDamagedError
from vsearch.index.build import add_products, build_catalog_index
from vsearch.index.manifest import read_manifest
from vsearch.index.search import Searcher
from vsearch.index.update import remove_products
from vsearch.models import create_embedder

ROOT = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time; from vsearch.index.lock import acquire; acquire(sys.argv[1], 0); "
        "print('held', flush=True); time.sleep(60)")


@pytest.fixture(scope="module")
def built_once(products_224: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("lock")
    a = write_subset(products_224, work / "a", 24, every=31)
    b = write_subset(products_224, work / "b", 30, every=37)
    build_catalog_index(load_catalog(a), work / "index", create_embedder("tiny", device="cpu"), None, workers=0)
    return work / "index", a, b


@pytest.fixture()
def index(built_once: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(built_once[0], tmp_path / "index")
    return tmp_path / "index"


def _vsearch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsearch", *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, check=False, timeout=120)


def _hold_lock(index: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(index)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_waits_then_fails_naming_the_holder(index: Path, built_once) -> None:  # type: ignore[no-untyped-def]
    ids = list(load_catalog(built_once[1]).products)[:2]
    holder = _hold_lock(index)
    try:
        with pytest.raises(IndexBusyError, match=f"pid {holder.pid}"):
            remove_products(index, ids, wait=0.3)
        with pytest.raises(IndexBusyError):  # add too, before embedding anything
            add_products(load_catalog(built_once[2]), index, create_embedder("tiny", device="cpu"), None,
                         workers=0, wait=0.2)
        cli = _vsearch("index", "remove", *ids, "--index", str(index), "--wait", "0.2")
        assert cli.returncode == 1 and cli.stderr.count("\n") == 1 and f"pid {holder.pid}" in cli.stderr
        as_json = _vsearch("index", "remove", *ids, "--index", str(index), "--wait", "0", "--json")
        assert as_json.returncode == 1 and "being written by" in as_json.stdout and '"error"' in as_json.stdout
        with Searcher(index, device="cpu") as searcher:  # readers never take the lock
            assert len(searcher.search_like(ids[0], 3)) == 3
        assert read_manifest(index).products == 24  # nothing was removed
    finally:
        holder.kill()
        holder.wait()
    assert remove_products(index, ids, wait=1).products_removed == 2  # the lock died with its holder


def test_reader_open_does_not_block_a_writer(index: Path, built_once) -> None:  # type: ignore[no-untyped-def]
    with Searcher(index, device="cpu") as searcher:
        pid = next(iter(load_catalog(built_once[1]).products))
        searcher.search_like(pid, 2)
        report = remove_products(index, [pid], wait=0)  # would raise IndexBusyError if the reader held anything
        assert report.products_removed == 1
        hits = searcher.search_like(list(load_catalog(built_once[1]).products)[1], 30)
        assert pid not in {h.id for h in hits}  # the open reader sees the committed removal


def test_add_on_missing_store_refuses_instead_of_shrinking(index: Path, built_once) -> None:  # type: ignore[no-untyped-def]
    shutil.rmtree(index / "store.lmdb")
    size = (index / "image.faiss").stat().st_size
    with pytest.raises(IndexDamagedError, match="store"):
        add_products(load_catalog(built_once[2]), index, create_embedder("tiny", device="cpu"), None, workers=0)
    with pytest.raises(IndexDamagedError):  # a rebuild into it would start the vectors over: refused too
        build_catalog_index(load_catalog(built_once[2]), index, create_embedder("tiny", device="cpu"), None,
                            workers=0)
    assert (index / "image.faiss").stat().st_size == size and read_manifest(index).count == 24


def test_truncated_store_is_one_line_not_sigbus(index: Path, built_once, products_224: Path) -> None:  # type: ignore[no-untyped-def]
    data = index / "store.lmdb" / "data.mdb"
    with data.open("r+b") as fh:
        fh.truncate(data.stat().st_size // 2)
    photo = str(products_224 / "images" / "10001.jpg")
    for args in (["query", photo], ["index", "add", str(built_once[2]), "--workers", "0"],
                 ["index", "build", str(built_once[2]), "-m", "tiny", "--workers", "0", "--no-titles"]):
        got = _vsearch(*args, "--index", str(index))
        assert got.returncode == 1, (args, got.returncode, got.stderr[-300:])
        assert got.stderr.startswith("error:") and got.stderr.count("\n") == 1 and "truncated" in got.stderr


def _labels(folder: Path, images: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "image"])
        writer.writerows([[f"p{i}", image] for i, image in enumerate(images)])
    return folder / "labels.csv"


@pytest.mark.parametrize("image", ["/etc/passwd", "../outside.jpg", "images/../../outside.jpg"])
def test_catalogue_paths_stay_inside_the_folder(tmp_path: Path, products_224: Path, image: str) -> None:
    shutil.copyfile(products_224 / "images" / "10001.jpg", tmp_path / "outside.jpg")
    inside = tmp_path / "cat" / "images"
    inside.mkdir(parents=True)
    shutil.copyfile(products_224 / "images" / "10002.jpg", inside / "ok.jpg")
    labels = _labels(tmp_path / "cat", ["images/ok.jpg", image])
    with pytest.raises(CatalogError, match=r"line 3: image .* outside the catalogue"):
        load_catalog(labels)
    allowed = load_catalog(labels, allow_outside_paths=True)
    assert [p.product_id for p in allowed.photos] == ["p0", "p1"]
    (inside / "link.jpg").symlink_to(tmp_path / "outside.jpg")  # a symlink out of the folder is outside too
    with pytest.raises(CatalogError, match="line 2"):
        load_catalog(_labels(tmp_path / "cat", ["images/link.jpg"]))
    cli = _vsearch("index", "build", str(labels), "-m", "tiny", "--index", str(tmp_path / "idx"), "--json")
    assert cli.returncode == 1 and "--allow-outside-paths" in cli.stdout and "Traceback" not in cli.stderr
