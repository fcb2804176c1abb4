"""Scale benchmark of `build_groups` (rule-based matcher) on offers generated from the real PriceRunner ones.

How offers are generated: each synthetic offer copies a real offer's title and category and is given (a) a
random title edit -- drop one word, swap two adjacent words, or append a seller word ("uk", "new", "sim free",
"boxed") -- and (b) a random seller drawn from `--sellers` synthetic sellers. Rows cycle through the real file,
so N offers hold N / 21,143 edited copies of each real offer: a speed benchmark (no truth is judged).
Writes one JSON with the seconds of each size. Not a test: run it by hand.

    OMP_NUM_THREADS=1 python scripts/bench_group.py --sizes 20000 50000 100000 --out eval/group/bench.json
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

EXTRA = ["uk", "new", "sim free", "boxed", "retail", "official"]


def generate(rows: list[dict[str, str]], n: int, sellers: int, seed: int = 0):  # noqa: ANN201
    from vsearch.group.offers import Offers

    rng = random.Random(seed)
    ids, titles, sell, cats = [], [], [], []
    for k in range(n):
        src = rows[k % len(rows)]
        words = src["product_title"].split()
        edit = rng.random()
        if edit < 0.3 and len(words) > 3:
            words.pop(rng.randrange(len(words)))
        elif edit < 0.6 and len(words) > 3:
            p = rng.randrange(len(words) - 1)
            words[p], words[p + 1] = words[p + 1], words[p]
        elif edit < 0.8:
            words.append(rng.choice(EXTRA))
        ids.append(f"s{k}")
        titles.append(" ".join(words))
        sell.append(str(rng.randrange(sellers)))
        cats.append(src["category_label"])
    return Offers(ids, titles, sell, cats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--offers", type=Path, default=Path("../shared/data/pricerunner/offers.csv"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    ap.add_argument("--sellers", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path("eval/group/bench.json"))
    args = ap.parse_args()
    from vsearch.core.atomic import atomic_write_text
    from vsearch.group.build import build_groups

    with args.offers.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    results = []
    for n in args.sizes:
        offers = generate(rows, n, args.sellers)
        start = time.perf_counter()
        g = build_groups(offers)
        seconds = time.perf_counter() - start
        results.append({"offers": n, "seconds": round(seconds, 2), "groups": int(g.labels.max()) + 1,
                        "candidate_pairs": int(len(g.pairs.i))})
        print(json.dumps(results[-1]), flush=True)
    import os

    report = {"what": "build_groups, rule-based matcher, greedy + seller constraint, k=20, 1 thread",
              "cpu_threads": os.environ.get("OMP_NUM_THREADS"), "generation": __doc__.split("\n\n")[1],
              "results": results}
    if len(results) > 1:
        a, b = results[0], results[-1]
        report["time_ratio"] = round(b["seconds"] / a["seconds"], 2)
        report["size_ratio"] = round(b["offers"] / a["offers"], 2)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
