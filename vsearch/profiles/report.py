"""Write the brand-recall report of `vsearch.profiles.evaluate`: JSON, a Markdown table and a bar chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vsearch.core.atomic import atomic_path, atomic_write_text

METHODS = ("random", "embedding", "tags", "both", "embedding_nearest", "tags_nearest", "both_nearest", "best")


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Group recall from profiles ({report['by']})", "",
             f"{report['groups']} groups with {report['min_size']}+ products; each profile from {report['k']} "
             f"representatives (k-means medoids of its non-test products). Chance R@1 {report['chance']['R@1']}, "
             f"R@10 {report['chance']['R@10']}. `tags`: cosine of standardised tag vectors; `embedding`: of image "
             "vectors; `both`: alpha x tags + (1 - alpha) x embedding; `_nearest`: the group's closest representative "
             "instead of its mean. Chosen on validation: "
             + ", ".join(f"{a} = {c['name']}" for a, c in report["chosen"].items()) + ".", "",
             "| method | val R@1 | val R@10 | test R@1 | test R@10 | test R@10, mean over groups |",
             "|---|---|---|---|---|---|"]
    for m in METHODS:
        v, t = report["val"][m], report["test"][m]
        macro = report["test"].get("per_group_mean", {}).get(m)
        lines.append(f"| {m} | {v['R@1']:.3f} | {v['R@10']:.3f} | {t['R@1']:.3f} | {t['R@10']:.3f} | "
                     + (f"{macro['R@10']:.3f} |" if macro else "- |"))
    lines += ["", f"Queries: val {report['val']['queries']}, test {report['test']['queries']}.", "",
              "Examples (test queries, top tag-profile match and the tags that explain it):", ""]
    for ex in report.get("examples", []):
        lines.append(f"- {ex['query']} ({ex['truth']}) -> {ex['top']} {ex['score']:.3f}: {', '.join(ex['tags'])}")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.38
    for j, k in enumerate(("R@1", "R@10")):
        vals = [report["test"][m][k] for m in METHODS]
        bars = ax.bar([i + (j - 0.5) * width for i in range(len(METHODS))], vals, width, label=f"test {k}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(METHODS)), METHODS, rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(f"{report['by']}: {report['groups']} groups, {report['test']['queries']} test queries")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """profiles.json, profiles.md and profiles.png in `out_dir`; returns their paths."""
    out = Path(out_dir)
    paths = [out / "profiles.json", out / "profiles.md", out / "profiles.png"]
    atomic_write_text(paths[0], json.dumps(report, indent=1, ensure_ascii=False))
    atomic_write_text(paths[1], markdown(report))
    plot(report, paths[2])
    return paths
