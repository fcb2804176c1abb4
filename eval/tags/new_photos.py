"""Tag photos that are not in the index: products-small products absent from products-224 (60x80, grey
backgrounds: another rendition of the shop). Accuracy of each attribute head vs the majority guess.

Usage: PYTHONPATH=. python eval/tags/new_photos.py INDEX ../shared/data --n 120 --out eval/tags/new_photos.json
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index")
    parser.add_argument("data")
    parser.add_argument("--n", type=int, default=120)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from vsearch.tags.tagger import Tagger

    data = Path(args.data)
    with (data / "products-224" / "labels.csv").open(newline="") as fh:
        indexed = {row["id"] for row in csv.DictReader(fh)}
    with (data / "products-small" / "labels.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["id"] not in indexed][: args.n]
    results = Tagger(args.index, zero_shot=False).tag_photos([data / "products-small" / r["image"] for r in rows])
    report: dict[str, object] = {"index": args.index, "photos": len(rows)}
    for col in ("articleType", "baseColour", "gender", "usage", "season"):
        acc = sum(res["attributes"][col]["label"] == r[col] for res, r in zip(results, rows)) / len(rows)
        majority = Counter(r[col] for r in rows).most_common(1)[0][1] / len(rows)
        report[col] = {"accuracy": round(acc, 4), "majority_accuracy": round(majority, 4)}
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
