"""`vsearch bench` at toy scale: the document it writes, and the synthetic vectors it benchmarks on.

Times are measured and written, never asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsearch.bench.run import BenchConfig, markdown, percentiles, run_bench, write_results


def test_percentiles_by_hand() -> None:
    got = percentiles([0.001 * i for i in range(1, 101)])
    assert got["runs"] == 100 and got["p50_ms"] == pytest.approx(50.5)
    assert got["p95_ms"] == pytest.approx(95.05, abs=0.06)


def test_bench_document_at_toy_scale(subset_catalog: Path, tmp_path: Path) -> None:
    cfg = BenchConfig(subset_catalog, model="tiny", photos=32, sizes=[3000], types_by_size={3000: ["ivf", "hnsw"]},
                      queries=50, max_memory=None, cold_runs=1, warm_runs=3, workers=0, quick=True)
    doc = run_bench(cfg)
    fb = doc["forward_vs_build"]
    assert fb["photos"] == 32 and fb["raw_forward_img_s"] > 0 and fb["build_img_s"] > 0 and fb["build_vs_raw"] > 0
    results = {r["index_type"]: r for r in doc["ann"]["results"]}
    assert set(results) == {"exact", "ivf", "hnsw"}
    assert results["exact"]["factory"].startswith("Flat") and results["exact"]["qps_1_thread"] > 0
    assert results["ivf"]["factory"].startswith("IVF") and "nprobe" in results["ivf"]["params"]
    assert "efSearch" in results["hnsw"]["params"]
    for r in (results["ivf"], results["hnsw"]):  # measured against the exact top-10 (the exact row is the truth)
        assert r["tuning"] and 0.5 < r["recall_at_10"] <= 1.0 and r["qps_1_thread"] > 0 and r["qps_all_cores"] > 0
    vec = doc["ann"]["vectors"]
    assert set(vec["curves_real"]) == set(vec["curves_synthetic"]) == {"ivf_nprobe", "hnsw_efSearch"}
    assert vec["largest_gap"] >= 0 and vec["max_cosine_synthetic_to_any_real"] < 0.99
    assert [r["name"] for r in doc["ann"]["real_rows"]] == ["real photos"]  # built without titles
    for mode in ("cold", "warm"):
        assert doc["query_latency"][mode]["runs"] == (1 if mode == "cold" else 3)
    json_path, md_path = write_results(doc, tmp_path / "out", "bench-test")
    assert json.loads(json_path.read_text())["ann"]["results"] == doc["ann"]["results"]
    assert (tmp_path / "out" / "bench-test-calibration.png").stat().st_size > 1000
    md = md_path.read_text()
    assert md == markdown(doc) and md.count("| 3,000 |") == 3 and "cold (new process)" in md
