"""The photo part: image embeddings of an index's products, and a linear head per level on them.

Vectors come from the index's store (one mean unit vector per product), or are computed for new photo
files with the index's own model, so a head always reads the space it was trained in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vsearch.classify.calibrate import log_softmax
from vsearch.classify.errors import ClassifyError
from vsearch.classify.title import fit_linear


def product_vectors(index_dir: str | Path) -> dict[str, np.ndarray]:
    """Product id -> mean L2-normalised image vector, for every product with a photo in the index."""
    from vsearch.index.manifest import STORE, read_manifest
    from vsearch.index.store import Store

    read_manifest(index_dir)  # a clear error for a folder that is not an index
    with Store(Path(index_dir) / STORE, readonly=True) as store:
        entries = store.row_entries("image")
        if not entries:
            return {}
        vecs = store.get_vectors([row for row, _, _ in entries])
    sums: dict[str, np.ndarray] = {}
    for (_, pid, _), v in zip(entries, vecs):
        sums[pid] = sums[pid] + v if pid in sums else v.copy()
    return {pid: v / max(float(np.linalg.norm(v)), 1e-12) for pid, v in sums.items()}


def embed_files(index_dir: str | Path, paths: list[str], device: str | None = "cpu") -> np.ndarray:
    """Embed photo files with the model that built the index (raises on a bad photo)."""
    from vsearch.index.manifest import read_manifest
    from vsearch.models.embed import embed_query_photos
    from vsearch.models.retrieval_head import index_photo_embedder

    manifest = read_manifest(index_dir)
    emb = index_photo_embedder(index_dir, manifest.model, weights_id=manifest.weights_id, device=device,
                               resize=manifest.resize)
    manifest.check_model(emb.name, emb.weights_id, emb.dim)
    out = [embed_query_photos(emb, paths[i:i + 32]) for i in range(0, len(paths), 32)]
    return np.concatenate(out) if out else np.zeros((0, manifest.dim), np.float32)


class PhotoHead:
    """Standardised embeddings into one multinomial logistic regression per level."""

    def __init__(self, C: float = 1.0, dim: int = 0) -> None:
        self.C = C
        self.dim = dim
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.coef: dict[str, np.ndarray] = {}
        self.bias: dict[str, np.ndarray] = {}
        self.temperature: dict[str, float] = {}

    def fit(self, x: np.ndarray, targets: dict[str, np.ndarray], n_classes: dict[str, int]) -> PhotoHead:
        from sklearn.linear_model import LogisticRegression

        if len(x) < 2:
            raise ClassifyError("too few training products with photos for a photo head")
        self.dim = x.shape[1]
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - self.mean) / self.scale
        for level, y in targets.items():
            coef, bias = fit_linear(lambda: LogisticRegression(C=self.C, max_iter=300), z, y, n_classes[level])
            self.coef[level], self.bias[level] = coef, bias
            self.temperature[level] = 1.0
        return self

    def scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if x.shape[1] != self.dim:
            raise ClassifyError(f"photo vectors have {x.shape[1]} dimensions, the head expects {self.dim}")
        z = (x - self.mean) / self.scale
        return {lv: z @ self.coef[lv] + self.bias[lv] for lv in self.coef}

    def log_proba(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {lv: log_softmax(s, self.temperature[lv]) for lv, s in self.scores(x).items()}

