"""Experiment (val split only): do MiniLM title vectors help `vsearch group` on PriceRunner?

The shipped pipeline (char n-gram TF-IDF kNN candidates, boosted matcher trained on train-cluster offers only,
greedy merging with the seller constraint, all 21,143 offers grouped together) against two uses of MiniLM:
  (a) `GroupConfig.text_model`: the MiniLM cosine of a pair as one more matcher feature;
  (b) with `GroupConfig.dense_k`: also the nearest offers by MiniLM cosine within the category as candidates.
Prints val pairwise precision/recall over a threshold sweep; the test split is not read.

    python eval/group/minilm_pairs.py --out eval/group/minilm_pairs.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from vsearch.core.split import split_of
from vsearch.group.build import Encoded, GroupConfig, candidate_pairs, score_pairs, title_vectors, train_matcher
from vsearch.group.candidates import TitleVectoriser
from vsearch.group.cluster import greedy_merge
from vsearch.group.metrics import pairwise
from vsearch.group.offers import read_labels, read_offers
from vsearch.group.rules import train_labels
from vsearch.group.tokens import parse_title

THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offers", type=Path, default=Path("../shared/data/pricerunner/offers.csv"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/pricerunner-minilm.npy"))
    ap.add_argument("--dense-k", type=int, nargs="+", default=[10])
    ap.add_argument("--out", type=Path, default=Path("eval/group/minilm_pairs.json"))
    args = ap.parse_args()
    offers = read_offers(args.offers, "product_id", "product_title", "vendor_id", "category_label")
    truth = read_labels(args.offers, "product_id", "cluster_id")
    train = train_labels(truth, "train")
    if args.cache.is_file():
        dense = np.load(args.cache)
    else:
        dense = title_vectors(offers.titles, "minilm")
        np.save(args.cache, dense)
    base = GroupConfig()
    parts = [parse_title(t) for t in offers.titles]
    vec = TitleVectoriser.fit_transform(offers.titles, parts, base.code_weight)[0]
    labels = np.asarray([truth[o] for o in offers.ids], dtype=object)
    val = np.where(np.asarray([split_of(c) for c in labels]) == "val")[0]
    n_true = sum(c * (c - 1) // 2 for c in np.unique(labels[val], return_counts=True)[1])
    runs = [("shipped", base, None), ("+sim_text", replace(base, text_model="minilm"), dense)]
    runs += [(f"+sim_text +dense_k {k}", replace(base, text_model="minilm", dense_k=k), dense) for k in args.dense_k]
    results = []
    for name, cfg, d in runs:
        enc = Encoded.of(offers, parts, vec, d)
        matcher = train_matcher(enc, cfg, train)
        i, j, s = candidate_pairs(enc, cfg)
        _, score = score_pairs(enc, matcher, i, j, s)
        inside = np.isin(i, val) & np.isin(j, val) & (labels[i] == labels[j])
        row = {"run": name, "candidates": int(len(i)),
               "val_true_pairs_in_candidates": round(int(inside.sum()) / max(int(n_true), 1), 4), "sweep": []}
        for th in THRESHOLDS:
            g = greedy_merge(len(offers), i, j, score, offers.sellers, th)
            r = pairwise([str(x) for x in g[val].tolist()], [str(x) for x in labels[val].tolist()])
            row["sweep"].append({"threshold": th, "precision": round(r["precision"], 4),
                                 "recall": round(r["recall"], 4), "f1": round(r["f1"], 4)})
        results.append(row)
        print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "split": "val",
                                    "val_true_pairs": int(n_true), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
