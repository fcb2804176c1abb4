"""Experiment (val split only): variants of the Pattern / Sleeve Length / Neck heads of `vsearch profile heads`.

Every variant is trained on the train split and scored on the val split exactly as the shipped heads are scored
on test (`attribute_report`: products with a real value, an `n/a` answer counts as wrong; the C of each head is
chosen on val by balanced accuracy over its classes, `n/a` included, as `_select_head` does). The test split is
never read here. Variants:

- `base`: the shipped image+title head (C in {0.003, 0.01, 0.03}, full class balance).
- `grid`: C in {0.001 .. 0.3}.
- `balance=P`: class weights (n / (K * count)) ** P instead of full balance.
- `hier`: two heads: n/a vs carrying (on every usable row), then the real classes (on rows with a value);
  p(class) = (1 - p(n/a)) * p(class | carrying).
- `flip`: the image vector is the mean of the photo's and its mirror image's vectors (train and val; one extra
  forward pass, cached with `--flip-cache`).
- `tuned`, `tuned+image`: the fine-tuned tail's vectors (store kind "tuned" of a copy of the index that
  `vsearch train attributes --finetune-blocks 2` wrote) instead of / beside the frozen image vector.

    PYTHONPATH=. python eval/profiles/val_variants.py --index /work/cache/full-224 \\
        --labels ../shared/data/product-attributes.csv --tuned-index /work/cache/ft-224 \\
        --variants base,tuned,tuned+image,hier,balance=0.5,grid --out eval/profiles/val_variants.json   # 27 min

(`flip` was not run for lack of time; the tuned vectors already average each photo with its mirror image.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.index.manifest import STORE
from vsearch.index.products import Products, load_products
from vsearch.index.store import Store
from vsearch.profiles.train import NA, HeadConfig, applicability, attribute_report, attribute_targets

COLUMNS = ("Sleeve Length", "Pattern", "Neck")
GRID = (0.003, 0.01, 0.03)
WIDE = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def product_kind(index: Path, kind: str, ids: list[str]) -> np.ndarray:
    """`[n, d]` unit vector of `kind` per product of `ids` (mean over its photos)."""
    with Store(index / STORE, readonly=True) as store:
        _, vecs = store.load_vectors(kind)
        entries = store.row_entries(kind)
    pos = {pid: i for i, pid in enumerate(ids)}
    out = np.zeros((len(ids), vecs.shape[1]), np.float32)
    for (_, pid, _), v in zip(entries, vecs):
        out[pos[pid]] += v
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def mirrored(index: Path, products: Products, cache: Path) -> np.ndarray:
    """Unit vectors of each product's mirrored photo (one forward pass; cached in `cache`)."""
    if cache.is_file():
        return np.load(cache)
    import torch

    from vsearch.models.embed import photo_batches
    from vsearch.tags.features import index_embedder

    with Store(index / STORE, readonly=True) as store:
        entries = store.row_entries("image")
    source = {pid: src for _, pid, src in entries}
    embedder = index_embedder(index)
    out = np.zeros_like(products.x)
    for positions, batch, failures in photo_batches(embedder, [source[p] for p in products.ids]):
        assert not failures and batch is not None
        out[positions] = embedder.encode_images(torch.flip(batch, dims=[3]))
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    np.save(cache, out)
    return out


def standardise(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    return (x - x[train].mean(0)) / np.maximum(x[train].std(0), 1e-4)


def weights(y: np.ndarray, power: float) -> dict[str, float]:
    classes, counts = np.unique(y, return_counts=True)
    return {str(c): float((len(y) / (len(classes) * k)) ** power) for c, k in zip(classes, counts)}


def fit(z: np.ndarray, y: np.ndarray, c: float, power: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight=weights(y, power), max_iter=300).fit(z, y)


def balanced(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[truth == k] == k) for k in np.unique(truth)]))


