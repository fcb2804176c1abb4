"""PNG plots of a report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

MAX_CLASSES = 25
"""Confusion matrices and F1 bars show the most frequent classes; the rest stay in report.json."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ks(metrics: dict[str, Any]) -> list[int]:
    return sorted(int(m.group(1)) for key in metrics if (m := re.fullmatch(r"hit@(\d+)", key)))


def recall_curves(out: Path, protocols: dict[str, Any]) -> Path | None:
    """One panel per protocol: Recall@K (hit) against K, one line per variant."""
    panels = {k: p for k, p in protocols.items() if any(isinstance(m, dict) and _ks(m)
                                                          for m in p.get("metrics", {}).values())}
    if not panels:
        return None
    plt = _pyplot()
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax, (key, proto) in zip(axes.ravel(), panels.items()):
        for variant, m in proto["metrics"].items():
            ks = _ks(m) if isinstance(m, dict) else []
            if ks:
                ax.plot(ks, [m[f"hit@{k}"] for k in ks], marker="o", label=variant)
        ax.set_xscale("log")
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("K")
        ax.set_ylabel("Recall@K")
        ax.set_title(key, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    path = out / "recall_at_k.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _top_classes(result: dict[str, Any]) -> list[str]:
    per = result["per_class"]
    return sorted(per, key=lambda c: (-per[c]["support"], c))[:MAX_CLASSES]


def confusion_plot(out: Path, attr: str, result: dict[str, Any]) -> Path:
    """Row-normalised confusion matrix over the most frequent true classes."""
    plt = _pyplot()
    labels = result["confusion"]["labels"]
    matrix = np.asarray(result["confusion"]["matrix"], dtype=np.float64)
    keep = [labels.index(c) for c in _top_classes(result)]
    sub = matrix[np.ix_(keep, keep)]
    sub = sub / np.maximum(matrix[keep].sum(axis=1, keepdims=True), 1)
    names = [labels[i] for i in keep]
    size = 3 + 0.32 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(sub, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{attr}: confusion (row share; {len(names)} most frequent of {len(labels)} classes)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = out / f"confusion_{attr}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def f1_plot(out: Path, attr: str, result: dict[str, Any]) -> Path:
    """Per-class F1 bars (most frequent classes first), support in the labels."""
    plt = _pyplot()
    names = _top_classes(result)
    per = result["per_class"]
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(names) + 2), 4))
    ax.bar(range(len(names)), [per[c]["f1"] for c in names], color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{c} ({per[c]['support']})" for c in names], rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title(f"{attr}: per-class F1 (test support in brackets)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = out / f"f1_{attr}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(out: Path, report: dict[str, Any]) -> list[Path]:
    paths: list[Path] = []
    curves = recall_curves(out, report.get("retrieval", {}).get("protocols", {}))
    if curves is not None:
        paths.append(curves)
    for attr, result in report.get("tags", {}).get("attributes", {}).items():
        paths += [confusion_plot(out, attr, result), f1_plot(out, attr, result)]
    return paths
