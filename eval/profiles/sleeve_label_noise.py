"""How often a product's own description names a different sleeve length than its `Sleeve Length` label.

Reads only the labels file (no model): for each labelled product whose description names exactly one sleeve length
(by the phrases below), does the named length match the label? The mismatch rate bounds the accuracy any model
can reach against these labels. "Sleeveless" and "No Sleeves" are one length here (the shop uses both names).

    python eval/profiles/sleeve_label_noise.py ../shared/data/product-attributes.csv \
        --out eval/profiles/sleeve_label_noise.json
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter

PHRASES = {
    "Short Sleeves": r"\b(short|half|cap)[- ]sleeve",
    "Long Sleeves": r"\b(long|full)[- ]sleeve|\bfull[- ]length sleeve|\bfull arm sleeve",
    "Three-Quarter Sleeves": r"three[- ]quarter|3/4(th)? sleeve|elbow[- ]length sleeve",
    "Sleeveless": r"\bsleeveless\b",
}
SAME = {"No Sleeves": "Sleeveless"}


def named_length(text: str) -> str | None:
    found = {k for k, p in PHRASES.items() if re.search(p, text.lower())}
    return found.pop() if len(found) == 1 else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels")
    ap.add_argument("--index-labels", default="../shared/data/products-224/labels.csv",
                    help="the photographed catalogue: its test products are the heads' test set (index_test)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from vsearch.core.split import split_of

    rows = [r for r in csv.DictReader(open(args.labels, newline="", encoding="utf-8")) if r.get("Sleeve Length")]
    with open(args.index_labels, newline="", encoding="utf-8") as fh:
        photographed = {r["id"] for r in csv.DictReader(fh)}
    out: dict[str, object] = {"labelled": len(rows), "phrases": PHRASES}
    for split in ("all", "val", "test", "index_test"):
        part = [r for r in rows if split == "all" or split_of(r["id"]) == split.removeprefix("index_")
                and (not split.startswith("index_") or r["id"] in photographed)]
        named = [(SAME.get(r["Sleeve Length"], r["Sleeve Length"]), n) for r in part
                 if (n := named_length(r.get("description", ""))) is not None]
        wrong = Counter(f"{lab} labelled, description says {n}" for lab, n in named if lab != n)
        out[split] = {"labelled": len(part), "description_names_one_length": len(named),
                      "disagree": sum(wrong.values()),
                      "disagree_share": round(sum(wrong.values()) / max(len(named), 1), 4),
                      "pairs": dict(wrong.most_common())}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k in ("all", "val", "test", "index_test")}, indent=1))


if __name__ == "__main__":
    main()
