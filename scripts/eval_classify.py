"""Figures behind eval/classify/README.md: title+photo accuracy on never-seen products, review, noisy labels.

    python scripts/eval_classify.py --index /tmp/cls-224 --out eval/classify

`--index` is a products-224 index (`vsearch index build ../shared/data/products-224 --index /tmp/cls-224`).
Settings (C, review target error, fusion weight) are chosen on the validation split; test is reported once.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from vsearch.classify.data import parse_levels, read_label_file
from vsearch.classify.review import ranked_ids
from vsearch.classify.train import train_model
from vsearch.core.atomic import atomic_write_text

LEVELS = "masterCategory,subCategory,articleType"


def noisy_review(data, fraction: float, seed: int, folds: int) -> dict:
    """Flip `fraction` of the leaf labels to another random class; how many does review rank in its top 10 %?"""
    leaf = data.levels[-1]
    classes = sorted(set(data.labels[leaf]))
    rng = random.Random(seed)
    flipped = set(rng.sample(data.ids, int(fraction * len(data))))
    pos = {pid: i for i, pid in enumerate(data.ids)}
    for pid in flipped:
        i = pos[pid]
        data.labels[leaf][i] = rng.choice([c for c in classes if c != data.labels[leaf][i]])
    t = time.time()
    order = ranked_ids(data, leaf, folds)
    top = set(order[: len(order) // 10])
    return {"rows": len(data), "flipped": len(flipped), "fraction": fraction, "folds": folds, "seed": seed,
            "flipped_in_top_10pct": len(flipped & top) / len(flipped), "seconds": round(time.time() - t, 1),
            "flipped_in_top_n_flipped": len(flipped & set(order[: len(flipped)])) / len(flipped)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", default="../shared/data/product-styles.csv")
    ap.add_argument("--index", default="/tmp/cls-224")
    ap.add_argument("--out", default="eval/classify")
    ap.add_argument("--target-error", type=float, default=0.0125)
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    data = read_label_file(args.labels, parse_levels(LEVELS))
    if not args.skip_train:
        t = time.time()
        _, report = train_model(data, args.index, target_error=args.target_error)
        report["seconds"] = round(time.time() - t, 1)
        report["command"] = f"python scripts/eval_classify.py --index {args.index} --out {args.out}"
        atomic_write_text(out / "train_report.json", json.dumps(report, indent=1))
        print(json.dumps(report["test"], indent=1))
    noise = noisy_review(read_label_file(args.labels, parse_levels(LEVELS)), 0.10, seed=0, folds=5)
    atomic_write_text(out / "noise.json", json.dumps(noise, indent=1))
    print(json.dumps(noise, indent=1))


if __name__ == "__main__":
    main()
