"""Scale benchmark of `build_groups` (rule-based matcher) on offers generated from the real PriceRunner ones.

How offers are generated: the 21,143 real offers (7,940 real products, their real sellers) come first, unchanged.
Then, until N offers are reached, new synthetic products are made, each from a real product picked at random
(among the 7,735 whose titles hold a digit): a digit run of its model code (the one in most of its titles; any
digit run when it has no code) gets one digit changed, with probability 0.3 a second run too, consistently
wherever those digits occur in all its titles (`ue40j6300` -> `ue40j6200` in every offer of the product; `i7 8700
... bx80684i78700` -> `i7 8720 ... bx80684i78720`), so a synthetic product is as close to its parent and to its
siblings as real near-products are to each other (`ue40j6300` / `ue48j6300`). It gets one offer per offer of the
parent whose title the change touched (an offer that does not name the changed digits could not tell the sibling
from its parent), each title with a random edit (drop one word, swap two adjacent words, append a seller word such
as "uk" or "boxed", or none), and sellers drawn without repetition within the product from `--sellers` synthetic
sellers. A (parent, change) never repeats, so products stay distinct: the number of products grows with N (about
N / 2.5), and every offer's true product is known (pairwise P/R against it is reported as a sanity figure).
Writes one JSON with the seconds of each size (after an untimed 5,000-offer warm-up build). Not a test: run it by
hand.

    python scripts/bench_group.py --sizes 100000 300000 1000000 --exact-at 100000 --out eval/group/bench.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

EXTRA = ["uk", "new", "sim free", "boxed", "retail", "official"]
_RUN = re.compile(r"(?<!\d)\d+(?!\d)")


def _edit(title: str, rng: random.Random) -> str:
    words = title.split()
    edit = rng.random()
    if edit < 0.25 and len(words) > 3:
        words.pop(rng.randrange(len(words)))
    elif edit < 0.5 and len(words) > 3:
        p = rng.randrange(len(words) - 1)
        words[p], words[p + 1] = words[p + 1], words[p]
    elif edit < 0.75:
        words.append(rng.choice(EXTRA))
    return " ".join(words)


def _changed(run: str, rng: random.Random) -> str:
    """`run` with one digit replaced by another (no leading zero introduced)."""
    p = rng.randrange(len(run))
    choices = [d for d in "0123456789" if d != run[p] and not (d == "0" and p == 0 and len(run) > 1)]
    return run[:p] + rng.choice(choices) + run[p + 1:]


def _digit_runs(titles: list[str]) -> Counter[str]:
    """Titles holding each digit run of the product's model codes (of any word when it has no code)."""
    from vsearch.group.tokens import parse_title

    in_codes = Counter(r for t in titles for r in dict.fromkeys(_RUN.findall(" ".join(sorted(parse_title(t).codes)))))
    return in_codes or Counter(r for t in titles for r in dict.fromkeys(_RUN.findall(t)))


def _mutation(counts: Counter[str], rng: random.Random) -> tuple[tuple[str, str], ...]:
    """Digit strings to replace for a new sibling product: the code's run in most titles, maybe one more."""
    runs = sorted(counts, key=lambda r: (-counts[r], rng.random()))
    out = [(runs[0], _changed(runs[0], rng))]
    if len(runs) > 1 and rng.random() < 0.3:
        other = rng.choice(runs[1:])
        out.append((other, _changed(other, rng)))
    return tuple(out)


def _apply(title: str, mutation: tuple[tuple[str, str], ...]) -> str:
    """Every occurrence replaced, inside longer numbers too (`i7 8700` and `bx80684i78700` change together)."""
    for old, new in mutation:
        title = title.replace(old, new)
    return title


def generate(rows: list[dict[str, str]], n: int, sellers: int, seed: int = 0):  # noqa: ANN201
    """(Offers, true product per offer) of `n` offers: the real ones, then synthetic sibling products."""
    from vsearch.group.offers import Offers

    rng = random.Random(seed)
    products: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        products.setdefault(r["cluster_id"], []).append(r)
    ids, titles, sell, cats, truth = [], [], [], [], []
    for r in rows[:n]:
        ids.append(f"r{r['product_id']}")
        titles.append(r["product_title"])
        sell.append(f"v{r['vendor_id']}")
        cats.append(r["category_label"])
        truth.append(r["cluster_id"])
    parents = sorted(c for c, offers in products.items() if any(_RUN.search(o["product_title"]) for o in offers))
    used: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    runs: dict[str, Counter[str]] = {}
    while len(ids) < n:
        parent = rng.choice(parents)
        offers = products[parent]
        if parent not in runs:
            runs[parent] = _digit_runs([o["product_title"] for o in offers])
        mutation = _mutation(runs[parent], rng)
        if (parent, mutation) in used:
            continue
        used.add((parent, mutation))
        product = f"{parent}-{len(used)}"
        changed = [(o, t) for o in offers if (t := _apply(o["product_title"], mutation)) != o["product_title"]]
        for (o, title), seller in zip(changed, rng.sample(range(sellers), len(changed))):
            if len(ids) == n:
                break
            ids.append(f"s{len(ids)}")
            titles.append(_edit(title, rng))
            sell.append(str(seller))
            cats.append(o["category_label"])
            truth.append(product)
    return Offers(ids, titles, sell, cats), truth


