"""The driver's single-writer ceiling: lmdb `Store.add_vectors` rate for 1280-d fp32 rows in 256-row shards.

Run from the repo root: nice -n 10 python eval/distributed/store_write_rate.py > eval/distributed/store_write.json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vsearch.index.store import Store  # noqa: E402


def main(rows: int = 20480, dim: int = 1280, shard: int = 256) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((shard, dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "store.lmdb") as store:
        t0 = time.perf_counter()
        for start in range(0, rows, shard):
            ids = [f"p{start + i}" for i in range(shard)]
            store.add_vectors("image", ids, [f"/photos/{x}.jpg" for x in ids], vecs, ["1:1"] * shard)
        seconds = time.perf_counter() - t0
    print(json.dumps({"rows": rows, "dim": dim, "shard": shard, "seconds": round(seconds, 2),
                      "rows_per_s": round(rows / seconds), "mb_per_s": round(rows * dim * 4 / seconds / 1e6, 1)}))


if __name__ == "__main__":
    main()
