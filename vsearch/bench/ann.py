"""ANN part of `vsearch bench`: QPS (single-thread and all cores), recall@10, build time and memory of each
index type against exact search, on calibrated synthetic vectors (`vsearch.bench.synthetic`) and on the real ones.

Each size is one generation pass: vectors come in seeded chunks; every chunk is added to the indexes under
test and searched exactly for the held-out queries (top-10 merged across chunks), then dropped, so a
10M x 1280 set never sits in memory. Queries are rows of the same generative process held out of the
database, as real held-out photos are in the real curves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from vsearch.bench.synthetic import CHUNK, Generator, Knobs

_logger = logging.getLogger(__name__)
QUERY_SEED = 7_000_001


def rss_bytes(field_name: str = "VmRSS") -> int:
    """Resident (VmRSS) or peak resident (VmHWM) memory of this process."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def index_bytes(index: faiss.Index) -> int:
    """Bytes the index holds: list codes + ids (+ refine codes), or the flat/HNSW storage (quantizer counted as
    flat centroids)."""
    from vsearch.index.tuning import refine_index

    ivf = faiss.try_extract_index_ivf(index)
    refine = refine_index(index)
    fine = refine.ntotal * faiss.downcast_index(refine.refine_index).code_size if refine is not None else 0
    if ivf is not None:
        return int(ivf.ntotal * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4 + fine)
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else faiss.downcast_index(index)
    links = 2 * inner.hnsw.nb_neighbors(0) * 4 if hasattr(inner, "hnsw") else 0
    return int(index.ntotal * (index.d * 4 + 8 + links))


@dataclass
class AnnResult:
    """One index type at one size."""

    n: int
    index_type: str
    factory: str
    build_s: float
    index_mb: float
    rss_growth_mb: float
    params: dict[str, int] = field(default_factory=dict)
    recall_at_10: float = 1.0
    qps_1_thread: float = 0.0
    qps_all_cores: float = 0.0
    speedup_vs_exact: float = 1.0
    speedup_vs_exact_1_thread: float = 1.0
    qps_one_at_a_time: float = 0.0
    """1 thread, one query per call: a shopper's query as a server answers it (no batch for BLAS to share)."""
    speedup_one_at_a_time: float = 1.0
    queries: int = 0
    tuning: list[dict[str, float]] = field(default_factory=list)
    note: str = ""


def _timed(index: Any, queries: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, float]:
    """Search with `threads` OpenMP threads; (ids, queries per second)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        index.search(queries[:4], k)  # warm caches and thread pool
        t0 = time.perf_counter()
        _, ids = index.search(queries, k)
        return ids, len(queries) / (time.perf_counter() - t0)
    finally:
        faiss.omp_set_num_threads(before)


def _timed_one_at_a_time(index: Any, queries: np.ndarray, k: int) -> float:
    """Queries per second on 1 thread, one query per `search` call."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.search(queries[:1], k)
        t0 = time.perf_counter()
        for q in queries:
            index.search(q[None, :], k)
        return len(queries) / (time.perf_counter() - t0)
    finally:
        faiss.omp_set_num_threads(before)


