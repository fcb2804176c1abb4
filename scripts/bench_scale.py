"""Scale runs of the ANN bench (eval/bench/README.md has the exact commands and what each wrote).

  calibrate: fit the generator to a built index's real photo vectors, tune its spreads to the real IVF/HNSW
             curves, measure the real-only rows (photos and titles); writes calibration.json + calibration.png.
  scale:     one size with the calibrated generator (knobs read from calibration.json); optional --dump DIR
             writes the very vectors, queries and exact top-10 for autofaiss (scripts/autofaiss_bench.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _real(index: Path, kind: str):  # noqa: ANN202
    from vsearch.index.store import Store

    with Store(index / "store.lmdb", readonly=True) as store:
        return store.load_vectors(kind)[1]


def calibrate_cmd(args: argparse.Namespace) -> dict:
    from vsearch.bench.calibrate import calibration_report, real_row
    from vsearch.bench.plot import plot_calibration
    from vsearch.index.autoindex import parse_memory

    real, titles = _real(args.index, "image"), _real(args.index, "title")
    _, vectors = calibration_report(real, progress=print)
    budget = parse_memory(args.max_memory)
    doc = {"vectors": vectors, "real_rows": [real_row(real, "real photos (Lite0)", budget),
                                             real_row(titles, "real titles (MiniLM)", budget)]}
    plot_calibration(vectors, args.out.with_suffix(".png"))
    return doc


def scale_cmd(args: argparse.Namespace) -> dict:
    from vsearch.bench.ann import bench_size
    from vsearch.bench.synthetic import Generator, Knobs
    from vsearch.index.autoindex import parse_memory

    cal = json.loads(args.calibration.read_text())["vectors"]
    gen = Generator.fit(_real(args.index, "image"), knobs=Knobs(**cal["knobs"]))
    results = bench_size(gen, args.n, _index_types(args.types), queries=args.queries, tune_queries=args.tune_queries,
                         max_memory=parse_memory(args.max_memory), target=args.target, dump=args.dump,
                         exact_1_thread_queries=args.exact_1_thread_queries,
                         progress=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    return {"n": args.n, "vectors": gen.describe(), "max_memory_bytes": parse_memory(args.max_memory),
            "tune_target_recall": args.target, "results": [asdict(r) for r in results]}


def _index_types(values: list[str]) -> list[str]:
    """`auto,hnsw` or `auto 'IVF2048,PQ160x4fs,Refine(SQfp16)'`: aliases may be comma-joined, factories not."""
    from vsearch.index.autoindex import ALIASES

    out: list[str] = []
    for value in values:
        parts = value.split(",")
        out.extend(parts if all(p.lower() in ALIASES for p in parts) else [value])
    return out


def main() -> None:
    import faiss

    from vsearch.bench.run import machine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("calibrate", "scale"):
        p = sub.add_parser(name)
        p.add_argument("--index", type=Path, default=Path("/tmp/bench-224"), help="built products-224 index")
        p.add_argument("--out", type=Path, required=True, help="JSON to write")
        p.add_argument("--max-memory", default="4GB")
    p = sub.choices["scale"]
    p.add_argument("--calibration", type=Path, default=Path("eval/bench/calibration.json"))
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--types", nargs="+", default=["auto"],
                   help="aliases (comma-joined allowed) and FAISS factory strings, one per argument")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--tune-queries", type=int, default=200)
    p.add_argument("--target", type=float, default=0.96)
    p.add_argument("--dump", type=Path, default=None)
    p.add_argument("--exact-1-thread-queries", type=int, default=None,
                   help="queries that time exact search on 1 thread (default: all, like for like; 50 at 10M)")
    args = ap.parse_args()
    start = time.perf_counter()
    doc = calibrate_cmd(args) if args.cmd == "calibrate" else scale_cmd(args)
    doc = {"command": "python " + " ".join(sys.argv), "machine": machine(), **doc,
           "seconds": round(time.perf_counter() - start, 1), "omp_threads": faiss.omp_get_max_threads()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print("written", args.out)


if __name__ == "__main__":
    main()
