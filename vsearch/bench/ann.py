"""ANN part of `vsearch bench`: QPS, recall@10, build time and memory of each index type vs exact search.

Vectors are synthesised from real catalogue embeddings, not uniform noise (on which every
approximate index shows recall near zero): k-means splits the real vectors into clusters; each
synthetic vector is a random real vector plus Gaussian noise with its cluster's per-dimension spread
times `noise`, re-normalised. Queries are drawn the same way from other seeds, so they are held out.
Vectors are generated in seeded chunks, so a 1M x 1280 set never sits in memory twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace

import faiss
import numpy as np

from vsearch.index.autoindex import choose_index, train_index
from vsearch.index.tuning import apply_params, recall_at_k, tune

_logger = logging.getLogger(__name__)
CHUNK = 100_000


@dataclass
class Synth:
    """Generator of embedding-like unit vectors around real ones."""

    base: np.ndarray  # [m, dim] real unit vectors
    cluster: np.ndarray  # [m] k-means cluster of each
    spread: np.ndarray  # [clusters, dim] per-dimension std of residuals
    noise: float = 0.5

    @classmethod
    def fit(cls, real: np.ndarray, clusters: int = 64, noise: float | None = None, seed: int = 0) -> Synth:
        """Fit clusters; `noise=None` calibrates it so the median nearest-neighbour cosine matches the real set."""
        real = np.ascontiguousarray(real, np.float32)
        k = max(1, min(clusters, len(real) // 20))
        km = faiss.Kmeans(real.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
        km.train(real)
        _, assign = km.index.search(real, 1)
        assign = assign[:, 0]
        spread = np.stack([(real[assign == c] - km.centroids[c]).std(axis=0) if (assign == c).sum() > 1
                           else np.full(real.shape[1], real.std(), np.float32) for c in range(k)])
        synth = cls(real, assign, spread.astype(np.float32), noise or 0.5)
        if noise is None:
            target = nn_similarity(real)
            synth.noise = min((0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0),
                              key=lambda a: abs(nn_similarity(replace(synth, noise=a).sample(len(real), 5)) - target))
        return synth

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, len(self.base), n)
        out = self.base[pick] + self.noise * self.spread[self.cluster[pick]] * rng.standard_normal(
            (n, self.base.shape[1]), dtype=np.float32)
        faiss.normalize_L2(out)
        return out

    def chunks(self, n: int, seed: int) -> Iterator[np.ndarray]:
        for i, start in enumerate(range(0, n, CHUNK)):
            yield self.sample(min(CHUNK, n - start), seed * 1000 + i)


def nn_similarity(vectors: np.ndarray, sample: int = 500, seed: int = 0) -> float:
    """Median cosine of a vector's nearest other vector: how tight the set is (to compare real vs synthetic)."""
    pick = np.random.default_rng(seed).choice(len(vectors), min(sample, len(vectors)), replace=False)
    scores, _ = faiss.knn(vectors[pick], vectors, 2, metric=faiss.METRIC_INNER_PRODUCT)
    return float(np.median(scores[:, 1]))


def _rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class AnnResult:
    """One index type at one size."""

    n: int
    index_type: str
    factory: str
    build_s: float
    memory_mb: float
    params: dict[str, int] = field(default_factory=dict)
    recall_at_10: float = 1.0
    qps: float = 0.0
    speedup_vs_exact: float = 1.0
    tuning: list[dict[str, float]] = field(default_factory=list)
    note: str = ""


def _timed_search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    index.search(queries[:8], k)  # warm caches and thread pool
    t0 = time.perf_counter()
    _, ids = index.search(queries, k)
    return ids, len(queries) / (time.perf_counter() - t0)