class _Stages(logging.Handler):
    """Seconds of each `timed` step of `build_groups` (its "<step> done in <s>" log lines)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s done in %.2fs" and isinstance(record.args, tuple):
            self.seconds[str(record.args[0])] = round(float(record.args[1]), 2)


def _run(offers, truth: list[str], config) -> tuple[dict, object]:  # noqa: ANN001
    import resource

    from vsearch.group.build import build_groups
    from vsearch.group.metrics import pairwise

    stages = _Stages()
    log = logging.getLogger("vsearch.core.log")
    log.addHandler(stages)
    log.setLevel(logging.INFO)
    start = time.perf_counter()
    g = build_groups(offers, config)
    seconds = time.perf_counter() - start
    log.removeHandler(stages)
    r = pairwise([str(v) for v in g.labels.tolist()], truth)
    stages.seconds["group quality and the rest"] = round(seconds - sum(stages.seconds.values()), 2)
    return {"offers": len(offers), "products": len(set(truth)), "seconds": round(seconds, 2),
            "stages": stages.seconds, "groups": int(g.labels.max()) + 1, "candidate_pairs": int(len(g.pairs.i)),
            "largest_group": int(np.bincount(g.labels).max()),
            "pairwise_vs_generated_products": {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()},
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}, g


def _same_product_pairs(g, truth: np.ndarray) -> int:  # noqa: ANN001
    return int((truth[g.pairs.i] == truth[g.pairs.j]).sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--offers", type=Path, default=Path("../shared/data/pricerunner/offers.csv"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--sellers", type=int, default=3000)
    ap.add_argument("--exact-at", type=int, default=None, help="At this size also group with exact kNN candidates "
                    "(the search before the inverted index) and compare.")
    ap.add_argument("--out", type=Path, default=Path("eval/group/bench.json"))
    args = ap.parse_args()
    from vsearch.core.atomic import atomic_write_text
    from vsearch.group.build import GroupConfig

    with args.offers.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    report: dict = {"command": "python " + " ".join(sys.argv),
                    "what": "build_groups, rule-based matcher, greedy + seller constraint, k=20, budget 4000",
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "cpu_cores": len(os.sched_getaffinity(0)), "load_average_at_start": os.getloadavg()[0],
                    "generation": __doc__.split("\n\n")[1], "results": []}
    warm, warm_truth = generate(rows, 5000, args.sellers)
    _run(warm, warm_truth, GroupConfig())  # imports and first-call costs stay out of the first size
    for n in args.sizes:
        offers, truth = generate(rows, n, args.sellers)
        result, g = _run(offers, truth, GroupConfig())
        if n == args.exact_at:
            exact, ge = _run(offers, truth, GroupConfig(exact_max=10**9))
            t = np.asarray(truth)
            found = np.isin(ge.pairs.i.astype(np.int64) * n + ge.pairs.j, g.pairs.i.astype(np.int64) * n + g.pairs.j)
            exact["exact_pairs_found_by_inverted"] = round(float(found.mean()), 4)
            exact["same_product_exact_pairs_found_by_inverted"] = round(float(found[t[ge.pairs.i] == t[ge.pairs.j]]
                                                                              .mean()), 4)
            exact["same_product_candidate_pairs"] = _same_product_pairs(ge, t)
            result["same_product_candidate_pairs"] = _same_product_pairs(g, t)
            result["exact_candidates"] = exact
        report["results"].append(result)
        print(json.dumps(result), flush=True)
    results = report["results"]
    if len(results) > 1:
        a, b = results[0], results[-1]
        report["time_ratio"] = round(b["seconds"] / a["seconds"], 2)
        report["size_ratio"] = round(b["offers"] / a["offers"], 2)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
