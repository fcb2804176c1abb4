"""kill -9 `vsearch index build` / `index add` at random moments; check the index after each kill and at the end.

Usage: python scripts/kill_test.py [--kills 20] [--seed 0] [--work DIR] [--json OUT]

Real photos (../shared/data/products-224), the tiny model, real lmdb and FAISS, real SIGKILL of a
subprocess, timed by watching the store's commits from outside (mid-embedding, mid-removal, during
the FAISS/manifest writes, or at a random moment). Only kills that interrupted work count (the store had
committed something of the run, or a publish was under way); runs that finish first or die before
changing anything are retried.
After every kill: `check_consistency` finds no problem (an index that is merely behind
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
import shutil
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
    picked = rows[::23][:n_a + n_b + upserts]
    a_rows, b_new, spare = picked[:n_a], picked[n_a:n_a + n_b], picked[n_a + n_b:]
    b_rows = b_new + [{**a_rows[i], "image": spare[i]["image"]} for i in range(upserts)]
    photos = work / "images"  # the photos copied into the work folder: catalogue paths stay inside it
    photos.mkdir(parents=True, exist_ok=True)
    for row in picked:
        shutil.copyfile(DATA / row["image"], photos / Path(row["image"]).name)
    paths = []
    for name, data in (("A", a_rows), ("B", b_rows)):
        with (work / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in data:
                writer.writerow({**row, "image": f"images/{Path(row['image']).name}"})
        paths.append(work / f"{name}.csv")
    expected = {r["id"]: str(photos / Path(r["image"]).name) for r in a_rows}
    expected.update({r["id"]: str(photos / Path(r["image"]).name) for r in b_rows})
    return paths[0], paths[1], expected


def command(op: str, arg: Path | list[str], index: Path) -> list[str]:
    base = [sys.executable, "-m", "vsearch", "index", op]
    base += [str(arg)] if isinstance(arg, Path) else list(arg)
    base += ["--index", str(index), "--json"]
    if op == "remove":
        return base
    return base + ["--workers", "0", "--batch-size", "2"] + (["-m", "tiny", "--no-titles"] if op == "build" else [])


def generation(index: Path) -> int:
    """The store's generation as another process sees it (-1 before the store exists)."""
    import lmdb

    from vsearch.index.store import Store

    if not (index / "store.lmdb" / "data.mdb").is_file():
        return -1
    try:
        with Store(index / "store.lmdb", readonly=True) as store:
            return store.generation()
    except lmdb.Error:  # the child is still creating the store's tables
        return -1


def done_with_store(index: Path, want_sources: set[str], gone_ids: set[str]) -> bool:
    """True once every photo in `want_sources` is embedded and every id in `gone_ids` is removed."""
    import lmdb

    from vsearch.index.store import Store

    try:
        with Store(index / "store.lmdb", readonly=True) as store:
            return want_sources <= store.embedded_sources("image") and not any(
                store.product_rows(pid) for pid in gone_ids)
    except lmdb.Error:
        return False


def kill_during(cmd: list[str], index: Path, mode: str, rng: random.Random, want: tuple[set[str], set[str]],
                timeout: float = 300.0) -> dict[str, object]:
    """Start `cmd`; SIGKILL it at a moment picked by `mode`; returns what happened.

    Modes: "embed" -- after 1 to 20 new lmdb commits (mid-embedding or mid-removal);
    "finalize" -- 0-1 s after the store holds all the run's work (FAISS rebuild/save, manifest write);
    "any" -- a uniformly random moment up to the previous run's duration.
    """
    g0 = generation(index)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    target = g0 + rng.randint(1, 20)
    deadline = start + rng.uniform(0.5, kill_during.last_duration) if mode == "any" else start + timeout
    last_gen = g0
    while proc.poll() is None and time.perf_counter() < deadline:
        gen = generation(index)
        if gen != last_gen:
            last_gen = gen
        if mode == "embed" and gen >= target:
            break
        if mode == "finalize" and gen > g0 and done_with_store(index, *want):
            time.sleep(rng.uniform(0.0, 1.0))
            break
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not killed:
        kill_during.last_duration = max(1.0, time.perf_counter() - start)
    return {"killed": killed, "after_s": round(time.perf_counter() - start, 2), "commits_seen": last_gen - g0}


kill_during.last_duration = 20.0  # type: ignore[attr-defined]


def run_to_end(op: str, labels: Path | list[str], index: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(command(op, labels, index), capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{op} failed: {proc.stderr[-500:]}")
    return time.perf_counter() - t0


def check_after_kill(index: Path) -> dict[str, object]:
    """Consistency audit plus a real query through a Searcher (which syncs a lagging index in memory)."""
    from vsearch.index.search import Searcher
    from vsearch.index.update import check_consistency

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
    from vsearch.index.store import Store
    from vsearch.index.update import check_consistency

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


def run(kills: int, work: Path, seed: int = 0, n_a: int = 200) -> dict[str, object]:
    """`kills` real kill -9s of build/add/remove, each followed by a check; then build and add run to completion."""
    from vsearch.catalog.reader import load_catalog

    rng = random.Random(seed)
    a_labels, b_labels, expected = make_catalogs(work, n_a=n_a)
    index = work / "index"
    kill_during.last_duration = run_to_end("build", a_labels, work / "calibrate")  # type: ignore[attr-defined]
    log: list[dict[str, object]] = []
    attempts = 0
    while len(log) < kills and attempts < 8 * kills:
        attempts += 1
        built = (index / "manifest.json").is_file()
        if not built and len(log) >= 3:  # the first build was killed 3 times: let it finish once
            run_to_end("build", a_labels, index)
            built = True
        op = "build" if not built else rng.choice(["build", "build", "add", "remove"])
        want: tuple[set[str], set[str]] = (set(), set())
        if op == "remove":  # remove then let later builds/adds re-embed: more work to interrupt
            arg: Path | list[str] = rng.sample(sorted(expected), 12)
            want = (set(), set(arg))
        else:
            arg = a_labels if op == "build" else b_labels
            want = ({str(p.path) for p in load_catalog(arg).photos}, set())
        mode = rng.choice(["embed", "finalize", "any"]) if op != "remove" else rng.choice(["finalize", "any"])
        event = kill_during(command(op, arg, index), index, mode, rng, want)
        pending = (index / "publish.json").exists() or any(index.glob("*.pending"))
        event["interrupted_work"] = bool(event["killed"] and (event["commits_seen"] or pending))
        if not event["interrupted_work"]:
            continue  # finished first, or killed before it changed anything: not counted, try again
        audit = check_after_kill(index)
        log.append({"kill": len(log) + 1, "op": op, "mode": mode, **event,
                    "generation": audit.get("generation"), "synced_generation": audit.get("synced_generation"),
                    "behind": audit["behind"], "image_rows": audit.get("image_rows"),
                    "query_ok": audit.get("query_ok", False)})
    run_to_end("build", a_labels, index)
    run_to_end("add", b_labels, index)
    final = check_final(index, expected)
    return {"kills": log, "attempts": attempts,
            "left_index_behind_store": sum(1 for e in log if any(v != (0, 0) for v in e["behind"].values())),
            "killed_before_first_manifest": sum(1 for e in log if e["synced_generation"] is None),
            "final": {k: final[k] for k in ("generation", "synced_generation", "products", "image_rows")},
            "expected_products": len(expected)}


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
