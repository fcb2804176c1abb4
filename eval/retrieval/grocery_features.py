"""Cache frozen Lite0 vectors of every grocery photo and of camera-like views of the 31 shop images.

`PYTHONPATH=. OMP_NUM_THREADS=1 python eval/retrieval/grocery_features.py /work/shared/data/grocery-phone VIEWS`
Cache: /work/cache/retrieval/ (outside the repo).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import torch

from vsearch.models.registry import create_embedder
from vsearch.retrieval.features import FeatureCache, photo_vectors, view_vectors

CACHE = Path("/work/cache/retrieval")


def main() -> None:
    torch.set_num_threads(1)
    data, views = Path(sys.argv[1]), int(sys.argv[2])
    with (data / "labels.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    emb = create_embedder(device="cpu")
    cache = FeatureCache(CACHE, emb)
    t0 = time.perf_counter()
    shop = [data / r["image"] for r in rows if r["source"] == "shop"]
    view_vectors(emb, shop, views, cache, progress=lambda t, d, n: print(t, d, n, flush=True))
    photo_vectors(emb, [data / r["image"] for r in rows], cache, progress=lambda t, d, n: print(t, d, n, flush=True))
    print(f"done in {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
