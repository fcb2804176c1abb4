"""Two writers and a reader on one index for 100 rounds: every round ends consistent or with a refused writer.

Each round forks writer A (adds one product), writer B (adds one, or removes one; every third round
it will not wait for the lock, so it is refused whenever A holds it) and a reader that queries
throughout. Real processes, real flock, lmdb, FAISS, photos, the tiny model. After each round: the
index verifies clean (store = FAISS = manifest), the products are exactly those of the writers that
reported success, each found first by its own photo, and the reader never saw an error or an unknown id.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

from tests.conftest import write_subset
from vsearch.catalog.reader import load_catalog
from vsearch.core.errors import IndexBusyError
from vsearch.index.build import add_products, build_catalog_index
from vsearch.index.search import Searcher
from vsearch.index.update import remove_products
from vsearch.index.verify import verify_index
from vsearch.models import create_embedder

ROUNDS = 100
REFUSED = 3


def _fork(work) -> int:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            import faiss
            import torch

            # The parent's OpenMP thread pool does not survive the fork: a parallel region would wait forever.
            torch.set_num_threads(1)
            faiss.omp_set_num_threads(1)
            code = work()
        except IndexBusyError:
            code = REFUSED
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _one_product_labels(folder: Path, row: dict[str, str], name: str) -> Path:
    path = folder / f"{name}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return path


def _reader(index: Path, photos: list[str], known: set[str]) -> int:
    for photo in photos * 3:
        with Searcher(index, device="cpu") as searcher:
            ids = {pid for pid, _ in searcher.store.iter_products()}
            hits = searcher.search_photos([photo], 3)
            if not hits or not {h.id for h in hits} <= ids | known:
                return 2
    return 0


def test_two_writers_and_a_reader_for_100_rounds(products_224: Path, tmp_path: Path) -> None:
    """Run in a fresh interpreter: the rounds fork writers, and the suite's process has open lmdb environments
    and thread pools from earlier tests that a forked child must not inherit."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = ("import sys; from pathlib import Path; from tests.index.test_two_writers import run_rounds; "
            "run_rounds(Path(sys.argv[1]), Path(sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, str(products_224), str(tmp_path)], cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def run_rounds(products_224: Path, tmp_path: Path) -> None:
    labels = write_subset(products_224, tmp_path / "cat", 10 + 2 * ROUNDS, every=17)
    folder = labels.parent
    with labels.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    emb = create_embedder("tiny", device="cpu")
    index = tmp_path / "index"
    seed_labels = folder / "seed.csv"
    with seed_labels.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:10])
    build_catalog_index(load_catalog(seed_labels), index, emb, None, workers=0)
    expected = {r["id"]: str(folder / r["image"]) for r in rows[:10]}
    rng = random.Random(0)
    refused = rounds = 0
    for n in range(ROUNDS):
        row_a, row_b = rows[10 + 2 * n], rows[11 + 2 * n]
        cat_a = load_catalog(_one_product_labels(folder, row_a, f"a{n}"))
        cat_b = load_catalog(_one_product_labels(folder, row_b, f"b{n}"))
        victim = rng.choice(sorted(expected)) if n % 2 else None
        b_wait = 0.0 if n % 3 == 0 else 30.0

        def write_a() -> int:
            add_products(cat_a, index, emb, None, workers=0, wait=30.0)  # noqa: B023
            return 0

        def write_b() -> int:
            if victim is not None:  # noqa: B023
                remove_products(index, [victim], wait=b_wait)  # noqa: B023
            else:
                add_products(cat_b, index, emb, None, workers=0, wait=b_wait)  # noqa: B023
            return 0

        sample = [expected[k] for k in sorted(expected)[:2]]
        reader = _fork(lambda: _reader(index, sample, {row_a["id"], row_b["id"]}))  # noqa: B023
        pid_a, pid_b = _fork(write_a), _fork(write_b)
        rc_a, rc_b, rc_r = _wait(pid_a), _wait(pid_b), _wait(reader)
        assert rc_a == 0 and rc_b in (0, REFUSED) and rc_r == 0, (n, rc_a, rc_b, rc_r)
        expected[row_a["id"]] = str(folder / row_a["image"])
        if rc_b == REFUSED:
            refused += 1
        elif victim is not None:
            expected.pop(victim)
        else:
            expected[row_b["id"]] = str(folder / row_b["image"])
        verdict = verify_index(index, deep=n % 10 == 9)
        assert verdict.ok, (n, verdict.problems, verdict.behind)
        with Searcher(index, device="cpu") as searcher:
            assert {pid for pid, _ in searcher.store.iter_products()} == set(expected), f"round {n}: silent loss"
            assert searcher.manifest.count == searcher.manifest.products == len(expected)
            for pid in {row_a["id"], row_b["id"]} & set(expected):
                assert searcher.search_photos([expected[pid]], 1)[0].id == pid
        rounds += 1
    assert rounds == ROUNDS and 0 < refused < ROUNDS
    print(f"{rounds} rounds, {refused} refused writers, {len(expected)} products at the end")


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
