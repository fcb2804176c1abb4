"""autofaiss on the vectors a `bench_scale.py scale --dump DIR` run indexed: its choice, build time (capped),
recall@10 against the same exact top-10, and QPS. Runs in autofaiss's own venv (it needs faiss-cpu <= 1.9):

  python3 -m venv /tmp/af && /tmp/af/bin/pip install autofaiss==2.18.0 'faiss-cpu<=1.9' 'pyarrow<16'
  nice -n 10 /tmp/af/bin/python scripts/autofaiss_bench.py --data /tmp/dump-1m --out eval/bench/autofaiss-1m.json

The build runs in a child process killed after --cap-min minutes; the JSON then says so, with autofaiss's
chosen index key (computed without building) and the tail of its log.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path


def _build(data: str, work: str, memory: str, available: str, cores: int, log: str) -> None:
    import logging

    from autofaiss import build_index

    logging.basicConfig(filename=log, level=logging.INFO, format="%(asctime)s %(message)s")
    sys.stdout = sys.stderr = open(log, "a")  # noqa: SIM115 - the child's whole output goes to the log
    build_index(embeddings=data, index_path=f"{work}/knn.index", index_infos_path=f"{work}/infos.json",
                max_index_memory_usage=memory, current_memory_available=available, metric_type="ip",
                nb_cores=cores, verbose=logging.INFO)


def _recall(found, truth, k: int = 10) -> float:  # noqa: ANN001
    return sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth)) / (k * len(truth))


def _qps(index, xq, k: int, threads: int):  # noqa: ANN001, ANN202
    import faiss

    faiss.omp_set_num_threads(threads)
    index.search(xq[:4], k)
    t0 = time.perf_counter()
    _, ids = index.search(xq, k)
    return ids, len(xq) / (time.perf_counter() - t0)


def evaluate(work: Path, data: Path, queries: int, cores: int) -> dict:
    """autofaiss's own search parameters, then the smallest nprobe reaching 0.95 on the tuning queries."""
    import faiss
    import numpy as np

    index = faiss.read_index(str(work / "knn.index"))
    infos = json.loads((work / "infos.json").read_text())
    xq, truth = np.load(data / "queries.npy"), np.load(data / "truth.npy")
    q_eval, t_eval, q_tune, t_tune = xq[:queries], truth[:queries], xq[queries:], truth[queries:]
    found, qps = _qps(index, q_eval, 10, cores)
    _, qps1 = _qps(index, q_eval, 10, 1)
    out = {"own_params": infos.get("index_param"), "own_recall_at_10": round(_recall(found, t_eval), 4),
           "own_qps_1_thread": round(qps1, 1), "own_qps_all_cores": round(qps, 1), "infos": infos, "sweep": []}
    space = faiss.ParameterSpace()
    ivf = faiss.try_extract_index_ivf(index)
    for nprobe in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096):
        if ivf is None or nprobe > ivf.nlist:
            break
        space.set_index_parameter(index, "nprobe", nprobe)
        recall = _recall(index.search(q_tune, 10)[1], t_tune)
        out["sweep"].append({"nprobe": nprobe, "tune_recall": round(recall, 4)})
        if recall >= 0.96:
            found, qps = _qps(index, q_eval, 10, cores)
            _, qps1 = _qps(index, q_eval, 10, 1)
            out["at_target"] = {"nprobe": nprobe, "recall_at_10": round(_recall(found, t_eval), 4),
                                "qps_1_thread": round(qps1, 1), "qps_all_cores": round(qps, 1)}
            break
    return out


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/af-work"))
    ap.add_argument("--max-memory", default="4G")
    ap.add_argument("--available", default="8G")
    ap.add_argument("--cap-min", type=float, default=20.0)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    from autofaiss.external.optimize import get_optimal_index_keys_v2

    args.work.mkdir(parents=True, exist_ok=True)
    files = sorted((args.data / "emb").glob("*.npy"))
    n = sum(np.load(f, mmap_mode="r").shape[0] for f in files)
    dim = int(np.load(files[0], mmap_mode="r").shape[1])
    log = args.work / "autofaiss.log"
    log.write_text("")
    doc: dict = {"command": "python " + " ".join(sys.argv), "n": n, "dim": dim, "max_index_memory": args.max_memory,
                 "cap_minutes": args.cap_min,
                 "chosen_keys": get_optimal_index_keys_v2(n, dim, args.max_memory)}
    t0 = time.perf_counter()
    build_args = (str(args.data / "emb"), str(args.work), args.max_memory, args.available, args.cores, str(log))
    child = mp.get_context("spawn").Process(target=_build, args=build_args)
    child.start()
    child.join(args.cap_min * 60)
    doc["build_s"] = round(time.perf_counter() - t0, 1)
    doc["finished"] = not child.is_alive() and child.exitcode == 0
    if child.is_alive():
        child.kill()
        child.join()
        doc["note"] = f"killed after the {args.cap_min}-minute cap"
    doc["log_tail"] = log.read_text()[-3000:]
    if doc["finished"]:
        doc.update(evaluate(args.work, args.data, args.queries, args.cores))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(json.dumps({k: v for k, v in doc.items() if k not in ("log_tail", "infos")}, indent=1))


if __name__ == "__main__":
    main()
