"""Synthetic embedding-like vectors whose search difficulty is calibrated on real ones, not copied from them.

A generative model is fitted to the real embeddings: the mean, the top principal directions (PCA),
a mixture of diagonal Gaussians over the PCA scores (k-means components, each the average of many
real vectors; tiny components are dropped) and the per-dimension variance left outside the PCA
space. Every synthetic vector is drawn from that model:

    family centre  f  ~  component c:  mu_c + within * sd_c * N(0, I)          (PCA space)
    vector         z  =  f + family * sd_c * N(0, I)
    x = normalise(mean + z @ V + residual * sd_res * N(0, I))

Families are groups of near-variants (a shirt in four colours), sized ~ 1 + Poisson(family_size - 1),
so a bigger catalogue has more families, not more copies. The spread knobs (`within`, `family`,
`residual`) are tuned by `vsearch.bench.calibrate` so that, at the real set's size, IVF and HNSW
recall curves on synthetic vectors match those on the real ones. No synthetic vector is a real vector
plus noise: each depends on the real set only through the fitted averages and variances.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

CHUNK = 100_000
MIN_COMPONENT = 20
"""A mixture component must average at least this many real vectors (else it is dropped)."""


@dataclass
class Knobs:
    """Spread parameters of the generator (what calibration tunes); defaults: eval/bench/calibration.json's."""

    within: float = 1.6
    family: float = 0.5
    residual: float = 1.0
    family_size: float = 5.0

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


@dataclass
class Generator:
    """A fitted PCA-space Gaussian mixture; `knobs` set the spreads."""

    mean: np.ndarray  # [dim]
    basis: np.ndarray  # [d, dim] orthonormal rows
    weights: np.ndarray  # [K]
    centres: np.ndarray  # [K, d]
    spreads: np.ndarray  # [K, d] per-component std in PCA space
    residual_sd: np.ndarray  # [dim] std of what the PCA space leaves out
    knobs: Knobs
    fitted_on: int = 0

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, real: np.ndarray, *, components: int = 64, pca_dims: int = 256, seed: int = 0,
            knobs: Knobs | None = None) -> Generator:
        """Fit mean, PCA basis and mixture to `real` `[n, dim]` unit vectors."""
        import faiss

        real = np.ascontiguousarray(real, np.float32)
        n, dim = real.shape
        mean = real.mean(axis=0)
        centred = real - mean
        d = min(pca_dims, dim, n - 1)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        basis = np.ascontiguousarray(vt[:d], np.float32)
        scores = centred @ basis.T
        residual_sd = (centred - scores @ basis).std(axis=0).astype(np.float32)
        k = max(1, min(components, n // (2 * MIN_COMPONENT)))
        km = faiss.Kmeans(d, k, niter=25, seed=seed, verbose=False)
        km.train(np.ascontiguousarray(scores))
        _, assign = km.index.search(np.ascontiguousarray(scores), 1)
        assign = assign[:, 0]
        keep = [c for c in range(k) if (assign == c).sum() >= MIN_COMPONENT]
        centres = np.stack([scores[assign == c].mean(axis=0) for c in keep]).astype(np.float32)
        spreads = np.stack([scores[assign == c].std(axis=0) for c in keep]).astype(np.float32)
        counts = np.array([(assign == c).sum() for c in keep], np.float64)
        return cls(mean, basis, counts / counts.sum(), centres, spreads, residual_sd, knobs or Knobs(), n)

    def with_knobs(self, knobs: Knobs) -> Generator:
        return replace(self, knobs=knobs)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """`n` unit vectors `[n, dim]` float32, the same for the same seed."""
        rng = np.random.default_rng(seed)
        kn = self.knobs
        sizes = 1 + rng.poisson(max(kn.family_size - 1.0, 0.0), size=n)  # more than enough families
        fam_of_row = np.repeat(np.arange(n), sizes)[:n]
        n_fam = int(fam_of_row[-1]) + 1 if n else 0
        comp = rng.choice(len(self.weights), size=n_fam, p=self.weights)
        d = self.basis.shape[0]
        centre = self.centres[comp] + kn.within * self.spreads[comp] * rng.standard_normal((n_fam, d), np.float32)
        z = centre[fam_of_row] + kn.family * self.spreads[comp[fam_of_row]] * rng.standard_normal((n, d), np.float32)
        out = self.mean + z @ self.basis
        out += kn.residual * self.residual_sd * rng.standard_normal((n, self.dim), np.float32)
        out = out[rng.permutation(n)]  # families are not runs of consecutive rows
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out, np.float32)

    def chunks(self, n: int, seed: int, chunk: int = CHUNK) -> Iterator[np.ndarray]:
        """`n` vectors in seeded chunks, so a 10M x 1280 set never sits in memory at once."""
        for i, start in enumerate(range(0, n, chunk)):
            yield self.sample(min(chunk, n - start), seed * 100_003 + i)

    def describe(self) -> dict[str, Any]:
        return {"model": "PCA-space Gaussian mixture with families of variants (vsearch.bench.synthetic)",
                "fitted_on_real_vectors": self.fitted_on, "dim": self.dim, "pca_dims": int(self.basis.shape[0]),
                "components": int(len(self.weights)), "min_component_size": MIN_COMPONENT,
                "knobs": self.knobs.to_dict()}


def max_cosine_to(reference: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per row of `vectors`, the largest cosine to any row of `reference` (both unit vectors)."""
    import faiss

    scores, _ = faiss.knn(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(reference, np.float32), 1,
                          metric=faiss.METRIC_INNER_PRODUCT)
    return scores[:, 0]
