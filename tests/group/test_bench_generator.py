"""The offer generator of `scripts/bench_group.py`: products grow with N, siblings differ consistently."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("bench_group", ROOT / "scripts" / "bench_group.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_products_grow_with_n_and_differ_consistently(data_dir: Path) -> None:
    with (data_dir / "pricerunner" / "offers.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    bench = _bench()
    small, truth_small = bench.generate(rows, 30_000, 3000)
    offers, truth = bench.generate(rows, 45_000, 3000)
    assert len(offers) == 45_000 and len(set(offers.ids)) == 45_000
    assert offers.titles[:len(rows)] == [r["product_title"] for r in rows]  # the real offers, unchanged
    assert 7940 < len(set(truth_small)) < len(set(truth))
    assert truth_small == truth[:30_000] and small.titles == offers.titles[:30_000]  # deterministic
    per_product_sellers = Counter(zip(truth, offers.sellers))
    assert max(per_product_sellers.values()) == 1  # a seller lists a product once
    parent_titles: dict[str, set[str]] = {}
    for r in rows:
        parent_titles.setdefault(r["cluster_id"], set()).add(r["product_title"])
    synthetic = [k for k in range(len(rows), len(offers)) if truth[k].count("-") == 1]
    for k in synthetic[:2000]:
        assert offers.titles[k] not in parent_titles[truth[k].split("-")[0]]  # the change is in every offer
    mutation = bench._mutation(Counter({"6300": 3, "40": 1}), __import__("random").Random(0))
    assert mutation[0][0] == "6300" and len(mutation[0][1]) == 4 and mutation[0][1] != "6300"
    assert bench._apply("samsung ue40j6300 / ue40j6300ak", (("6300", "6200"),)) == "samsung ue40j6200 / ue40j6200ak"
