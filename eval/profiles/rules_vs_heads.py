"""Title rules vs the photo heads on the same held-out products, for the attributes both can give.

    PYTHONPATH=. python eval/profiles/rules_vs_heads.py INDEX LABELS HEADS --out eval/profiles/rules_vs_heads.json

The title rules (`vsearch.tags.rules`, title-rules-v1) are mapped onto the shop's own classes; a product whose
title names no pattern or sleeve gets no answer from the rules, which counts as wrong in `accuracy_all`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vsearch.core.atomic import atomic_write_text
from vsearch.index.products import load_products
from vsearch.profiles.heads import NA, load_model
from vsearch.profiles.train import balanced_accuracy
from vsearch.tags.rules import RULES_VERSION, apply_rules

MAPS = {
    "Pattern": ("pattern", {"checked": "Checked", "striped": "Striped", "printed": "Printed", "solid": "Solid",
                            "graphic": "Printed", "floral": "Printed", "polka dot": "Printed",
                            "colourblocked": "Colourblocked"}),
    "Sleeve Length": ("sleeve", {"short": "Short Sleeves", "long": "Long Sleeves", "sleeveless": "Sleeveless"}),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("labels")
    ap.add_argument("heads")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    products = load_products(args.index, args.labels)
    model = load_model(args.heads)
    te = products.split == "test"
    z = model.standardise(products.x[te])
    titles = np.asarray(products.column("productDisplayName"), dtype=object)[te]
    report = {"rules": RULES_VERSION, "split": "test", "attributes": {}}
    for column, (rule, mapping) in MAPS.items():
        head = next(h for h in model.heads if h.name == column)
        truth = np.asarray(products.column(column), dtype=object)[te].astype(str)
        labelled = truth != ""
        pred = np.asarray(head.labels, dtype=object)[head.proba(z).argmax(axis=1)].astype(str)
        rules = np.array([mapping.get(apply_rules(t, rule) or "", "") for t in titles], dtype=object).astype(str)
        fired = labelled & (rules != "")
        t = truth[labelled]
        report["attributes"][column] = {
            "test_labelled": int(labelled.sum()), "rule_fires": int(fired.sum()),
            "rules": {"accuracy_where_fired": round(float(np.mean(rules[fired] == truth[fired])), 4),
                      "accuracy_all": round(float(np.mean(rules[labelled] == t)), 4),
                      "balanced_accuracy_all": round(balanced_accuracy(t, rules[labelled]), 4)},
            "heads": {"accuracy_where_rule_fired": round(float(np.mean(pred[fired] == truth[fired])), 4),
                      "accuracy_all": round(float(np.mean(pred[labelled] == t)), 4),
                      "balanced_accuracy_all": round(balanced_accuracy(t, pred[labelled]), 4),
                      "predicted_na": int((pred[labelled] == NA).sum())},
        }
    atomic_write_text(Path(args.out), json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
