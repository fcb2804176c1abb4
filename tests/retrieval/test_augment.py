"""Camera-like views of real catalogue photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vsearch.catalog.images import load_image
from vsearch.retrieval.augment import camera_view


def test_views_are_seeded_sized_and_differ_from_the_packshot(grocery: Path) -> None:
    shots = sorted((grocery / "shop").rglob("*.jpg"))[:4]
    image, others = load_image(shots[0]), [load_image(p) for p in shots[1:]]
    a = camera_view(image, np.random.default_rng(3), others)
    b = camera_view(image, np.random.default_rng(3), others)
    c = camera_view(image, np.random.default_rng(4), others)
    assert a.mode == "RGB" and a.size[0] > 0 and a.size[1] > 0
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    if a.size == image.size:
        assert np.abs(np.asarray(a, float) - np.asarray(image.convert("RGB"), float)).mean() > 5