def flat(z: np.ndarray, target: np.ndarray, use: np.ndarray, split: np.ndarray, grid: tuple[float, ...],
         power: float) -> tuple[list[str], np.ndarray, float]:
    """The shipped head's selection: (labels, val probabilities, C)."""
    tr, va = use & (split == "train"), use & (split == "val")
    best = None
    for c in grid:
        clf = fit(z[tr], target[tr], c, power)
        score = balanced(target[va], clf.predict(z[va]))
        if best is None or score > best[0]:
            best = (score, c, clf)
    assert best is not None
    _, c, clf = best
    return [str(k) for k in clf.classes_], clf.predict_proba(z[split == "val"]), c


def hierarchical(z: np.ndarray, target: np.ndarray, use: np.ndarray, split: np.ndarray,
                 grid: tuple[float, ...]) -> tuple[list[str], np.ndarray, float]:
    """Gate (n/a vs carrying) and the real-class head, each with its C chosen on val."""
    gate_y = np.where(target == NA, NA, "carries")
    _, p_gate, _ = flat(z, gate_y, use, split, grid, 1.0)
    real = use & (target != NA)
    labels, p_real, c = flat(z, target, real, split, grid, 1.0)
    na_col = p_gate[:, 1:2] if NA == sorted([NA, "carries"])[1] else p_gate[:, 0:1]
    return [*labels, NA], np.hstack([(1 - na_col) * p_real, na_col]), c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--labels", type=Path, default=Path("../shared/data/product-attributes.csv"))
    ap.add_argument("--tuned-index", type=Path, help="copy of the index with a 'tuned' vector kind")
    ap.add_argument("--flip-cache", type=Path, help="mirrored-photo vectors (.npy), computed when missing")
    ap.add_argument("--variants", default="base,tuned,tuned+image,hier,balance=0.5,grid")
    ap.add_argument("--out", type=Path, default=Path("eval/profiles/val_variants.json"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    products = load_products(args.index, args.labels)
    assert products.t is not None
    split, train = products.split, products.split == "train"
    inputs = {"image": products.x}
    wanted = args.variants.split(",")
    if any(v.startswith("tuned") for v in wanted):
        assert args.tuned_index is not None
        inputs["tuned"] = product_kind(args.tuned_index, "tuned", products.ids)
    if "flip" in wanted:
        assert args.flip_cache is not None
        m = products.x + mirrored(args.index, products, args.flip_cache)
        inputs["flip"] = m / np.linalg.norm(m, axis=1, keepdims=True)
    title = standardise(products.t, train)
    z = {k: standardise(v, train) for k, v in inputs.items()}
    types = products.column("articleType")
    # val rows play the part of the test rows in attribute_report; the test rows are hidden
    as_test = np.where(split == "val", "test", np.where(split == "test", "hidden", split))
    results: list[dict[str, Any]] = []
    for col in COLUMNS:
        values = products.column(col)
        applies = applicability(values, types, train, HeadConfig().applicable)
        target = np.array(attribute_targets(values, types, applies), dtype=object).astype(str)
        names, counts = np.unique(target[train & (target != "")], return_counts=True)
        keep = [k for k, n in zip(names, counts) if n >= HeadConfig().min_count]
        use = np.isin(target, keep)
        for variant in wanted:
            start = time.perf_counter()
            image = {"flip": "flip", "tuned": "tuned"}.get(variant, "image")
            x = np.hstack([z[image], title]) if variant != "tuned+image" else np.hstack([z["tuned"], z["image"], title])
            if variant == "hier":
                labels, prob, c = hierarchical(x, target, use, split, GRID)
            else:
                power = float(variant.split("=")[1]) if variant.startswith("balance=") else 1.0
                labels, prob, c = flat(x, target, use, split, WIDE if variant == "grid" else GRID, power)
            rep = attribute_report(labels, applies, prob, values, target, as_test)
            row = {"column": col, "variant": variant, "C": c, "val": rep["test"], "accuracy": rep["accuracy"],
                   "balanced_accuracy": rep["balanced_accuracy"],
                   "balanced_accuracy_frequent": rep["balanced_accuracy_frequent"],
                   "predicted_na_on_labelled": rep["predicted_na_on_labelled"],
                   "na_recall": rep["na"]["recall"], "per_class": rep["per_class"],
                   "seconds": round(time.perf_counter() - start, 1)}
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "per_class"}), flush=True)
    args.out.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "split": "val",
                                    "results": results}, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
