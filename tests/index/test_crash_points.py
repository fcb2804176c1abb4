"""Deterministic crashes (`VSEARCH_CRASH_AT`) of build, add and remove at every named point.

Each run is a child process that `os._exit`s at the point (no cleanup, like kill -9), on real photos,
the tiny model, the real MiniLM title model, lmdb and FAISS. After each crash the index must verify
without damage, a reader must answer correctly, and re-running the command must finish the job with
every product present exactly once with exactly its photos.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.index.test_updates import _load_kill_script
from vsearch.catalog.reader import load_catalog
from vsearch.index.build import add_products, build_catalog_index
from vsearch.index.publish import CRASH_ENV, CRASH_EXIT, CRASH_POINTS
from vsearch.index.search import Searcher
from vsearch.index.update import remove_products
from vsearch.index.verify import verify_index
from vsearch.models import create_embedder, create_text_embedder

ROOT = Path(__file__).resolve().parents[2]
REMOVED = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("crash")
    kill = _load_kill_script()
    a, b, expected = kill.make_catalogs(work / "cat", n_a=8, n_b=3, upserts=1)
    emb, text = create_embedder("tiny", device="cpu"), create_text_embedder(device="cpu")
    base = work / "base"
    build_catalog_index(load_catalog(a), base, emb, text, workers=0, batch_size=4)
    return {"a": a, "b": b, "expected": expected, "emb": emb, "text": text, "base": base, "kill": kill}


def _run(op: str, index: Path, a: Path, b: Path, emb: object, text: object) -> None:
    if op == "build":
        build_catalog_index(load_catalog(a), index, emb, text, workers=0, batch_size=4)  # type: ignore[arg-type]
    elif op == "add":
        add_products(load_catalog(b), index, emb, text, workers=0, batch_size=2)  # type: ignore[arg-type]
    else:
        remove_products(index, sorted(load_catalog(a).products)[-REMOVED:])


def _op(world, op: str, index: Path) -> None:  # type: ignore[no-untyped-def]
    _run(op, index, world["a"], world["b"], world["emb"], world["text"])


CHILD = """
import sys
from pathlib import Path
from tests.index.test_crash_points import _run
from vsearch.models import create_embedder, create_text_embedder
op, index, a, b = sys.argv[1], *map(Path, sys.argv[2:])
_run(op, index, a, b, create_embedder("tiny", device="cpu"), create_text_embedder(device="cpu"))
"""


def _crash(world, op: str, index: Path, point: str) -> int:  # type: ignore[no-untyped-def]
    """Run `op` in a fresh process that exits at `point` (a fresh process, not a fork: forking a process
    whose torch/OpenMP threads already run can deadlock the child)."""
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CHILD, op, str(index), str(world["a"]), str(world["b"])],
                          cwd=ROOT, env=env, timeout=300).returncode


def _check_readable(index: Path) -> None:
    """No damage, and a reader finds each stored product first by its own photo."""
    verdict = verify_index(index)
    assert not verdict.problems, verdict.problems
    if not (index / "manifest.json").is_file():
        return
    with Searcher(index, device="cpu") as searcher:
        stored = sorted(pid for pid, _ in searcher.store.iter_products())
        for pid in stored[:3] + stored[-2:]:
            for source in searcher.store.row_sources(searcher.store.product_rows(pid, "image")):
                assert searcher.search_photos([source], 1)[0].id == pid


@pytest.mark.parametrize("op", ["build", "add", "remove"])
def test_every_crash_point_is_consistent_and_resumable(world, op: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a_ids = sorted(load_catalog(world["a"]).products)
    photos = world["expected"]
    if op == "build":
        want = {pid: photos[pid] for pid in a_ids}
        want.update({p.product_id: str(p.path) for p in load_catalog(world["a"]).photos})
    elif op == "add":
        want = {**{p.product_id: str(p.path) for p in load_catalog(world["a"]).photos}, **photos}
    else:
        gone = set(a_ids[-REMOVED:])
        want = {p.product_id: str(p.path) for p in load_catalog(world["a"]).photos if p.product_id not in gone}
    reached = []
    for point in CRASH_POINTS:
        index = tmp_path / point
        if op != "build":
            shutil.copytree(world["base"], index)
        rc = _crash(world, op, index, point)
        assert rc in (0, CRASH_EXIT), f"{op} at {point}: exit {rc}"
        if rc == CRASH_EXIT:
            reached.append(point)
        _check_readable(index)
        _op(world, op, index)  # the re-run finishes the job
        verdict = verify_index(index)
        assert verdict.ok, (op, point, verdict.problems, verdict.behind)
        world["kill"].check_final(index, want)
        with Searcher(index, device="cpu") as searcher:
            assert searcher.search_text("shirt", 3)  # the title index answers too
    must = set(CRASH_POINTS) - {"after-store-batch"} if op != "remove" else set(CRASH_POINTS) - {
        "after-store-batch", "after-title-commit"}
    if op == "remove":
        must -= {"inside-text-faiss-write", "after-text-faiss-write"}
    assert set(reached) >= must, sorted(must - set(reached))
    print(f"{op}: crashed at {len(reached)} points: {reached}")


def test_crash_env_var_works_through_the_cli(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = tmp_path / "cli"
    shutil.copytree(world["base"], index)
    gone = sorted(load_catalog(world["a"]).products)[0]
    env = {**os.environ, CRASH_ENV: "after-journal"}
    run = subprocess.run([sys.executable, "-m", "vsearch", "index", "remove", gone, "--index", str(index)], env=env,
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == CRASH_EXIT and (index / "publish.json").exists()
    with Searcher(index, device="cpu") as searcher:  # a reader sees the committed publish before it is finished
        assert searcher.manifest.products == 7
    verify = subprocess.run([sys.executable, "-m", "vsearch", "index", "verify", "--index", str(index)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 1 and "interrupted" in verify.stderr
    repair = subprocess.run([sys.executable, "-m", "vsearch", "index", "repair", "--index", str(index), "--json"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert not (index / "publish.json").exists() and verify_index(index).ok


def test_resumed_add_reports_its_new_products_as_added(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = tmp_path / "resume"
    shutil.copytree(world["base"], index)
    assert _crash(world, "add", index, "after-store-commit") == CRASH_EXIT  # the products are in the store
    report = add_products(load_catalog(world["b"]), index, world["emb"], world["text"], workers=0)
    # the 3 new products are reported added (not "updated"), the 1 upserted product updated: the first attempt
    # recorded which products the index already held, before its crash replaced the upserted product's photo row
    assert (report.products_added, report.products_updated) == (3, 1)
