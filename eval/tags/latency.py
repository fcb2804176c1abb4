"""Measure `vsearch tag` latency on CPU: cold (load heads + backbone + first photo) and warm (process loaded).

Usage: python eval/tags/latency.py INDEX PHOTO [PHOTO ...] --out eval/tags/latency.json
The photos should not be in the index's catalogue (e.g. ../shared/data/products-small images).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index")
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    import torch

    from vsearch.tags.tagger import Tagger

    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    tagger = Tagger(args.index, device="cpu")
    first = tagger.tag_photos([args.photos[0]])
    cold = time.perf_counter() - t1
    warm = []
    for _ in range(args.repeat):
        for photo in args.photos:
            t = time.perf_counter()
            tagger.tag_photos([photo])
            warm.append(time.perf_counter() - t)
    report = {"index": args.index, "photos": args.photos, "cpu_cores": os.cpu_count(), "torch_threads":
              torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
              "import_s": round(t_import, 3), "cold_first_photo_s": round(cold, 3),
              "warm_median_s": round(statistics.median(warm), 4), "warm_max_s": round(max(warm), 4),
              "warm_runs": len(warm), "groups": sorted(tagger.groups), "example": first[0],
              "note": "shared 2-core machine with other jobs running; wall-clock seconds"}
    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
