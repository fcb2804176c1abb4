"""The calibrated generator: curves like the real ones, nothing copied from a real vector, chunked exact search."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from vsearch.bench.ann import ExactTopK, dataset
from vsearch.bench.calibrate import TOLERANCE, recall_curves
from vsearch.bench.synthetic import Generator, Knobs, max_cosine_to
from vsearch.index.store import Store


@pytest.fixture(scope="module")
def real(full_index: Path) -> np.ndarray:
    with Store(full_index / "store.lmdb", readonly=True) as store:
        return store.load_vectors("image")[1]


@pytest.fixture(scope="module")
def small_real(real: np.ndarray) -> np.ndarray:
    """3,000 real photo vectors: a small set whose curves are cheap to measure."""
    return real[np.random.default_rng(3).choice(len(real), 3000, replace=False)]


def test_calibrated_curves_match_real_at_small_size(small_real: np.ndarray) -> None:
    real_curves = recall_curves(small_real, 300)
    fake = Generator.fit(small_real).sample(len(small_real), seed=2)  # default knobs = the calibrated ones
    fake_curves = recall_curves(fake, 300)
    assert real_curves.ivf[1] < 0.9  # the real curve is not trivially flat at 1.0
    assert real_curves.gap(fake_curves) <= TOLERANCE, (real_curves, fake_curves)
    # the spreads matter: a generator twice as tight is measurably easier than the real set
    tight = Generator.fit(small_real, knobs=Knobs(within=0.5, family=0.2)).sample(len(small_real), seed=2)
    assert recall_curves(tight, 300, hnsw=False).ivf[1] > real_curves.ivf[1] + TOLERANCE


def test_no_synthetic_vector_is_a_copy_of_a_real_one(real: np.ndarray) -> None:
    fake = Generator.fit(real).sample(5000, seed=9)
    assert np.allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    assert max_cosine_to(real, fake).max() < 0.99
    # the check can fail: a real vector plus small noise (the old generator) is within 0.99 of its source
    noisy = real[:100] + 0.002 * np.random.default_rng(0).standard_normal(real[:100].shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    assert max_cosine_to(real, noisy).min() > 0.99


def test_chunks_are_seeded_and_exact_top_k_merges_like_one_search(small_real: np.ndarray) -> None:
    gen = Generator.fit(small_real)
    assert np.array_equal(gen.sample(20, 1), gen.sample(20, 1)) and not np.array_equal(gen.sample(20, 1),
                                                                                        gen.sample(20, 2))
    xq, chunks = dataset(gen, 2500, holdout=30, seed=4)
    parts = list(chunks())
    assert [len(p) for p in parts] == [2500] and len(xq) == 30
    whole = parts[0]
    exact = ExactTopK(xq, 10)
    for start in range(0, len(whole), 700):  # uneven chunks, as at 10M
        exact.add(whole[start:start + 700])
    _, want = faiss.knn(xq, whole, 10, metric=faiss.METRIC_INNER_PRODUCT)
    assert exact.seen == 2500 and (exact.ids == want).mean() > 0.99  # ties may swap order
    assert all(q > 0 for q in exact.qps())
