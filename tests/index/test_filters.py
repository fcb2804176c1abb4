"""Metadata filters: the parser, one-line errors, and filtered search against a brute-force oracle.

The oracle filters products first (same metadata, same predicate semantics written out by hand
below), then scores every remaining product by its best stored vector: what `--where` must return.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsearch.core.errors import BadQueryError
from vsearch.index.filters import parse_condition, parse_filter
from vsearch.index.search import Searcher
from vsearch.index.store import Store


def test_parse_conditions_by_hand() -> None:
    eq = parse_condition("articleType=Shirts")
    assert eq.matches({"articleType": "Shirts"}) and eq.matches({"articleType": " shirts "})
    assert not eq.matches({"articleType": "Tshirts"}) and not eq.matches({})
    ne = parse_condition("gender != Men")
    assert ne.matches({"gender": "Women"}) and not ne.matches({"gender": "Men"})
    inn = parse_condition("baseColour in (Blue, 'Navy Blue')")
    assert inn.values == {"blue", "navy blue"}
    assert inn.matches({"baseColour": "Navy Blue"}) and not inn.matches({"baseColour": "Black"})
    notin = parse_condition("baseColour not in (Blue,Black)")
    assert notin.matches({"baseColour": "Red"}) and not notin.matches({"baseColour": "black"})
    ge, lt = parse_condition("year>=2012"), parse_condition("year<2012")
    assert ge.matches({"year": "2012"}) and not ge.matches({"year": "2011"}) and not ge.matches({"year": "n/a"})
    assert lt.matches({"year": "2011"}) and not lt.matches({"year": "2012"})
    rng = parse_condition("year=2011..2013")
    assert [rng.matches({"year": str(y)}) for y in (2010, 2011, 2012, 2013, 2014)] == [False, True, True, True, False]
    both = parse_filter(["masterCategory=Apparel", "year>2011"])
    assert both is not None and both.matches({"masterCategory": "Apparel", "year": "2012"})
    assert not both.matches({"masterCategory": "Apparel", "year": "2011"})
    assert parse_filter([]) is None


@pytest.mark.parametrize("expr", ["articleType", "=Shirts", "year>=abc", "baseColour in Blue", "year=2014..2011",
                                  "baseColour in ()", "a b=c"])
def test_bad_syntax_is_one_error(expr: str) -> None:
    with pytest.raises(BadQueryError) as info:
        parse_condition(expr)
    assert "\n" not in str(info.value) and expr in str(info.value)


def _oracle(store: Store, query: np.ndarray, k: int, keep: dict[str, bool],
            exclude: set[str]) -> list[tuple[str, float]]:
    """Filter products, then exact best-vector score per product, then top-k."""
    scored = []
    for pid, ok in keep.items():
        if not ok or pid in exclude:
            continue
        vecs = store.product_vectors(pid, "image")
        if vecs.size:
            scored.append((pid, float((vecs @ query).max())))
    scored.sort(key=lambda item: -item[1])
    return scored[:k]


def _assert_same(hits: list, expected: list[tuple[str, float]]) -> None:
    assert len(hits) == len(expected)
    got_scores = np.array([h.score for h in hits])
    np.testing.assert_allclose(got_scores, [s for _, s in expected], atol=1e-5)
    for hit, (pid, score) in zip(hits, expected):  # ids must agree except inside a tie
        if not any(abs(score - other) < 1e-5 for p, other in expected if p != pid):
            assert hit.id == pid


# Each case: filter expressions and the same predicate written by hand over the raw metadata.
CASES = [
    (["masterCategory=Apparel"], lambda m: m["masterCategory"] == "Apparel"),
    (["baseColour in (Blue,Navy Blue)"], lambda m: m["baseColour"] in ("Blue", "Navy Blue")),
    (["gender!=Men", "year>=2012"], lambda m: m["gender"] != "Men" and float(m["year"]) >= 2012),
    (["year=2011..2012", "masterCategory=Footwear"],
     lambda m: 2011 <= float(m["year"]) <= 2012 and m["masterCategory"] == "Footwear"),
    (["articleType=Watches"], lambda m: m["articleType"] == "Watches"),
    (["articleType in (Heels,Flip Flops)", "baseColour!=Black"],
     lambda m: m["articleType"] in ("Heels", "Flip Flops") and m["baseColour"] != "Black"),
    (["articleType=NoSuchType"], lambda m: False),
]


def _check_index(index_dir: Path, photo: Path, exact_subset: int | None = None) -> int:
    checked = 0
    with Searcher(index_dir, device="cpu") as searcher:
        if exact_subset is not None:  # force the IDSelector path, probing every list so it must be exact
            import faiss

            searcher.EXACT_SUBSET = exact_subset
            ivf = faiss.extract_index_ivf(searcher.faiss_index())
            ivf.nprobe = ivf.nlist
        metas = dict(searcher.store.iter_products())
        like_ids = sorted(metas)[::60]
        photo_query = searcher.embed_photos([photo])[0]
        for where, predicate in CASES:
            keep = {pid: predicate(meta) for pid, meta in metas.items()}
            flt = parse_filter(where)
            for k in (3, 10):
                expected = _oracle(searcher.store, photo_query, k, keep, set())
                _assert_same(searcher.search_vector(photo_query, k, where=flt), expected)
                for pid in like_ids:
                    query = searcher.store.product_vectors(pid).mean(axis=0)
                    query /= np.linalg.norm(query)
                    expected = _oracle(searcher.store, query, k, keep, {pid})
                    _assert_same(searcher.search_vector(query, k, exclude={pid}, where=flt), expected)
                    checked += 1
            assert sum(keep.values()) == 0 or searcher.search_vector(photo_query, 1000, where=flt)
    return checked


def test_filtered_search_equals_oracle_flat(tiny_index: Path, products_224: Path) -> None:
    assert _check_index(tiny_index, products_224 / "images" / "10001.jpg") > 50


def test_filtered_search_equals_oracle_ivf(tiny_index: Path, subset_catalog: Path, products_224: Path,
                                           tmp_path: Path) -> None:
    """An approximate index: selective filters go exact; forced through the IVF IDSelector with nprobe = nlist."""
    from vsearch.catalog.reader import load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.models import create_embedder

    index_dir = tmp_path / "ivf"
    shutil.copytree(tiny_index, index_dir)
    build_catalog_index(load_catalog(subset_catalog), index_dir, create_embedder("tiny", device="cpu"), None,
                        workers=0, factory="IVF8,Flat", target_recall=1.0)
    photo = products_224 / "images" / "10001.jpg"
    assert _check_index(index_dir, photo) > 50  # exact-subset path (allowed rows <= EXACT_SUBSET)
    assert _check_index(index_dir, photo, exact_subset=0) > 50  # IDSelector inside the IVF search


def test_like_keeps_working_with_filters(tiny_index: Path) -> None:
    with Searcher(tiny_index, device="cpu", where=["masterCategory=Apparel"]) as searcher:
        pid = next(p for p, m in searcher.store.iter_products() if m["masterCategory"] == "Footwear")
        hits = searcher.search_like(pid, 10)
        assert len(hits) == 10 and pid not in {h.id for h in hits}
        assert all(h.metadata["masterCategory"] == "Apparel" for h in hits)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsearch", *args], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parents[2])


def test_unknown_column_and_bad_syntax_are_one_line_cli_errors(tiny_index: Path) -> None:
    with Store(tiny_index / "store.lmdb", readonly=True) as store:
        pid = next(iter(dict(store.iter_products())))
    for where, needle in (("colour=Blue", "unknown filter column 'colour'"), ("year in 2012", "bad filter")):
        result = _cli("query", "--like", pid, "--index", str(tiny_index), "--where", where)
        assert result.returncode == 1
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr
    ok = _cli("query", "--like", pid, "--index", str(tiny_index), "--json", "-k", "5",
              "--where", "baseColour in (Blue,Navy Blue)", "--where", "year>=2011")
    assert ok.returncode == 0, ok.stderr
    results = json.loads(ok.stdout.strip().splitlines()[-1])["results"]
    assert results and all(r["baseColour"] in ("Blue", "Navy Blue") and int(r["year"]) >= 2011 for r in results)
