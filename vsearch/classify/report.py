"""`classify report`: confusion matrix and per-class precision/recall of a model, as JSON, Markdown, PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.classify.calibrate import review_figures
from vsearch.classify.data import LabelSet
from vsearch.classify.model import CategoryModel, photo_inputs
from vsearch.core.atomic import atomic_path, atomic_write_text
from vsearch.core.metrics import classification_metrics


def evaluate(model: CategoryModel, data: LabelSet, vectors: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per level: accuracy, F1, per-class P/R/F1/support and the confusion matrix; plus review figures."""
    pred = model.predict(data.titles, *photo_inputs(model, data.ids, vectors))
    out: dict[str, Any] = {"samples": len(data), "model": model.meta.get("model_id"), "levels": {}}
    for lv in model.levels:
        labels = sorted(set(model.tree.classes[lv]) | set(data.labels[lv]))
        out["levels"][lv] = classification_metrics(data.labels[lv], pred.labels[lv], labels)
    leaf = model.levels[-1]
    correct = np.array([a == b for a, b in zip(pred.labels[leaf], data.labels[leaf])])
    out["review"] = review_figures(pred.review, correct)
    out["modes"] = {m: pred.modes.count(m) for m in set(pred.modes)}
    return out


def top_confusions(level: dict[str, Any], n: int = 15) -> list[tuple[str, str, int]]:
    labels, m = level["confusion"]["labels"], np.asarray(level["confusion"]["matrix"])
    off = [(labels[i], labels[j], int(m[i, j])) for i, j in zip(*np.nonzero(m)) if i != j]
    return sorted(off, key=lambda t: -t[2])[:n]


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Classification report (model {report.get('model')}, {report['samples']} products)", ""]
    rv = report["review"]
    lines += [f"Review: {rv['flagged']:.1%} flagged, catching {rv['errors_caught']:.1%} of the "
              f"{rv['errors']} leaf errors.", ""]
    for lv, m in report["levels"].items():
        lines += [f"## {lv}: accuracy {m['accuracy']:.4f}, macro F1 {m['f1_macro']:.4f}", "",
                  "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for lab, pc in sorted(m["per_class"].items(), key=lambda kv: -kv[1]["support"]):
            if pc["support"] or pc["precision"]:
                lines.append(f"| {lab} | {pc['precision']:.3f} | {pc['recall']:.3f} | {pc['f1']:.3f} | "
                             f"{pc['support']} |")
        conf = top_confusions(m)
        if conf:
            lines += ["", "Most frequent confusions (truth -> predicted, count):", ""]
            lines += [f"- {a} -> {b}: {c}" for a, b, c in conf]
        lines.append("")
    return "\n".join(lines)


def confusion_png(level_name: str, level: dict[str, Any], path: Path) -> None:
    """Row-normalised confusion matrix of the classes that occur in the truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, m = level["confusion"]["labels"], np.asarray(level["confusion"]["matrix"], np.float64)
    keep = np.flatnonzero(m.sum(axis=1) > 0)
    m = m[np.ix_(keep, keep)]
    m = m / m.sum(axis=1, keepdims=True)
    names = [labels[i] for i in keep]
    side = max(4.0, 0.16 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    ax.set_title(f"{level_name}: accuracy {level['accuracy']:.4f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, str]:
    """report.json, report.md and one confusion_<level>.png per level; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    atomic_write_text(out / "report.md", markdown(report))
    paths = {"json": str(out / "report.json"), "markdown": str(out / "report.md")}
    for lv, m in report["levels"].items():
        confusion_png(lv, m, out / f"confusion_{lv}.png")
        paths[f"png_{lv}"] = str(out / f"confusion_{lv}.png")
    return paths
