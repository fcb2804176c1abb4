"""Representative photos of a group: the medoids of k-means clusters of its embeddings.

The first 8 products of a brand are often 8 variants of one item; one medoid per cluster covers the range of
what the group sells, and a medoid is a real product (a mean is not).
"""

from __future__ import annotations

import numpy as np


def representatives(x: np.ndarray, k: int = 8, seed: int = 0, iters: int = 20) -> np.ndarray:
    """Row indices of up to `k` diverse representatives of `[n, d]` unit vectors (all rows when n <= k).

    Cosine k-means (k-means++ seeding, fixed seed), then per cluster the member closest to its centroid;
    ordered by cluster size, largest first.
    """
    n = len(x)
    if n <= k:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(n))]
    dist = 1.0 - x @ x[centres[0]]
    for _ in range(1, k):
        p = np.maximum(dist, 0) ** 2
        nxt = int(rng.choice(n, p=p / p.sum())) if p.sum() > 0 else int(rng.integers(n))
        centres.append(nxt)
        dist = np.minimum(dist, 1.0 - x @ x[nxt])
    c = x[centres].copy()
    assign = np.zeros(n, np.int64)
    for _ in range(iters):
        assign = (x @ c.T).argmax(axis=1)
        new = np.stack([x[assign == j].mean(axis=0) if (assign == j).any() else c[j] for j in range(k)])
        new /= np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        if np.allclose(new, c):
            break
        c = new
    picked = []
    for j in sorted(range(k), key=lambda j: -int((assign == j).sum())):
        members = np.flatnonzero(assign == j)
        if len(members):
            picked.append(int(members[(x[members] @ c[j]).argmax()]))
    rest = [i for i in np.argsort(-(x @ x.mean(axis=0))) if i not in picked]  # an empty cluster: fill by centrality
    return np.asarray((picked + rest)[:k], np.int64)
