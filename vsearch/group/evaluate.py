"""`vsearch eval group`: a grouping against known clusters (pairwise, B-cubed, ARI) and precision–recall over
the merge threshold, on all offers or on one split of the truth clusters (by a hash of the cluster id)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.split import split_of
from vsearch.group.build import Grouping, regroup
from vsearch.group.errors import GroupError
from vsearch.group.metrics import adjusted_rand, bcubed, pairwise

SPLITS = ("all", "train", "val", "test")
SWEEP = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def judged_ids(pred: dict[str, str], truth: dict[str, str], split: str) -> list[str]:
    """Ids in both labellings whose truth cluster falls in `split` ("all": every shared id)."""
    if split not in SPLITS:
        raise GroupError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    ids = [oid for oid in pred if oid in truth and (split == "all" or split_of(truth[oid]) == split)]
    if len(ids) < 2:
        raise GroupError(f"only {len(ids)} grouped offer(s) have a truth label in split {split}; check --id-column "
                         "and --truth-column")
    return ids


def metrics(pred: dict[str, str], truth: dict[str, str], ids: list[str]) -> dict[str, Any]:
    p, t = [pred[k] for k in ids], [truth[k] for k in ids]
    sizes = Counter(t)
    return {"offers": len(ids), "truth_clusters": len(sizes), "truth_singletons": sum(v == 1 for v in sizes.values()),
            "groups": len(set(p)), "pairwise": pairwise(p, t), "bcubed": bcubed(p, t), "ari": adjusted_rand(p, t),
            "chance_pair_precision": pairwise(["all"] * len(t), t)["precision"]}


def sweep(grouping: Grouping, truth: dict[str, str], ids: list[str],
          thresholds: tuple[float, ...] = SWEEP) -> list[dict[str, float]]:
    """Pairwise precision/recall of the same scored pairs merged at each threshold."""
    pos = {oid: k for k, oid in enumerate(grouping.offers.ids)}
    idx = np.asarray([pos[k] for k in ids])
    t = [truth[k] for k in ids]
    enc = grouping.encoded()
    out = []
    for th in thresholds:
        labels = regroup(grouping, th, enc=enc).labels[idx]
        r = pairwise([str(v) for v in labels.tolist()], t)
        out.append({"threshold": th, "precision": r["precision"], "recall": r["recall"], "f1": r["f1"]})
    return out


def plot_sweep(points: list[dict[str, float]], chosen: float, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vsearch.core.atomic import atomic_path

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    th = [p["threshold"] for p in points]
    for key in ("precision", "recall", "f1"):
        ax1.plot(th, [p[key] for p in points], marker="o", label=key)
    ax1.axvline(chosen, color="grey", ls="--", label=f"chosen {chosen:g}")
    ax1.set_xlabel("merge threshold (match score)")
    ax1.set_ylim(0, 1.02)
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot([p["recall"] for p in points], [p["precision"] for p in points], marker="o")
    for p in points:
        ax2.annotate(f"{p['threshold']:g}", (p["recall"], p["precision"]), fontsize=7)
    ax2.axhline(0.95, color="green", ls=":", lw=1)
    ax2.axvline(0.80, color="green", ls=":", lw=1, label="goal P≥0.95, R≥0.80")
    ax2.set_xlabel("pairwise recall")
    ax2.set_ylabel("pairwise precision")
    ax2.legend(loc="lower left")
    ax2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
