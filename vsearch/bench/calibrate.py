"""Recall curves (IVF recall vs nprobe, HNSW recall vs efSearch) and the search for generator spreads that match
the real curves at the real set's size.

A set's curves are measured the same way for real and synthetic vectors: `queries` rows are held out,
the rest are the database; exact top-10 by brute force; IVF with `default_nlist(database)` lists and
HNSW32 built on the database; recall@10 at each knob value.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vsearch.bench.synthetic import Generator, Knobs

_logger = logging.getLogger(__name__)
NPROBES = (1, 2, 4, 8, 16, 32, 64)
EF_SEARCHES = (10, 16, 24, 32, 64, 128)
TOLERANCE = 0.03
DEFAULT_GRID = {"within": (1.4, 1.6, 1.8), "family": (0.4, 0.5, 0.6), "family_size": (4.0, 5.0, 6.0)}


@dataclass
class Curves:
    """Recall@10 at each knob value."""

    ivf: dict[int, float]
    hnsw: dict[int, float]

    def gap(self, other: Curves) -> float:
        """Largest absolute recall difference over both curves."""
        return max(max(abs(self.ivf[v] - other.ivf[v]) for v in self.ivf),
                   max(abs(self.hnsw[v] - other.hnsw[v]) for v in self.hnsw) if self.hnsw else 0.0)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {"ivf_nprobe": {str(k): round(v, 4) for k, v in self.ivf.items()},
                "hnsw_efSearch": {str(k): round(v, 4) for k, v in self.hnsw.items()}}


def recall_curves(vectors: np.ndarray, queries: int = 500, *, hnsw: bool = True, seed: int = 0,
                  nprobes: tuple[int, ...] = NPROBES, efs: tuple[int, ...] = EF_SEARCHES, k: int = 10) -> Curves:
    """IVF and HNSW recall@k curves of a set, `queries` random rows held out as queries."""
    import faiss

    from vsearch.index.autoindex import default_nlist
    from vsearch.index.tuning import recall_at_k

    vectors = np.ascontiguousarray(vectors, np.float32)
    queries = min(queries, max(1, len(vectors) // 5))
    pick = np.random.default_rng(seed).permutation(len(vectors))
    xq, xb = vectors[pick[:queries]], np.ascontiguousarray(vectors[pick[queries:]])
    _, truth = faiss.knn(xq, xb, k, metric=faiss.METRIC_INNER_PRODUCT)
    nlist = default_nlist(len(xb))
    ivf = faiss.index_factory(xb.shape[1], f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
    faiss.extract_index_ivf(ivf).cp.seed = seed
    ivf.train(xb)
    ivf.add(xb)
    ivf_curve = {}
    for nprobe in nprobes:
        faiss.extract_index_ivf(ivf).nprobe = min(nprobe, nlist)
        ivf_curve[nprobe] = recall_at_k(ivf.search(xq, k)[1], truth, k)
    hnsw_curve: dict[int, float] = {}
    if hnsw:
        graph = faiss.IndexHNSWFlat(xb.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        graph.add(xb)
        for ef in efs:
            graph.hnsw.efSearch = ef
            hnsw_curve[ef] = recall_at_k(graph.search(xq, k)[1], truth, k)
    return Curves(ivf_curve, hnsw_curve)


def calibrate(gen: Generator, real_curves: Curves, n: int, *, grid: dict[str, tuple[float, ...]] | None = None,
              seed: int = 1, progress: Callable[[str], None] = lambda s: None) -> tuple[Knobs, Curves, list[dict]]:
    """Knobs whose IVF curve (then HNSW curve, on the few best) at `n` vectors is closest to the real ones.

    Returns the chosen knobs, their full curves, and every trial (knobs, IVF gap, HNSW gap when measured).
    """
    grid = grid or DEFAULT_GRID
    trials = []
    for values in itertools.product(*grid.values()):
        knobs = Knobs(**{**Knobs().__dict__, **dict(zip(grid, values))})
        curves = recall_curves(gen.with_knobs(knobs).sample(n, seed), hnsw=False)
        gap = max(abs(curves.ivf[v] - real_curves.ivf[v]) for v in curves.ivf)
        trials.append({"knobs": knobs.to_dict(), "ivf_gap": round(gap, 4)})
        progress(f"calibrate {knobs.to_dict()} ivf gap {gap:.3f}")
    best: tuple[float, Knobs, Curves] | None = None
    for trial in sorted(trials, key=lambda t: t["ivf_gap"])[:3]:
        knobs = Knobs(**trial["knobs"])
        curves = recall_curves(gen.with_knobs(knobs).sample(n, seed))
        trial["gap"] = round(curves.gap(real_curves), 4)
        trial["hnsw_gap"] = round(max(abs(curves.hnsw[v] - real_curves.hnsw[v]) for v in curves.hnsw), 4)
        progress(f"calibrate {knobs.to_dict()} both gap {trial['gap']:.3f}")
        if best is None or trial["gap"] < best[0]:
            best = (trial["gap"], knobs, curves)
    assert best is not None
    _logger.info("calibrated knobs %s: largest curve gap %.3f", best[1], best[0])
    return best[1], best[2], trials


def calibration_report(real: np.ndarray, *, grid: dict[str, tuple[float, ...]] | None = None,
                       progress: Callable[[str], None] = lambda s: None) -> tuple[Generator, dict]:
    """Fit the generator to `real`, tune its knobs to the real curves; the fitted generator and the evidence."""
    from vsearch.bench.synthetic import max_cosine_to

    gen = Generator.fit(real)
    progress("calibrate: real curves")
    real_curves = recall_curves(real)
    knobs, synth_curves, trials = calibrate(gen, real_curves, len(real), grid=grid, progress=progress)
    gen = gen.with_knobs(knobs)
    closest = max_cosine_to(real, gen.sample(len(real), seed=11))
    doc = {**gen.describe(), "calibrated_at_n": len(real), "tolerance": TOLERANCE,
           "curves_real": real_curves.to_dict(), "curves_synthetic": synth_curves.to_dict(),
           "largest_gap": round(real_curves.gap(synth_curves), 4),
           "within_tolerance": real_curves.gap(synth_curves) <= TOLERANCE,
           "max_cosine_synthetic_to_any_real": round(float(closest.max()), 4),
           "median_cosine_synthetic_to_nearest_real": round(float(np.median(closest)), 4),
           "trials": trials}
    return gen, doc


def real_row(vectors: np.ndarray, name: str, max_memory: int | None, queries: int = 500) -> dict:
    """Real-only figures: exact QPS, what auto picks at this size, and both recall curves."""
    import time

    import faiss

    from vsearch.index.autoindex import choose_index

    vectors = np.ascontiguousarray(vectors, np.float32)
    queries = min(queries, max(1, len(vectors) // 5))
    pick = np.random.default_rng(0).permutation(len(vectors))
    xq, xb = vectors[pick[:queries]], np.ascontiguousarray(vectors[pick[queries:]])
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    qps = {}
    before = faiss.omp_get_max_threads()
    for threads in (1, before):
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        flat.search(xq, 10)
        qps[threads] = len(xq) / (time.perf_counter() - t0)
    faiss.omp_set_num_threads(before)
    choice = choose_index(len(vectors), xb.shape[1], max_memory)
    return {"name": name, "n": len(vectors), "dim": int(xb.shape[1]), "queries": queries,
            "exact_qps_1_thread": round(qps[1], 1), "exact_qps_all_cores": round(qps[before], 1),
            "auto_factory": choice.factory, "auto_reasons": choice.reasons,
            "curves": recall_curves(vectors, queries).to_dict()}
