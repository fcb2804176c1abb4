"""Live updates: add / upsert / remove by id keep lmdb and FAISS consistent; crashes leave a usable index.

Real photos, the tiny model, real lmdb and FAISS. The kill -9 test runs the same script as
`scripts/kill_test.py` (which does 20 kills) with fewer kills to keep CI short.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsearch.catalog.reader import load_catalog
from vsearch.core.errors import IndexMismatchError, IndexMissingError
from vsearch.index.autoindex import IndexChoice, needs_retrain
from vsearch.index.build import add_products, build_catalog_index
from vsearch.index.faiss_index import load_index
from vsearch.index.search import Searcher
from vsearch.index.store import Store
from vsearch.index.update import check_consistency, index_ids, remove_products, sync_saved
from vsearch.models import create_embedder

ROOT = Path(__file__).resolve().parents[2]


def _load_kill_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kill_test", ROOT / "scripts" / "kill_test.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def kill_script():  # type: ignore[no-untyped-def]
    return _load_kill_script()


@pytest.fixture()
def built(tmp_path: Path, kill_script) -> tuple[Path, Path, Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    a_labels, b_labels, expected = kill_script.make_catalogs(tmp_path / "cat", n_a=40, n_b=10, upserts=3)
    index = tmp_path / "index"
    build_catalog_index(load_catalog(a_labels), index, create_embedder("tiny", device="cpu"), None, workers=0)
    return index, a_labels, b_labels, expected


def _faiss_rows(index: Path) -> np.ndarray:
    return np.sort(index_ids(load_index(index / "image.faiss", use_gpu=False)))


def _store_rows(index: Path) -> np.ndarray:
    with Store(index / "store.lmdb", readonly=True) as store:
        return np.sort(store.row_table("image")[0])


def test_upsert_adds_new_and_replaces_photos_without_rebuild(built, kill_script) -> None:  # type: ignore[no-untyped-def]
    index, _, b_labels, expected = built
    before = _faiss_rows(index)
    b = load_catalog(b_labels)
    report = add_products(b, index, create_embedder("tiny", device="cpu"), None, workers=0)
    assert (report.products_added, report.products_updated, report.rows_removed) == (10, 3, 3)
    assert np.array_equal(_faiss_rows(index), _store_rows(index))
    after = set(_faiss_rows(index).tolist())
    assert len(after) == len(before) + 10 and len(set(before.tolist()) - after) == 3  # old photos left FAISS
    kill_script.check_final(index, expected)
    with Searcher(index, device="cpu") as searcher:
        new_id = sorted(set(b.products) - set(load_catalog(built[1]).products))[0]
        hits = searcher.search_like(new_id, 5)
        assert len(hits) == 5 and new_id not in {h.id for h in hits}
        # the new product is found by its own photo, first
        assert searcher.search_photos([expected[new_id]], 1)[0].id == new_id
    again = add_products(b, index, create_embedder("tiny", device="cpu"), None, workers=0)
    assert (again.photos_embedded, again.rows_removed) == (0, 0)  # re-running is a no-op, nothing duplicated
    kill_script.check_final(index, expected)


def test_add_keeps_metadata_when_no_labels_given(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index, a_labels, _, _ = built
    pid, meta = next(iter(load_catalog(a_labels).products.items()))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / f"{pid}.jpg").write_bytes(Path(load_catalog(a_labels).photos[5].path).read_bytes())
    add_products(load_catalog(folder), index, create_embedder("tiny", device="cpu"), None, workers=0)
    with Store(index / "store.lmdb", readonly=True) as store:
        assert store.get_product(pid) == meta
        assert store.row_sources(store.product_rows(pid, "image")) == [str(folder / f"{pid}.jpg")]


def test_remove_by_id(built) -> None:  # type: ignore[no-untyped-def]
    index, a_labels, _, _ = built
    ids = list(load_catalog(a_labels).products)[:3]
    report = remove_products(index, [*ids, "no-such-id"])
    assert report.products_removed == 3 and report.missing_ids == ["no-such-id"]
    assert np.array_equal(_faiss_rows(index), _store_rows(index)) and len(_store_rows(index)) == 37
    with Searcher(index, device="cpu") as searcher:
        hits = searcher.search_like(list(load_catalog(a_labels).products)[10], 40)
        assert len(hits) == 36 and not set(ids) & {h.id for h in hits}
    again = remove_products(index, ids)  # idempotent
    assert again.products_removed == 0 and again.missing_ids == ids
    with pytest.raises(IndexMissingError):
        remove_products(index.parent / "nothing-here", ids)


@pytest.mark.parametrize(("factory", "kind"),
                         [("hnsw", "IndexHNSWFlat"), ("IVF2,PQ16x4fs,Refine(SQfp16)", "IndexRefine")])
def test_index_without_remove_ids_is_rebuilt_on_removal(built, factory: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    """HNSW and refine indexes have no `remove_ids`: removal rebuilds them from the store, knobs kept."""
    import faiss

    index, a_labels, _, _ = built
    build_catalog_index(load_catalog(a_labels), index, create_embedder("tiny", device="cpu"), None, workers=0,
                        factory=factory)
    saved = load_index(index / "image.faiss", use_gpu=False)  # the wrapper owns the inner index: keep it alive
    before = faiss.downcast_index(saved.index)
    gone = list(load_catalog(a_labels).products)[:2]
    remove_products(index, gone)
    assert np.array_equal(_faiss_rows(index), _store_rows(index))
    rebuilt = load_index(index / "image.faiss", use_gpu=False)
    after = faiss.downcast_index(rebuilt.index)
    assert type(after).__name__ == kind
    if kind == "IndexRefine":
        assert after.k_factor == before.k_factor and after.ntotal == 38
        with Searcher(index, device="cpu") as searcher:
            hits = searcher.search_like(list(load_catalog(a_labels).products)[10], 5)
            assert len(hits) == 5 and not set(gone) & {h.id for h in hits}


def test_store_ahead_of_index_is_synced_by_searcher_and_rerun(built) -> None:  # type: ignore[no-untyped-def]
    """The state a kill between an lmdb commit and the FAISS save leaves: queries still match the store."""
    index, a_labels, _, _ = built
    cat = load_catalog(a_labels)
    victim = list(cat.products)[0]
    with Store(index / "store.lmdb") as store:  # as if a removal committed and the process died
        store.remove_products([victim])
    audit = check_consistency(index)
    assert not audit["problems"] and audit["behind"]["image"] == (0, 1)
    with Searcher(index, device="cpu") as searcher:
        hits = searcher.search_like(list(cat.products)[1], 100)
        assert victim not in {h.id for h in hits} and len(hits) == 38
    with Store(index / "store.lmdb") as store:
        sync_saved(index, store)
    audit = check_consistency(index)
    assert audit["behind"]["image"] == (0, 0) and audit["synced_generation"] == audit["generation"]


def test_add_refuses_another_model(built) -> None:  # type: ignore[no-untyped-def]
    index, _, b_labels, _ = built
    with pytest.raises(IndexMismatchError):
        add_products(load_catalog(b_labels), index, create_embedder(device="cpu"), None, workers=0)


def test_needs_retrain_after_heavy_growth() -> None:
    ivf = IndexChoice("IVF64,Flat", ["test"], trained_on=3000, requested="ivf")
    assert needs_retrain(ivf, 6000, 256) is None
    assert "retrain" in (needs_retrain(ivf, 20_000, 256) or "")
    flat = IndexChoice("Flat", ["test"], trained_on=500, requested="auto")
    assert needs_retrain(flat, 50_000, 256) is None
    assert "IVF" in (needs_retrain(flat, 400_000, 256) or "")


def test_cli_add_remove_json(built) -> None:  # type: ignore[no-untyped-def]
    index, a_labels, b_labels, _ = built
    run = [sys.executable, "-m", "vsearch", "index"]
    added = subprocess.run([*run, "add", str(b_labels), "--index", str(index), "--workers", "0", "--json"],
                           capture_output=True, text=True, cwd=ROOT, check=False)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["products_added"] == 10
    gone = list(load_catalog(a_labels).products)[:2]
    removed = subprocess.run([*run, "remove", *gone, "--index", str(index), "--json"], capture_output=True,
                             text=True, cwd=ROOT, check=False)
    assert removed.returncode == 0 and json.loads(removed.stdout)["products_removed"] == 2
    info = subprocess.run([*run, "info", "--index", str(index), "--json"], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    manifest = json.loads(info.stdout)
    assert manifest["products"] == 48 and manifest["count"] == 48
    assert manifest["build"]["synced_generation"] >= 1 and manifest["build"]["index"]["factory"] == "Flat"


def test_random_kill9_leaves_consistent_resumable_index(tmp_path: Path, kill_script) -> None:  # type: ignore[no-untyped-def]
    """Real SIGKILLs of build/add/remove subprocesses (3 here; `scripts/kill_test.py` runs 20).

    `run` checks every killed state (no audit problem, a query answers) and the final one itself."""
    result = kill_script.run(3, tmp_path, seed=3, n_a=60)
    assert len(result["kills"]) == 3 and all(k["killed"] and k["interrupted_work"] for k in result["kills"])
    assert result["final"]["products"] == result["expected_products"] == 90
    assert result["final"]["image_rows"] == 90
