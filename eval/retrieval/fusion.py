"""Frozen cosine + lambda * projected cosine, on val and on unseen products (5 product folds); cached vectors.

Run from the repo root after search_time.py: `python eval/retrieval/fusion.py`. Writes fusion.json.
"""
import json
import sys

import numpy as np

from vsearch.retrieval.projection import project, train_projection

sys.path.insert(0, "eval/retrieval")
from search_time import r_at  # noqa: E402

f = np.load("/tmp/retr_feats_squash.npz")
g_aug, g, xt, xv, yt, yv, prods = (f[k] for k in ("g_aug", "g", "xt", "xv", "yt", "yv", "prods"))
idx = {p: i for i, p in enumerate(prods)}
w = train_projection(xt, np.array([idx[p] for p in yt]), g_aug)
res = {}
for lam in (0.5, 1.0, 2.0):
    res[f"val_fused_lam{lam}"] = r_at(xv @ g.T + lam * (project(xv, w) @ project(g_aug, w).T), yv, prods)
xq, yq = np.concatenate([xt, xv]), np.concatenate([yt, yv])
folds = np.array_split(np.random.default_rng(0).permutation(prods), 5)
for lam in (0.5, 1.0):
    hits = []
    for fold in folds:
        keep = ~np.isin(yt, fold)
        w2 = train_projection(xt[keep], np.array([idx[p] for p in yt[keep]]), g_aug)
        q = np.isin(yq, fold)
        s = xq[q] @ g.T + lam * (project(xq[q], w2) @ project(g_aug, w2).T)
        hits.append((r_at(s, yq[q], prods), int(q.sum())))
    n = sum(c for _, c in hits)
    res[f"cv_unseen_fused_lam{lam}"] = {m: round(sum(r[m] * c for r, c in hits) / n, 3) for m in ("R@1", "R@5")}
print(json.dumps(res, indent=1))
json.dump(res, open("eval/retrieval/fusion.json", "w"), indent=1)
