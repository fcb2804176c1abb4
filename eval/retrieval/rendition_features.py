"""Cache frozen Lite0 vectors for the renditions protocol (products-small -> products-224).

Gallery: the 8,146 products-224 photos, read from the lead's built store (/work/cache/full-224, same backbone,
squash, bf16). Queries: the products-small photos of products that products-224 also holds (never trained on).
Training views: VIEWS camera-like views of the products-224 photo of (a) TRAIN random other products and (b) the
query products (their catalogue photo only; used by the "catalogue includes the query products" variant).

`PYTHONPATH=. OMP_NUM_THREADS=1 python eval/retrieval/rendition_features.py /work/shared/data 1500 2`
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vsearch.index.store import Store
from vsearch.models.registry import create_embedder
from vsearch.retrieval.features import FeatureCache, photo_vectors, view_vectors

CACHE = Path("/work/cache/retrieval")
STORE = Path("/work/cache/full-224/store.lmdb")


def main() -> None:
    torch.set_num_threads(1)
    data, n_train, views = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with Store(STORE, readonly=True) as store:
        rows, gvecs = store.load_vectors("image")
        sources = store.row_sources(rows.tolist())
        gids = store.row_products(rows.tolist())
    np.savez(CACHE / "p224-gallery.npz", ids=np.array(gids), vectors=gvecs, sources=np.array(sources))
    with (data / "products-small" / "labels.csv").open(encoding="utf-8") as fh:
        small = [r for r in csv.DictReader(fh) if r["id"] in set(gids)]
    qids = sorted({r["id"] for r in small})
    rng = np.random.default_rng(0)
    others = [g for g in sorted(set(gids)) if g not in set(qids)]
    train_ids = sorted(rng.choice(others, n_train, replace=False).tolist())
    src = dict(zip(gids, sources))
    emb = create_embedder(device="cpu")
    cache = FeatureCache(CACHE, emb)
    t0 = time.perf_counter()
    log = lambda t, d, n: print(t, d, n, flush=True)  # noqa: E731
    qpaths = [data / "products-small" / r["image"] for r in small]
    photo_vectors(emb, qpaths, cache, progress=log)
    for ids in (qids, train_ids):
        view_vectors(emb, [Path(src[i]) for i in ids], views, cache, progress=log)
    (CACHE / "renditions.json").write_text(json.dumps({"queries": [[r["id"], str(p)] for r, p in zip(small, qpaths)],
                                                       "query_products": qids, "train_products": train_ids,
                                                       "views": views}))
    print(f"done in {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