class ExactTopK:
    """Exact inner-product top-k of fixed queries over a stream of chunks, timed (all cores and 1 thread)."""

    def __init__(self, queries: np.ndarray, k: int, single_thread_queries: int = 50, one_at_a_time: int = 20) -> None:
        self.q, self.k, self.q1 = queries, k, min(single_thread_queries, len(queries))
        self.q_single = min(one_at_a_time, len(queries))
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self.ids = np.full((len(queries), k), -1, np.int64)
        self.seconds = self.seconds_1 = self.seconds_single = 0.0
        self.seen = 0

    def add(self, chunk: np.ndarray) -> None:
        t0 = time.perf_counter()
        s, i = faiss.knn(self.q, chunk, self.k, metric=faiss.METRIC_INNER_PRODUCT)
        self.seconds += time.perf_counter() - t0
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        t0 = time.perf_counter()
        faiss.knn(self.q[:self.q1], chunk, self.k, metric=faiss.METRIC_INNER_PRODUCT)
        self.seconds_1 += time.perf_counter() - t0
        t0 = time.perf_counter()
        for q in self.q[:self.q_single]:
            faiss.knn(q[None, :], chunk, self.k, metric=faiss.METRIC_INNER_PRODUCT)
        self.seconds_single += time.perf_counter() - t0
        faiss.omp_set_num_threads(before)
        both_s = np.concatenate([self.scores, s], axis=1)
        both_i = np.concatenate([self.ids, i + self.seen], axis=1)
        top = np.argsort(-both_s, axis=1, kind="stable")[:, :self.k]
        self.scores, self.ids = np.take_along_axis(both_s, top, 1), np.take_along_axis(both_i, top, 1)
        self.seen += len(chunk)

    def qps(self) -> tuple[float, float]:
        return len(self.q) / max(self.seconds, 1e-9), self.q1 / max(self.seconds_1, 1e-9)

    def qps_one_at_a_time(self) -> float:
        return self.q_single / max(self.seconds_single, 1e-9)


def dataset(gen: Generator, n: int, holdout: int, seed: int) -> tuple[np.ndarray, Callable[[], Iterator[np.ndarray]]]:
    """Held-out queries (the first `holdout` rows of chunk 0) and a re-playable iterator over the `n` others."""
    first = gen.sample(min(CHUNK, n) + holdout, seed * 100_003)

    def chunks() -> Iterator[np.ndarray]:
        yield first[holdout:]
        rest = n - (len(first) - holdout)
        for i, start in enumerate(range(0, rest, CHUNK)):
            yield gen.sample(min(CHUNK, rest - start), seed * 100_003 + i + 1)

    return np.ascontiguousarray(first[:holdout]), chunks


