"""`vsearch bench` at toy scale: the document it writes, and the synthetic vectors it benchmarks on.

Times are measured and written, never asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vsearch.bench.ann import Synth, nn_similarity
from vsearch.bench.run import BenchConfig, markdown, percentiles, run_bench, write_results
from vsearch.index.store import Store


def test_percentiles_by_hand() -> None:
    got = percentiles([0.001 * i for i in range(1, 101)])
    assert got["runs"] == 100 and got["p50_ms"] == pytest.approx(50.5)
    assert got["p95_ms"] == pytest.approx(95.05, abs=0.06)


def test_synthetic_vectors_look_like_real_ones(full_index: Path) -> None:
    with Store(full_index / "store.lmdb", readonly=True) as store:
        real = store.load_vectors("image")[1]
    synth = Synth.fit(real)
    fake = synth.sample(len(real), seed=5)
    assert np.allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    uniform = np.random.default_rng(0).standard_normal(real.shape).astype(np.float32)
    uniform /= np.linalg.norm(uniform, axis=1, keepdims=True)
    target = nn_similarity(real)
    # calibrated: nearest-neighbour tightness close to the real set, unlike uniform noise
    assert abs(nn_similarity(fake) - target) < 0.03 < abs(nn_similarity(uniform) - target)
    assert not np.array_equal(synth.sample(10, 1), synth.sample(10, 2))
    assert np.array_equal(synth.sample(10, 1), synth.sample(10, 1))


def test_bench_document_at_toy_scale(subset_catalog: Path, tmp_path: Path) -> None:
    cfg = BenchConfig(subset_catalog, model="tiny", photos=32, sizes=[3000], types_by_size={3000: ["ivf", "hnsw"]},
                      queries=50, max_memory=None, cold_runs=1, warm_runs=3, workers=0, quick=True)
    doc = run_bench(cfg)
    fb = doc["forward_vs_build"]
    assert fb["photos"] == 32 and fb["raw_forward_img_s"] > 0 and fb["build_img_s"] > 0 and fb["build_vs_raw"] > 0
    results = {r["index_type"]: r for r in doc["ann"]["results"]}
    assert set(results) == {"exact", "ivf", "hnsw"}
    assert results["exact"]["recall_at_10"] == 1.0 and results["exact"]["factory"] == "Flat"
    assert results["ivf"]["factory"].startswith("IVF") and "nprobe" in results["ivf"]["params"]
    assert "efSearch" in results["hnsw"]["params"]
    assert all(0.0 <= r["recall_at_10"] <= 1.0 and r["qps"] > 0 for r in results.values())
    assert "Gaussian noise" in doc["ann"]["vectors"]["method"]
    for mode in ("cold", "warm"):
        assert doc["query_latency"][mode]["runs"] == (1 if mode == "cold" else 3)
    json_path, md_path = write_results(doc, tmp_path / "out", "bench-test")
    assert json.loads(json_path.read_text())["ann"]["results"] == doc["ann"]["results"]
    md = md_path.read_text()
    assert md == markdown(doc) and md.count("| 3,000 |") == 3 and "cold (new process)" in md
