"""A linear projection of frozen image vectors learnt on product identity (camera photos vs catalogue images).

Why: frozen ImageNet features confuse look-alike packages (six milks of two brands); a projection trained with a
softmax over product prototypes (the catalogue vectors projected by the same matrix) pulls each real photo onto
its own product. It helps products seen in training and hurts unseen ones (eval/retrieval/README.md), so it is
meant for a closed catalogue that has real photos of its products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def train_projection(photos: np.ndarray, labels: np.ndarray, prototypes: np.ndarray, *, dim: int = 256,
                     epochs: int = 300, lr: float = 3e-3, temperature: float = 0.05, seed: int = 0) -> np.ndarray:
    """W `[in_dim, dim]` so that normalise(photo @ W) is nearest normalise(prototype[label] @ W).

    Args:
        photos: `[n, in_dim]` vectors of real (camera) photos.
        labels: `[n]` int row of each photo's product in `prototypes`.
        prototypes: `[p, in_dim]` catalogue vectors, one per product.
    """
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        x, y, protos = (torch.from_numpy(a) for a in (photos, labels.astype("int64"), prototypes))
        w = torch.nn.Parameter(torch.randn(photos.shape[1], dim) / photos.shape[1] ** 0.5)
        opt = torch.optim.AdamW([w], lr=lr, weight_decay=1e-3)
        for _ in range(epochs):
            a = torch.nn.functional.normalize(x @ w, dim=1)
            b = torch.nn.functional.normalize(protos @ w, dim=1)
            loss = torch.nn.functional.cross_entropy(a @ b.T / temperature, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach().numpy()


def project(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Unit-length rows of `vectors @ weights` (float32)."""
    import numpy as np

    out = (vectors @ weights).astype(np.float32)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
