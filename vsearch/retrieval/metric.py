"""Metric learning of the retrieval head on product identity, over cached frozen vectors.

The loss is a normalised softmax over product proxies with an additive cosine margin (CosFace, of the ArcFace
family): each view (a real photo or a synthetic camera view) must be nearer its own product's catalogue vector
than every other product's, by `margin`. The proxies are the catalogue vectors projected by the same W, so the
index's gallery vectors are exactly what training pulled photos onto. Batches are balanced: `products` products
drawn uniformly, `per_product` views each, so products with many real photos do not dominate; the softmax runs
over all proxies, which puts the weight on the hardest negatives (look-alike packages).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class MetricConfig:
    """Training settings. Margin 0.1 was chosen on products-224 views, 0.2 on grocery train folds
    (eval/retrieval/README.md)."""

    dim: int = 256
    steps: int = 400
    lr: float = 3e-3
    weight_decay: float = 1e-3
    temperature: float = 0.05
    margin: float = 0.1
    products: int = 64
    per_product: int = 4
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_metric_head(anchors: np.ndarray, views: np.ndarray, labels: np.ndarray, cfg: MetricConfig,
                      progress: Any = None) -> np.ndarray:
    """W `[in_dim, cfg.dim]` from catalogue `anchors` `[p, in_dim]` and `views` `[n, in_dim]` of product `labels`.

    Products without views still act as proxies (negatives for the others).
    """
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        pools = {int(p): np.flatnonzero(labels == p) for p in np.unique(labels)}
        owners = np.array(sorted(pools))
        x, protos = torch.from_numpy(np.ascontiguousarray(views, np.float32)), torch.from_numpy(
            np.ascontiguousarray(anchors, np.float32))
        w = torch.nn.Parameter(torch.randn(views.shape[1], cfg.dim) / views.shape[1] ** 0.5)
        opt = torch.optim.AdamW([w], lr=cfg.lr, weight_decay=cfg.weight_decay)
        for step in range(cfg.steps):
            chosen = rng.choice(owners, size=min(cfg.products, len(owners)), replace=False)
            rows = np.concatenate([rng.choice(pools[int(p)], size=cfg.per_product) for p in chosen])
            y = torch.from_numpy(labels[rows].astype(np.int64))
            a = torch.nn.functional.normalize(x[rows] @ w, dim=1)
            b = torch.nn.functional.normalize(protos @ w, dim=1)
            cos = a @ b.T
            cos = cos - cfg.margin * torch.nn.functional.one_hot(y, len(anchors))
            loss = torch.nn.functional.cross_entropy(cos / cfg.temperature, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if progress is not None and step % 20 == 0:
                progress("train head", step + 1, cfg.steps)
    return w.detach().numpy()
