"""kill -9 `vsearch index build` / `index add` at random moments; check the index after each kill and at the end.

Usage: python scripts/kill_test.py [--kills 20] [--seed 0] [--work DIR] [--json OUT]

Real photos (../shared/data/products-224), the tiny model, real lmdb and FAISS, real SIGKILL of a
subprocess. After every kill: `check_consistency` finds no problem (an index that is merely behind
its store is allowed) and a Searcher answers a query. At the end one build and one add run to
completion: every product is present exactly once, with exactly its photos, and the saved FAISS files
hold exactly the store's rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VSEARCH_SHARED_DATA", ROOT.parent / "shared" / "data")) / "products-224"


def make_catalogs(work: Path, n_a: int = 120, n_b: int = 30, upserts: int = 4) -> tuple[Path, Path, dict[str, str]]:
    """Catalogue A, and B = new products + `upserts` products of A with another photo. Returns expected photos."""
    with (DATA / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked = rows[::53][:n_a + n_b + upserts]
    a_rows, b_new, spare = picked[:n_a], picked[n_a:n_a + n_b], picked[n_a + n_b:]
    b_rows = b_new + [{**a_rows[i], "image": spare[i]["image"]} for i in range(upserts)]
    paths = []
    for name, data in (("A", a_rows), ("B", b_rows)):
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "labels.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in data:
                writer.writerow({**row, "image": str(DATA / row["image"])})
        paths.append(folder / "labels.csv")
    expected = {r["id"]: str(DATA / r["image"]) for r in a_rows}
    expected.update({r["id"]: str(DATA / r["image"]) for r in b_rows})
    return paths[0], paths[1], expected


def command(op: str, labels: Path, index: Path) -> list[str]:
    base = [sys.executable, "-m", "vsearch", "index", op, str(labels), "--index", str(index), "--workers", "0",
            "--batch-size", "4", "--json"]
    return base + (["-m", "tiny", "--no-titles"] if op == "build" else [])


def run_to_end(op: str, labels: Path, index: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(command(op, labels, index), capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{op} failed: {proc.stderr[-500:]}")
    return time.perf_counter() - t0


def check_after_kill(index: Path) -> dict[str, object]:
    """Consistency audit plus a real query through a Searcher (which syncs a lagging index in memory)."""
    from vsearch.search import Searcher
    from vsearch.update import check_consistency

    audit = check_consistency(index)
    if audit["problems"]:
        raise AssertionError(f"inconsistent after kill: {audit['problems']}")
    if (index / "manifest.json").is_file() and (index / "image.faiss").is_file():
        with Searcher(index, device="cpu") as searcher:
            rows, pids, _ = searcher.store.row_table("image")
            if len(rows):
                hits = searcher.search_like(pids[0], 5)
                known = {pid for pid, _ in searcher.store.iter_products()}
                if not hits or not {h.id for h in hits} <= known:
                    raise AssertionError("a query after the kill returned nothing or unknown products")
                audit["query_ok"] = True
    return audit


def check_final(index: Path, expected: dict[str, str]) -> dict[str, object]:
    from vsearch.store import Store
    from vsearch.update import check_consistency

    audit = check_consistency(index)
    assert not audit["problems"], audit["problems"]
    assert audit["behind"]["image"] == (0, 0), f"saved FAISS index differs from the store: {audit['behind']}"
    assert audit["synced_generation"] == audit["generation"], audit
    with Store(index / "store.lmdb", readonly=True) as store:
        products = dict(store.iter_products())
        assert set(products) == set(expected), "products lost or invented"
        for pid, photo in expected.items():
            rows = store.product_rows(pid, "image")
            assert len(rows) == 1, f"product {pid} has {len(rows)} image rows"
            assert store.row_sources(rows) == [photo], f"product {pid} has the wrong photo"
    return audit


def run(kills: int, work: Path, seed: int = 0) -> dict[str, object]:
    """`kills` random kill -9s of build/add, each followed by a check; then both run to completion."""
    rng = random.Random(seed)
    a_labels, b_labels, expected = make_catalogs(work)
    index = work / "index"
    durations = {"build": run_to_end("build", a_labels, work / "calibrate"),
                 "add": run_to_end("add", b_labels, work / "calibrate")}
    log = []
    for i in range(kills):
        op = "build" if not (index / "manifest.json").is_file() or rng.random() < 0.5 else "add"
        delay = rng.uniform(0.2, 1.0) * durations[op] if rng.random() < 0.5 else rng.uniform(0.7, 1.05) * durations[op]
        proc = subprocess.Popen(command(op, a_labels if op == "build" else b_labels, index), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        audit = check_after_kill(index)
        log.append({"kill": i + 1, "op": op, "after_s": round(delay, 2), "killed": not finished,
                    "generation": audit.get("generation"), "synced_generation": audit.get("synced_generation"),
                    "behind": audit["behind"], "image_rows": audit.get("image_rows"),
                    "query_ok": audit.get("query_ok", False)})
    run_to_end("build", a_labels, index)
    run_to_end("add", b_labels, index)
    final = check_final(index, expected)
    return {"kills": log, "killed": sum(1 for e in log if e["killed"]),
            "left_index_behind": sum(1 for e in log if any(v != (0, 0) for v in e["behind"].values())),
            "calibration_s": {k: round(v, 2) for k, v in durations.items()},
            "final": {k: final[k] for k in ("generation", "synced_generation", "products", "image_rows")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="vsearch-kill-") as tmp:
        result = run(args.kills, args.work or Path(tmp), args.seed)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
