"""Can the photo lift title classification on products-224? Fused accuracy per weight, confidence gating, and the
oracle that always picks whichever of title and photo is right (an upper bound for any fusion of the two).

    python scripts/classify_fusion_limit.py --index /work/cache/full-224 --out eval/classify/fusion_limit.json

Trains the title model and the photo head exactly as `vsearch classify train` does (train split; temperatures on
val), saves their log-probabilities to `--arrays` (re-used when present: training takes ~15 min on 2 cores),
and measures val and test products with a photo.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LEVELS = "masterCategory,subCategory,articleType"


def _train(index: Path, labels: Path, arrays: Path) -> None:
    import joblib

    from vsearch.classify.data import parse_levels, read_label_file
    from vsearch.classify.photo import product_vectors
    from vsearch.classify.train import _positions, train_model

    data = read_label_file(labels, parse_levels(LEVELS))
    model, _ = train_model(data, index, target_error=0.0125)
    vec = product_vectors(index)
    pos, out = _positions(data), {}
    for split in ("val", "test"):
        rows = [i for i in pos[split] if data.ids[i] in vec]
        t = model.title.log_proba([data.titles[i] for i in rows])
        p = model.photo.log_proba(np.stack([vec[data.ids[i]] for i in rows]))
        for lv in model.levels:
            out[f"{split}_title_{lv}"], out[f"{split}_image_{lv}"] = t[lv], p[lv]
        out[f"{split}_truth"] = model.tree.encode(model.levels[-1], [data.labels[model.levels[-1]][i] for i in rows])
    np.savez(arrays, **out)
    joblib.dump(model.tree, arrays.with_suffix(".tree.joblib"))


def _measure(arrays: Path) -> dict:
    import joblib

    a, tree = np.load(arrays), joblib.load(arrays.with_suffix(".tree.joblib"))
    levels = LEVELS.split(",")
    doc: dict = {}
    for split in ("val", "test"):
        truth = a[f"{split}_truth"]
        t = {lv: a[f"{split}_title_{lv}"] for lv in levels}
        p = {lv: a[f"{split}_image_{lv}"] for lv in levels}

        def acc(scores: dict, truth: np.ndarray = truth) -> float:
            return round(float((tree.paths[tree.decode(scores).path, -1] == truth).mean()), 4)

        conf = np.exp(t[levels[-1]].max(axis=1))
        title_ok = tree.paths[tree.decode(t).path, -1] == truth
        photo_ok = tree.paths[tree.decode(p).path, -1] == truth
        doc[split] = {
            "products": int(len(truth)), "title": acc(t), "photo": acc(p),
            "fused_by_weight": {str(w): acc({lv: t[lv] + w * p[lv] for lv in levels})
                                for w in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)},
            "gated": [{"weight": w, "title_confidence_below": c,
                       "accuracy": acc({lv: t[lv] + w * (conf < c)[:, None] * p[lv] for lv in levels})}
                      for w in (0.5, 1.0, 2.0, 4.0) for c in (0.5, 0.7, 0.9)],
            "title_wrong": int((~title_ok).sum()), "title_wrong_photo_right": int((~title_ok & photo_ok).sum()),
            "title_right_photo_wrong": int((title_ok & ~photo_ok).sum()),
            "oracle": round(float((title_ok | photo_ok).mean()), 4)}
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, help="products-224 index")
    ap.add_argument("--labels", type=Path, default=Path("../shared/data/product-styles.csv"))
    ap.add_argument("--arrays", type=Path, default=Path("/tmp/classify-fusion.npz"))
    ap.add_argument("--out", type=Path, default=Path("eval/classify/fusion_limit.json"))
    args = ap.parse_args()
    if not args.arrays.is_file():
        _train(args.index, args.labels, args.arrays)
    doc = {"command": "python " + " ".join(sys.argv), **_measure(args.arrays)}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