def bench_size(gen: Generator, n: int, index_types: list[str], *, queries: int = 500, tune_queries: int = 200,
               max_memory: int | None = None, target: float = 0.95, k: int = 10, dump: Path | None = None,
               exact_1_thread_queries: int | None = None,
               progress: Callable[[str], None] = lambda s: None) -> list[AnnResult]:
    """Exact search plus each of `index_types` ("auto" or an alias/factory) over `n` synthetic vectors.

    `exact_1_thread_queries`: how many queries time exact search on one thread (default: all of them, like for
    like; fewer where 1-thread exact search over `n` takes too long, e.g. 50 at 10M, which flatters the indexes'
    1-thread ratio because BLAS runs a small batch less efficiently).
    `dump`: a folder that receives the same vectors (`emb/NNN.npy`), queries and exact top-k (`queries.npy`,
    `truth.npy`, the first `queries` rows are the evaluation ones), for another tool to index.
    """
    from vsearch.index.autoindex import choose_index, train_index
    from vsearch.index.tuning import apply_params, recall_at_k, tune

    xq, chunks = dataset(gen, n, queries + tune_queries, seed=n)
    q_eval, q_tune = xq[:queries], xq[queries:]
    built: list[tuple[str, Any, Any, float, int]] = []
    for kind in index_types:
        choice = choose_index(n, gen.dim, max_memory, kind)
        ivf = faiss.try_extract_index_ivf(faiss.index_factory(gen.dim, choice.factory, faiss.METRIC_INNER_PRODUCT))
        want = min(n, max(40 * ivf.nlist, 20_000)) if ivf is not None else 16
        sample = np.concatenate([c for c, _ in zip(chunks(), range(-(-want // CHUNK)))])[:want]
        progress(f"{n}: train {choice.factory} on {len(sample)}")
        rss0, t0 = rss_bytes(), time.perf_counter()
        index = train_index(sample, choice.factory, max_train=len(sample))
        del sample
        built.append((kind, choice, index, time.perf_counter() - t0, rss0))
    exact = ExactTopK(xq, k, exact_1_thread_queries or len(xq))
    add_s = [0.0] * len(built)
    for c, chunk in enumerate(chunks()):
        progress(f"{n}: chunk {c + 1}/{-(-n // CHUNK)}")
        exact.add(chunk)
        if dump is not None:
            (dump / "emb").mkdir(parents=True, exist_ok=True)
            np.save(dump / "emb" / f"{c:04d}.npy", chunk)
        for j, (_, _, index, _, _) in enumerate(built):
            t0 = time.perf_counter()
            index.add_with_ids(chunk, np.arange(exact.seen - len(chunk), exact.seen, dtype=np.int64))
            add_s[j] += time.perf_counter() - t0
    truth_eval, truth_tune = exact.ids[:queries], exact.ids[queries:]
    if dump is not None:
        np.save(dump / "queries.npy", xq)
        np.save(dump / "truth.npy", exact.ids)
    exact_qps, exact_qps_1 = exact.qps()
    exact_single = exact.qps_one_at_a_time()
    results = [AnnResult(n, "exact", "Flat (brute force, chunked)", 0.0, round(n * (gen.dim * 4 + 8) / 2**20, 1), 0.0,
                         qps_1_thread=round(exact_qps_1, 2), qps_all_cores=round(exact_qps, 2),
                         qps_one_at_a_time=round(exact_single, 2), queries=len(xq),
                         note=f"1-thread QPS on {exact.q1} queries in one batch; one at a time on {exact.q_single}")]
    for j, (kind, choice, index, train_s, rss0) in enumerate(built):
        progress(f"{n}: tune {kind}")
        params, _, curve = tune(index, q_tune, truth_tune, None, target, k)
        apply_params(index, params)
        found, qps = _timed(index, q_eval, k, faiss.omp_get_max_threads())
        _, qps_1 = _timed(index, q_eval, k, 1)
        single = _timed_one_at_a_time(index, q_eval[:100], k)
        recall = recall_at_k(found, truth_eval, k)
        results.append(AnnResult(n, kind, choice.factory, round(train_s + add_s[j], 2),
                                 round(index_bytes(index) / 2**20, 1), round((rss_bytes() - rss0) / 2**20, 1),
                                 params, round(recall, 4), round(qps_1, 1), round(qps, 1), round(qps / exact_qps, 1),
                                 round(qps_1 / exact_qps_1, 1), round(single, 1), round(single / exact_single, 1),
                                 queries, curve, "; ".join(choice.reasons) if kind == "auto" else ""))
        _logger.info("%s n=%d %s recall %.3f qps %.0f", kind, n, choice.factory, recall, qps)
    built.clear()
    return results


def bench_ann(real: np.ndarray, sizes: list[int], types_by_size: dict[int, list[str]], *, queries: int = 500,
              max_memory: int | None = None, target: float = 0.95, titles: np.ndarray | None = None,
              knobs: Knobs | None = None, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Part (2) of the bench: calibration (unless `knobs` are given), real-only rows, every size and index type."""
    from vsearch.bench.calibrate import calibration_report, real_row

    if knobs is None:
        gen, vectors = calibration_report(real, progress=progress)
    else:
        gen = Generator.fit(real, knobs=knobs)
        vectors = {**gen.describe(), "note": "knobs given, not calibrated in this run"}
    rows = [("real photos", real), ("real titles", titles)]
    out: dict[str, Any] = {"vectors": vectors, "max_memory_bytes": max_memory, "queries": queries,
                           "tune_queries": 200, "tune_target_recall": target,
                           "real_rows": [real_row(v, name, max_memory, queries) for name, v in rows
                                         if v is not None and len(v)],
                           "results": []}
    for n in sizes:
        res = bench_size(gen, n, types_by_size.get(n, ["auto"]), queries=queries, max_memory=max_memory,
                         target=target, progress=progress)
        out["results"].extend(asdict(r) for r in res)
    return out
