"""The `vsearch eval group` report: metrics, threshold sweep, quality-score check, JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.atomic import atomic_write_text
from vsearch.group.evaluate import judged_ids, metrics, plot_sweep, sweep
from vsearch.group.offers import read_labels
from vsearch.group.store import load_grouping


def score_check(grouping: Any, truth: dict[str, str], ids: list[str]) -> dict[str, Any]:
    """How well each quality measure flags impure groups (2+ judged offers): ROC AUC of (1 - measure)."""
    from sklearn.metrics import roc_auc_score

    pos = {oid: k for k, oid in enumerate(grouping.offers.ids)}
    members: dict[int, list[str]] = {}
    for oid in ids:
        members.setdefault(int(grouping.labels[pos[oid]]), []).append(oid)
    rows = [(len({truth[o] for o in m}) > 1, grouping.quality[g]) for g, m in members.items() if len(m) > 1]
    impure = np.asarray([r[0] for r in rows])
    out: dict[str, Any] = {"groups": len(rows), "impure": int(impure.sum())}
    if 0 < impure.sum() < len(rows):
        for key in ("score", "edge_proportion", "weakest"):
            out[f"auc_{key}"] = float(roc_auc_score(impure, [-r[1][key] for r in rows]))
    return out


def evaluate_groups(groups: Path, truth_file: Path, id_column: str, truth_column: str, split: str,
                    out_dir: Path) -> dict[str, Any]:
    grouping = load_grouping(groups)
    truth = read_labels(truth_file, id_column, truth_column, "truth file")
    pred = dict(zip(grouping.offers.ids, grouping.group_names()))
    ids = judged_ids(pred, truth, split)
    report: dict[str, Any] = {"groups_file": str(groups), "truth": str(truth_file), "split": split,
                              **metrics(pred, truth, ids),
                              "threshold": grouping.config.merge_threshold(grouping.matcher),
                              "matcher": grouping.matcher.kind, "method": grouping.config.method}
    report["quality_measures"] = score_check(grouping, truth, ids)
    report["sweep"] = sweep(grouping, truth, ids)
    stem = f"group_eval_{split}"
    report["plot"] = str(plot_sweep(report["sweep"], report["threshold"], out_dir / f"{stem}_pr.png",
                                    f"{groups.name} vs {truth_file.name} ({split}: {len(ids)} offers)"))
    report["json"] = str(out_dir / f"{stem}.json")
    atomic_write_text(report["json"], json.dumps(report, indent=1) + "\n")
    return report
