"""PNG of the calibration evidence: real vs synthetic recall curves (IVF vs nprobe, HNSW vs efSearch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_calibration(vectors: dict[str, Any], path: Path) -> Path:
    """Two panels, real and synthetic curve on each; `vectors` is the bench document's "vectors" entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in zip(axes, ("ivf_nprobe", "hnsw_efSearch"), ("IVF nprobe", "HNSW efSearch")):
        for which, style in (("curves_real", "o-"), ("curves_synthetic", "s--")):
            curve = vectors[which][key]
            ax.plot([int(v) for v in curve], list(curve.values()), style, label=which.split("_")[1])
        ax.set_xscale("log", base=2)
        ax.set_xlabel(label)
        ax.set_ylabel("recall@10")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{vectors['calibrated_at_n']} vectors, dim {vectors['dim']}: largest gap "
                 f"{vectors['largest_gap']} (tolerance {vectors['tolerance']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
