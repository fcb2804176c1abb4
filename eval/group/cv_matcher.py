"""Which matcher inputs to ship, chosen by 5-fold cross-validation over PriceRunner's train + val clusters.

The val split alone (784 clusters) proved optimistic: at threshold 0.15 it read P 0.974 where test read 0.916. So
the clusters of train + val are cut into 5 folds (a hash of the cluster id); for each fold the matcher learns from
the candidate pairs between offers of the other four and all 21,143 offers are grouped together (greedy merging,
seller constraint), judged on the held-out fold's offers. Candidates and pair features are computed once for all
offers (`vsearch group build` searches the training offers' candidates separately; same features otherwise). The
test clusters are neither trained on nor judged. Variants: the features before this change (no `idf_*`), + the
pair's category as a categorical input, + the `idf_*` rarity features, + both.

    python eval/group/cv_matcher.py --out eval/group/cv_matcher.json     # ~5 min on 1 thread
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from vsearch.core.split import split_of
from vsearch.group.build import Encoded, GroupConfig, _encode_titles, candidate_pairs, score_pairs
from vsearch.group.cluster import greedy_merge
from vsearch.group.features import FEATURES
from vsearch.group.matcher import Matcher
from vsearch.group.metrics import pairwise
from vsearch.group.offers import read_labels, read_offers
from vsearch.group.titlesets import TitleSets

THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
RARITY = [k for k, name in enumerate(FEATURES) if name.startswith("idf_")]
VARIANTS = {"before": (False, False), "+category": (False, True), "+idf": (True, False), "+idf +category": (True, True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offers", type=Path, default=Path("../shared/data/pricerunner/offers.csv"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("eval/group/cv_matcher.json"))
    args = ap.parse_args()
    offers = read_offers(args.offers, "product_id", "product_title", "vendor_id", "category_label")
    truth = read_labels(args.offers, "product_id", "cluster_id")
    config = GroupConfig()
    parts, _, xc, x = _encode_titles(offers.titles, config)
    enc = Encoded(offers, parts, xc, x, TitleSets.of(parts, offers.titles), None, config.threads())
    i, j, s = candidate_pairs(enc, config)
    features, _ = score_pairs(enc, None, i, j, s)
    t = np.asarray([truth[o] for o in offers.ids], dtype=object)
    fold = np.asarray([int(hashlib.sha256(f"cv:{c}".encode()).hexdigest(), 16) % args.folds for c in t])
    fold[np.asarray([split_of(c) == "test" for c in t])] = -1
    cats = np.asarray(offers.categories, dtype=object)[i]
    same = (t[i] == t[j]).astype(np.int8)
    report: dict = {"offers": len(offers), "candidate_pairs": int(len(i)), "folds": args.folds,
                    "judged_offers": int((fold >= 0).sum()), "variants": {}}
    for name, (rarity, category) in VARIANTS.items():
        cols = [k for k in range(features.shape[1]) if rarity or k not in RARITY]
        per = {th: [] for th in THRESHOLDS}
        for f in range(args.folds):
            train = (fold[i] >= 0) & (fold[j] >= 0) & (fold[i] != f) & (fold[j] != f)
            m = Matcher.fit(features[train][:, cols], same[train], 0, cats[train] if category else None)
            score = m.scores(features[:, cols], categories=cats if category else None)
            held = np.flatnonzero(fold == f)
            for th in THRESHOLDS:
                labels = greedy_merge(len(offers), i, j, score, offers.sellers, th)
                r = pairwise([str(v) for v in labels[held].tolist()], t[held].tolist())
                per[th].append([r["precision"], r["recall"], r["f1"]])
        rows = {str(th): dict(zip(("precision", "recall", "f1"), np.round(np.mean(v, axis=0), 4).tolist()),
                              f1_std=round(float(np.std(np.asarray(v)[:, 2])), 4)) for th, v in per.items()}
        report["variants"][name] = rows
        print(name, " ".join(f"{th}: P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}"
                             for th, r in rows.items()), flush=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
