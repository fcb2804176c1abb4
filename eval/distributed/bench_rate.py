"""Ray build (2 local actors) vs the single-process build on the same cores: photos/s, twice each.

Run from the repo root: nice -n 10 python eval/distributed/bench_rate.py --n 1000 --out eval/distributed/rate.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import DATA, write_subset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--out", default="eval/distributed/rate.json")
    args = ap.parse_args()

    import ray

    from vsearch.catalog.reader import load_catalog
    from vsearch.distributed.ray_build import EmbedSpec, build_on_ray
    from vsearch.index.build import build_catalog_index
    from vsearch.models import create_embedder

    tmp = Path(tempfile.mkdtemp(prefix="ray-rate-"))
    cat = load_catalog(write_subset(DATA / "products-224", tmp / "cat", args.n, every=max(1, 8146 // args.n)).parent)
    emb = create_embedder(device="cpu")
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    runs = []
    for rep in range(args.repeats):
        for engine in ("local", "ray"):
            out = tmp / f"{engine}-{rep}"
            t0 = time.perf_counter()
            if engine == "local":
                report = build_catalog_index(cat, out, emb, None)
                extra = {}
            else:
                report, stats = build_on_ray(cat, out, emb, EmbedSpec(emb.name), None, address="local")
                extra = {"actors": stats.actors, "ray_embed_seconds": stats.seconds,
                         "per_actor_images_per_s": stats.per_actor_images_per_s,
                         "per_actor_peak_rss_mb": stats.per_actor_peak_rss_mb}
            wall = time.perf_counter() - t0
            runs.append({"engine": engine, "repeat": rep, "photos": report.photos_embedded,
                         "wall_s": round(wall, 2), "embed_s": report.embed_seconds,
                         "photos_per_s_wall": round(report.photos_embedded / wall, 2),
                         "photos_per_s_embed": report.images_per_s, **extra})
            print(json.dumps(runs[-1]), flush=True)
            shutil.rmtree(out)
    ratios = []
    for rep in range(args.repeats):
        loc, rem = (next(r for r in runs if r["engine"] == e and r["repeat"] == rep) for e in ("local", "ray"))
        ratios.append({"repeat": rep, "wall_ratio": round(rem["photos_per_s_wall"] / loc["photos_per_s_wall"], 3),
                       "embed_ratio": round(rem["photos_per_s_embed"] / loc["photos_per_s_embed"], 3)})
    result = {"command": "OMP_NUM_THREADS=1 nice -n 10 python " + " ".join(sys.argv), "photos": len(cat.photos),
              "cpus": args.cpus,
              "model": emb.name, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "note": "machine shared with other engineers' jobs; ratios are within one repeat",
              "runs": runs, "ratios": ratios}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
