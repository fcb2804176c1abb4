"""Predict throughput of the title model (titles/s), one process per core: writes eval/classify/bench.json.

    python scripts/bench_classify.py --model indexes/classify/models/model-0001.joblib --cores 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

from vsearch.classify.model import load_model
from vsearch.core.atomic import atomic_write_text

_MODEL = None


def _init(path: str) -> None:
    global _MODEL
    os.environ["OMP_NUM_THREADS"] = "1"
    _MODEL = load_model(path)


def _run(titles: list[str]) -> tuple[int, float]:
    t = time.perf_counter()
    _MODEL.predict(titles)  # type: ignore[union-attr]
    return len(titles), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--labels", default="../shared/data/product-styles.csv")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--out", default="eval/classify/bench.json")
    args = ap.parse_args()
    with open(args.labels, newline="") as fh:
        titles = [r["productDisplayName"] for r in csv.DictReader(fh)]
    chunks = [titles[i:i + 4096] for i in range(0, len(titles), 4096)]
    _init(args.model)
    _run(chunks[0])  # warm up
    n1, s1 = 0, 0.0
    t = time.perf_counter()
    for c in chunks:
        n1 += _run(c)[0]
    s1 = time.perf_counter() - t
    with ProcessPoolExecutor(args.cores, initializer=_init, initargs=(args.model,)) as pool:
        list(pool.map(_run, chunks[: args.cores]))  # load + warm up each worker
        t = time.perf_counter()
        n2 = sum(n for n, _ in pool.map(_run, chunks))
        s2 = time.perf_counter() - t
    out = {"titles": len(titles), "one_process_titles_per_s": round(n1 / s1), "cores": args.cores,
           f"{args.cores}_processes_titles_per_s": round(n2 / s2), "goal_titles_per_s": 5000,
           "cpu": os.cpu_count(), "command": f"python scripts/bench_classify.py --model {args.model} "
           f"--cores {args.cores}", "note": "machine shared with other jobs; title-only predict incl. tree decoding"}
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
