"""`vsearch index build --engine ray` on a local 2-CPU Ray cluster against the single-process build.

All 8,146 real products-224 photos with the default Lite0 model: the single-process build is the session's
`full_index` (built once for the whole suite), the Ray build is made here from the same catalogue folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import write_subset
from vsearch.cli import app

N_PRODUCTS = 8146


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def catalog(products_224: Path) -> Path:
    return products_224


@pytest.fixture(scope="module")
def built(catalog: Path, ray_cluster, full_index: Path,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    local = full_index
    remote = tmp_path_factory.mktemp("ray-index")
    result = CliRunner().invoke(app, ["index", "build", str(catalog), "--index", str(remote), "--no-titles",
                                      "--device", "cpu", "--engine", "ray", "--address", "auto", "--json"])
    assert result.exit_code == 0, result.output
    return local, remote, json.loads(result.stdout)


def _vectors(index_dir: Path) -> dict[str, np.ndarray]:
    from vsearch.index.manifest import STORE
    from vsearch.index.store import Store

    with Store(index_dir / STORE, readonly=True) as store:
        return {pid: store.product_vectors(pid) for pid, _ in store.iter_products()}


def test_ray_build_embeds_every_photo_on_two_actors(built: tuple[Path, Path, dict]) -> None:
    _, _, report = built
    assert report["photos_embedded"] == N_PRODUCTS and report["products"] == N_PRODUCTS
    assert report["index"]["ray"]["actors"] == 2
    assert all(rate > 0 for rate in report["index"]["ray"]["per_actor_images_per_s"])


def test_ray_vectors_match_single_process(built: tuple[Path, Path, dict]) -> None:
    local, remote, _ = built
    a, b = _vectors(local), _vectors(remote)
    assert set(a) == set(b) and len(a) == N_PRODUCTS
    cosines = [float(a[pid][0] @ b[pid][0]) for pid in a]
    assert min(cosines) >= 0.999, min(cosines)


def test_ray_index_gives_same_top10(built: tuple[Path, Path, dict], products_small: Path) -> None:
    """The same top-10 for photos from outside the index; where the lists differ, only by tied scores (as
    FAISS's `check_ref_knn_with_draws` allows)."""
    from vsearch.index.search import Searcher

    local, remote, _ = built
    with (products_small / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    queries = [products_small / row["image"] for row in rows[::10][:60]]
    with Searcher(local, device="cpu") as s1, Searcher(remote, device="cpu") as s2:
        for vec in s1.embed_photos(queries):
            a, b = s1.search_vector(vec), s2.search_vector(vec)
            assert len(a) == len(b) == 10
            if [h.id for h in a] != [h.id for h in b]:
                assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-3)
                assert {h.id for h in a if h.score > a[-1].score + 1e-3} <= {h.id for h in b}


def test_ray_build_resumes(built: tuple[Path, Path, dict], catalog: Path) -> None:
    _, remote, _ = built
    result = CliRunner().invoke(app, ["index", "build", str(catalog), "--index", str(remote), "--no-titles",
                                      "--device", "cpu", "--engine", "ray", "--address", "auto", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["photos_embedded"] == 0 and report["photos_reused"] == N_PRODUCTS


def test_actor_plan_uses_gpus_when_the_cluster_has_them() -> None:
    from vsearch.distributed.ray_build import actor_plan

    assert actor_plan({"CPU": 16.0, "GPU": 2.0}) == (2, 1.0, 8)  # one actor per GPU, spare CPUs decode
    assert actor_plan({"CPU": 2.0}) == (2, 0.0, 1)
    assert actor_plan({"CPU": 64.0}, max_actors=4) == (4, 0.0, 1)


def test_unknown_engine_is_a_one_line_error(catalog: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["index", "build", str(catalog), "--index", str(tmp_path / "x"), "--no-titles",
                                      "--device", "cpu", "--engine", "spark", "--json"])
    assert result.exit_code == 1 and result.stderr.startswith("error: --engine must be local or ray")


def test_unreachable_head_fails_fast() -> None:
    from vsearch.core.errors import BadQueryError
    from vsearch.distributed.ray_build import _check_reachable

    with pytest.raises(BadQueryError, match="no Ray head at 127.0.0.1:1"):
        _check_reachable("127.0.0.1:1")
    with pytest.raises(BadQueryError, match="HOST:PORT"):
        _check_reachable("nohost")


def test_ray_actors_apply_the_index_retrieval_head(ray_cluster, products_224: Path, tmp_path: Path) -> None:
    """An index with a retrieval head: the actors ship it by value and store the same vectors a query makes."""
    from vsearch.index.search import Searcher
    from vsearch.models import create_embedder
    from vsearch.models.retrieval_head import RetrievalHead, head_path, save_head

    small = write_subset(products_224, tmp_path / "cat", 12).parent
    base = create_embedder(device="cpu")
    w = np.random.default_rng(0).standard_normal((base.dim, 16)).astype(np.float32)
    index = tmp_path / "index"
    save_head(head_path(index), RetrievalHead(w, 0.5, {"model": base.name, "weights_id": base.weights_id,
                                                       "dim": base.dim}))
    result = CliRunner().invoke(app, ["index", "build", str(small), "--index", str(index), "--no-titles",
                                      "--device", "cpu", "--engine", "ray", "--address", "auto", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["photos_embedded"] == 12
    stored = _vectors(index)
    with (small / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:3]
    with Searcher(index, device="cpu") as s:
        query = s.embed_photos([small / r["image"] for r in rows])
    assert query.shape[1] == base.dim + 16
    for row, vec in zip(rows, query):
        assert float(stored[row["id"]][0] @ vec) >= 0.999
