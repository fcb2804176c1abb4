"""`vsearch bench`: measured speed and recall on this machine, written as JSON and a Markdown table.

1. Raw batched forward rate of the backbone (photos decoded beforehand) vs the end-to-end
   `index build` rate (decode + forward + lmdb + FAISS) on the same real photos, same model object.
2. QPS, recall@10, build time and memory of each index type vs exact search (`vsearch.bench.ann`).
3. `vsearch query` latency: cold (a new process per query) and warm (model loaded), p50/p95.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.bench.synthetic import Knobs
from vsearch.core.atomic import atomic_write_text
from vsearch.core.errors import CatalogError

_logger = logging.getLogger(__name__)


@dataclass
class BenchConfig:
    """What to measure; `quick()` is the CI-sized variant (about two minutes on 2 cores)."""

    catalog: Path
    model: str = "timm:tf_efficientnet_lite0"
    photos: int = 512
    sizes: list[int] = field(default_factory=lambda: [100_000, 1_000_000])
    types_by_size: dict[int, list[str]] = field(default_factory=lambda: {
        100_000: ["auto", "hnsw", "ivf-sq8", "ivf-pq"], 1_000_000: ["auto"]})
    max_memory: int | None = 4 << 30
    queries: int = 500
    target: float = 0.96
    """Recall the knobs are tuned to on 200 tuning queries: a margin so the 500 held-out queries clear 0.95."""
    source_index: Path | None = None
    cold_runs: int = 10
    warm_runs: int = 100
    workers: int | None = None
    quick: bool = False
    knobs: Knobs | None = None
    """Generator spreads to use instead of calibrating them in this run (e.g. from eval/bench/calibration.json)."""

    @classmethod
    def quick_config(cls, catalog: Path, **kw: Any) -> BenchConfig:
        return cls(catalog, photos=128, sizes=[20_000], types_by_size={20_000: ["ivf", "hnsw"]}, queries=200,
                   cold_runs=3, warm_runs=20, quick=True, **kw)


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, np.float64)
    return {"p50_ms": round(float(np.percentile(arr, 50)) * 1000, 1),
            "p95_ms": round(float(np.percentile(arr, 95)) * 1000, 1), "runs": len(values)}


def forward_vs_build(cfg: BenchConfig, work: Path) -> tuple[dict[str, Any], Path]:
    """Part 1. Returns the figures and the index it built (for the latency part)."""
    import torch

    from vsearch.catalog.images import load_image
    from vsearch.catalog.reader import Catalog, load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.models import create_embedder

    cat = load_catalog(cfg.catalog)
    photos = cat.photos[:cfg.photos]
    sub = Catalog(cat.root, photos, {p.product_id: cat.products[p.product_id] for p in photos})
    embedder = create_embedder(cfg.model, device="cpu")
    tensors = [embedder.transform(load_image(p.path)) for p in photos]
    batch = 64
    embedder.encode_images(torch.stack(tensors[:batch]))  # warm-up

    def raw_rate() -> float:
        t0 = time.perf_counter()
        for i in range(0, len(tensors), batch):
            embedder.encode_images(torch.stack(tensors[i:i + batch]))
        return len(tensors) / (time.perf_counter() - t0)

    before = raw_rate()
    index_dir = work / "bench-index"
    report = build_catalog_index(sub, index_dir, embedder, None, batch_size=batch, workers=cfg.workers)
    after = raw_rate()
    raw = (before + after) / 2
    build_rate = len(photos) / report.seconds
    return {"model": embedder.name, "precision": getattr(embedder, "precision", None), "photos": len(photos),
            "batch_size": batch, "raw_forward_img_s": round(raw, 1), "raw_forward_runs_img_s": [round(before, 1),
                                                                                                   round(after, 1)],
            "build_img_s": round(build_rate, 1), "build_embed_phase_img_s": report.images_per_s,
            "build_seconds": report.seconds, "build_vs_raw": round(build_rate / raw, 3),
            "decode_workers": cfg.workers if cfg.workers is not None else "default"}, index_dir


def query_latency(index_dir: Path, photos: list[Path], cold_runs: int, warm_runs: int) -> dict[str, Any]:
    """Part 3: `vsearch query PHOTO` in a new process (cold) and `Searcher.search_photos` in this one (warm)."""
    from vsearch.index.search import Searcher

    cold = []
    for i in range(cold_runs):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "vsearch", "query", str(photos[i % len(photos)]), "--index",
                               str(index_dir), "--json", "-k", "10"], capture_output=True, text=True, check=False)
        cold.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise CatalogError(f"bench query failed: {proc.stderr.strip()[-300:]}")
    warm = []
    with Searcher(index_dir, device="cpu") as searcher:
        searcher.search_photos([photos[0]], 10)
        for i in range(warm_runs):
            t0 = time.perf_counter()
            searcher.search_photos([photos[i % len(photos)]], 10)
            warm.append(time.perf_counter() - t0)
    return {"index": str(index_dir), "cold": percentiles(cold), "warm": percentiles(warm)}


def machine() -> dict[str, Any]:
    import faiss
    import torch

    return {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(), "python": platform.python_version(),
            "faiss": faiss.__version__, "faiss_gpus": faiss.get_num_gpus(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """All three parts; returns the result document (see `write_results`)."""
    from vsearch.bench.ann import bench_ann
    from vsearch.index.store import Store

    if not cfg.catalog.exists():
        raise CatalogError(f"bench catalogue not found: {cfg.catalog} (pass --catalog)")
    start = time.perf_counter()
    out: dict[str, Any] = {"quick": cfg.quick, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="vsearch-bench-") as tmp:
        progress("forward vs build")
        out["forward_vs_build"], built = forward_vs_build(cfg, Path(tmp))
        source = cfg.source_index or built
        # latency before the ANN part: FAISS's OpenMP threads, once spun up, slow torch's forward pass
        progress("latency")
        from vsearch.catalog.reader import load_catalog

        photos = [p.path for p in load_catalog(cfg.catalog).photos[-max(cfg.cold_runs, cfg.warm_runs):]]
        out["query_latency"] = query_latency(source, photos, cfg.cold_runs, cfg.warm_runs)
        with Store(source / "store.lmdb", readonly=True) as store:
            _, real = store.load_vectors("image")
            _, titles = store.load_vectors("title")
        progress("ann")
        out["ann"] = bench_ann(real, cfg.sizes, cfg.types_by_size, queries=cfg.queries, max_memory=cfg.max_memory,
                               target=cfg.target, titles=titles, knobs=cfg.knobs, progress=progress)
        out["ann"]["real_source"] = str(source)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def markdown(doc: dict[str, Any]) -> str:
    """A short Markdown summary of a bench document."""
    fb, lat, ann = doc["forward_vs_build"], doc["query_latency"], doc["ann"]
    lines = [f"# vsearch bench{' (quick)' if doc['quick'] else ''}", "",
             f"{doc['machine']['cpus']} CPUs, faiss {doc['machine']['faiss']} ({doc['machine']['faiss_gpus']} GPUs), "
             f"OPENBLAS_CORETYPE={doc['machine']['OPENBLAS_CORETYPE']}, {doc['machine']['date']}, "
             f"{doc['seconds']} s in all.", "",
             "## Embedding: raw forward vs end-to-end build", "",
             "| model | photos | raw forward img/s | build img/s | build / raw |", "|---|---|---|---|---|",
             f"| {fb['model']} ({fb['precision']}) | {fb['photos']} | {fb['raw_forward_img_s']} | {fb['build_img_s']} "
             f"| {fb['build_vs_raw']} |", "",
             "## Index types vs exact search (recall@10, batch QPS)", "", _vectors_line(ann["vectors"]),
             "",
             f"Knobs tuned to recall@10 >= {ann['tune_target_recall']} on {ann['tune_queries']} tuning queries; "
             f"recall and QPS measured on {ann['queries']} other held-out queries, all in one batch.", "",
             "| set | n | exact QPS (1 thread / all) | auto picks | IVF recall by nprobe | HNSW recall by efSearch |",
             "|---|---|---|---|---|---|",
             *(f"| {r['name']} | {r['n']:,} | {r['exact_qps_1_thread']} / {r['exact_qps_all_cores']} | "
               f"{r['auto_factory']} | {_curve(r['curves']['ivf_nprobe'])} | {_curve(r['curves']['hnsw_efSearch'])} |"
               for r in ann["real_rows"]), "",
             "| n | type | factory | params | recall@10 | QPS 1 thread | QPS all | x exact | build s | index MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in ann["results"]:
        lines.append(f"| {r['n']:,} | {r['index_type']} | {r['factory']} | {r['params'] or '-'} | {r['recall_at_10']} "
                     f"| {r['qps_1_thread']} | {r['qps_all_cores']} | {r['speedup_vs_exact']} | {r['build_s']} "
                     f"| {r['index_mb']} |")
    lines += ["", "## `vsearch query` latency", "", "| mode | p50 ms | p95 ms | runs |", "|---|---|---|---|",
              *(f"| {name} | {lat[key]['p50_ms']} | {lat[key]['p95_ms']} | {lat[key]['runs']} |"
                for key, name in (("cold", "cold (new process)"), ("warm", "warm (model loaded)"))), ""]
    return "\n".join(lines)


def _curve(curve: dict[str, float]) -> str:
    return " ".join(f"{k}:{v:.3f}" for k, v in curve.items()) or "-"


def _vectors_line(vec: dict[str, Any]) -> str:
    line = f"Vectors: {vec['model']}, knobs {vec['knobs']}."
    if "largest_gap" in vec:
        line += (f" Calibrated at {vec['calibrated_at_n']} vectors: largest recall gap to the real curves "
                 f"{vec['largest_gap']} (tolerance {vec['tolerance']}); closest synthetic-to-real cosine "
                 f"{vec['max_cosine_synthetic_to_any_real']}.")
    return line


def write_results(doc: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` in `out_dir`, each written atomically (plus the calibration curves PNG)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    atomic_write_text(json_path, json.dumps(doc, indent=2))
    atomic_write_text(md_path, markdown(doc))
    if "curves_real" in doc.get("ann", {}).get("vectors", {}):
        from vsearch.bench.plot import plot_calibration

        plot_calibration(doc["ann"]["vectors"], out_dir / f"{stem}-calibration.png")
    return json_path, md_path