def bench_size(synth: Synth, n: int, index_types: list[str], *, queries: int = 500, tune_queries: int = 200,
               max_memory: int | None = None, target: float = 0.95, k: int = 10,
               progress: Callable[[str], None] = lambda s: None) -> list[AnnResult]:
    """Exact search plus each of `index_types` ("auto" or an alias/factory) over `n` synthetic vectors."""
    dim = synth.base.shape[1]
    xq = synth.sample(queries + tune_queries, seed=7_000_001)
    q_eval, q_tune = xq[:queries], xq[queries:]
    progress(f"{n}: exact")
    rss0, t0 = _rss(), time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    for chunk in synth.chunks(n, seed=n):
        flat.add(chunk)
    build = time.perf_counter() - t0
    mem = (_rss() - rss0) / 2**20
    truth_eval, exact_qps = _timed_search(flat, q_eval, k)
    _, truth_tune = flat.search(q_tune, k)
    del flat
    results = [AnnResult(n, "exact", "Flat", round(build, 2), round(mem, 1), qps=round(exact_qps, 1))]
    for kind in index_types:
        progress(f"{n}: {kind}")
        choice = choose_index(n, dim, max_memory, kind)
        rss0, t0 = _rss(), time.perf_counter()
        ivf = faiss.try_extract_index_ivf(faiss.index_factory(dim, choice.factory, faiss.METRIC_INNER_PRODUCT))
        train = synth.sample(min(n, max(40 * ivf.nlist, 20_000)) if ivf is not None else 16, seed=9_000_001)
        index = train_index(train, choice.factory, max_train=len(train))
        del train
        ids_seq = 0
        for chunk in synth.chunks(n, seed=n):
            index.add_with_ids(chunk, np.arange(ids_seq, ids_seq + len(chunk), dtype=np.int64))
            ids_seq += len(chunk)
        build = time.perf_counter() - t0
        mem = (_rss() - rss0) / 2**20
        params, _, curve = tune(index, q_tune, truth_tune, None, target, k)
        apply_params(index, params)
        found, qps = _timed_search(index, q_eval, k)
        recall = recall_at_k(found, truth_eval, k)
        results.append(AnnResult(n, kind, choice.factory, round(build, 2), round(mem, 1), params, round(recall, 4),
                                 round(qps, 1), round(qps / exact_qps, 1), curve,
                                 "; ".join(choice.reasons) if kind == "auto" else ""))
        _logger.info("%s n=%d %s recall %.3f qps %.0f", kind, n, choice.factory, recall, qps)
        del index
    return results


def bench_ann(real: np.ndarray, sizes: list[int], types_by_size: dict[int, list[str]], *, queries: int = 500,
              max_memory: int | None = None, noise: float | None = None, target: float = 0.95,
              progress: Callable[[str], None] = lambda s: None) -> dict[str, object]:
    """Part (2) of the bench: every size, every index type, plus how the vectors were made."""
    synth = Synth.fit(real, noise=noise)
    how = "calibrated to match the real median nearest-neighbour cosine" if noise is None else "given"
    sample = synth.sample(len(real), seed=123)
    out: dict[str, object] = {
        "vectors": {"method": f"real embeddings + Gaussian noise ({synth.noise} x the per-dimension std of their "
                              f"k-means cluster, {len(synth.spread)} clusters), re-normalised; noise scale "
                              f"{how}"
                              "; queries drawn the same way from other seeds (held out)",
                    "real_vectors": int(len(real)), "dim": int(real.shape[1]),
                    "median_nn_cosine_real": round(nn_similarity(real), 4),
                    "median_nn_cosine_synthetic_same_count": round(nn_similarity(sample), 4)},
        "max_memory_bytes": max_memory, "queries": queries, "tune_queries": 200,
        "tune_target_recall": target, "results": []}
    for n in sizes:
        res = bench_size(synth, n, types_by_size.get(n, ["auto"]), queries=queries, max_memory=max_memory,
                         target=target, progress=progress)
        out["results"].extend(asdict(r) for r in res)  # type: ignore[attr-defined]
    return out
