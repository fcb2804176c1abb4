"""Experiment (val split only): do MiniLM title vectors help the attribute heads of `vsearch profile heads`?

Class-balanced logistic regression on standardised inputs, trained on the train split of products-224 products
that carry the attribute (no n/a class, unlike the shipped heads), scored on val: image vector, title vector,
and both concatenated. It chose the image+title heads that `vsearch profile heads` now trains beside the
image-only ones (eval/profiles/README.md, section 3).

    python eval/profiles/title_inputs.py --index indexes/default --out eval/profiles/title_inputs.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from vsearch.core.split import split_of
from vsearch.evaluate.context import EvalContext


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--labels", type=Path, default=Path("../shared/data/product-attributes.csv"))
    ap.add_argument("--out", type=Path, default=Path("eval/profiles/title_inputs.json"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    with EvalContext(args.index) as ctx:
        image = ctx.product_vectors()
        tids, tvecs = ctx.vectors("title")
    title = dict(zip(tids, tvecs))
    with args.labels.open(newline="") as fh:
        attrs = {r["id"]: r for r in csv.DictReader(fh)}
    results = []
    for col in ("Pattern", "Sleeve Length", "Neck"):
        ids = [p for p in sorted(image) if attrs.get(p, {}).get(col) and p in title]
        y = np.array([attrs[p][col] for p in ids])
        split = np.array([split_of(p, "vsearch-split-v1") for p in ids])
        x_img, x_txt = np.stack([image[p] for p in ids]), np.stack([title[p] for p in ids])
        for name, x in (("image", x_img), ("title", x_txt), ("image+title", np.hstack([x_img, x_txt]))):
            x = (x - x[split == "train"].mean(0)) / (x[split == "train"].std(0) + 1e-3)
            for c in (0.01, 0.1):
                model = LogisticRegression(C=c, class_weight="balanced", max_iter=300)
                pred = model.fit(x[split == "train"], y[split == "train"]).predict(x[split == "val"])
                truth = y[split == "val"]
                results.append({"column": col, "inputs": name, "C": c, "val_products": int(len(truth)),
                                "val_classes": int(len(set(truth))), "accuracy": round(accuracy_score(truth, pred), 3),
                                "balanced_accuracy": round(balanced_accuracy_score(truth, pred), 3)})
                print(json.dumps(results[-1]), flush=True)
    args.out.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
