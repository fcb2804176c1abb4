"""Does the learnt projection help products it never saw? 5 folds over the 31 products, on cached vectors.

Reads /tmp/retr_feats_squash.npz (written by search_time.py). For each fold the projection is trained on the
train-split photos of the other products; queries: every phone photo (train + val) of the fold's products;
gallery: all 31 shop products (augmented shop vectors). Writes eval/retrieval/projection_cv.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from vsearch.retrieval.projection import project, train_projection

sys.path.insert(0, str(Path(__file__).parent))
from search_time import r_at  # noqa: E402


def main() -> None:
    f = np.load(sys.argv[1] if len(sys.argv) > 1 else "/tmp/retr_feats_squash.npz")
    g_aug, xt, xv, yt, yv, prods = (f[k] for k in ("g_aug", "xt", "xv", "yt", "yv", "prods"))
    xq, yq = np.concatenate([xt, xv]), np.concatenate([yt, yv])
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(prods), 5)
    idx = {p: i for i, p in enumerate(prods)}
    base_hits, proj_hits = [], []
    for fold in folds:
        keep = ~np.isin(yt, fold)
        w = train_projection(xt[keep], np.array([idx[p] for p in yt[keep]]), g_aug)
        q = np.isin(yq, fold)
        base_hits.append((r_at(xq[q] @ g_aug.T, yq[q], prods), int(q.sum())))
        proj_hits.append((r_at(project(xq[q], w) @ project(g_aug, w).T, yq[q], prods), int(q.sum())))
    def pool(h):  # noqa: E306
        n = sum(c for _, c in h)
        return {m: round(sum(r[m] * c for r, c in h) / n, 3) for m in ("R@1", "R@5")}
    res = {"queries": len(yq), "gallery": len(prods), "frozen_shop_aug": pool(base_hits),
           "projection_unseen_products": pool(proj_hits)}
    print(json.dumps(res, indent=1))
    Path(__file__).with_name("projection_cv.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
