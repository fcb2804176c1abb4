"""Reports: `report.json` (every number and where it came from), `report.md` (tables), PNG plots.

`vsearch eval retrieval` and `vsearch eval tags` each fill their own section of one report, so
both can write to the same folder in either order.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

from vsearch import __version__
from vsearch.core.atomic import atomic_write_text
from vsearch.index.manifest import now_iso

SUMMARY_KS = (1, 5, 10)


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the checkout that holds vsearch (with `-dirty` when it has changes), or None."""
    cwd = where or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty else "")


def merge_section(out_dir: Path, suite_name: str, section: str, payload: dict[str, Any],
                  config: dict[str, Any]) -> dict[str, Any]:
    """The report in `out_dir` with `section` replaced (a report of another suite is replaced whole)."""
    path = out_dir / "report.json"
    report: dict[str, Any] = {}
    if path.is_file():
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            report = {}
        if report.get("suite") != suite_name:
            report = {}
    report.update({"suite": suite_name, "config": config, "vsearch_version": __version__,
                   "git_commit": git_commit(), "created": now_iso(), section: payload})
    return report


def write_report(out_dir: Path, report: dict[str, Any]) -> list[Path]:
    """Write report.json, report.md and the plots; returns the files written."""
    from vsearch.evaluate.plots import write_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(out_dir, report)
    atomic_write_text(out_dir / "report.json", json.dumps(_clean(report), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "report.md", render_markdown(report, [p.name for p in plots]))
    return [out_dir / "report.json", out_dir / "report.md", *plots]


def _clean(node: Any) -> Any:
    """NaN -> null, so report.json is strict JSON."""
    if isinstance(node, float) and math.isnan(node):
        return None
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def retrieval_rows(report: dict[str, Any]) -> list[list[str]]:
    """Summary rows: protocol, variant, queries, P@1, hit@K (= exact Recall@K), mAP@10, nDCG@10."""
    rows = []
    for key, proto in report.get("retrieval", {}).get("protocols", {}).items():
        for variant, m in proto.get("metrics", {}).items():
            if not isinstance(m, dict) or "queries" not in m:
                continue
            rows.append([key, variant, str(m["queries"]), _fmt(m.get("precision@1")),
                         *(_fmt(m.get(f"hit@{k}")) for k in SUMMARY_KS), _fmt(m.get("map@10")), _fmt(m.get("ndcg@10"))])
    return rows


RETRIEVAL_HEADER = ["protocol", "variant", "queries", "P@1", *(f"R@{k}" for k in SUMMARY_KS), "mAP@10", "nDCG@10"]
TAG_HEADER = ["attribute", "classes", "test", "accuracy", "macro F1", "weighted F1", "top-5 acc", "mAP"]


def tag_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    tags = report.get("tags", {})
    for attr, res in tags.get("attributes", {}).items():
        m = res["metrics"]
        rows.append([attr, str(res["classes"]), str(m["samples"]), _fmt(m["accuracy"]), _fmt(m["f1_macro"]),
                     _fmt(m["f1_weighted"]), _fmt(m.get("top5_accuracy")), _fmt(m.get("map"))])
    if "multilabel" in tags:
        m = tags["multilabel"]["metrics"]
        rows.append(["all (multi-label)", str(tags["multilabel"]["tags_with_positives"]),
                     str(tags["multilabel"]["samples"]), "–", _fmt(m["f1_macro"]), "–", "–", _fmt(m["map"])])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def render_markdown(report: dict[str, Any], plots: list[str]) -> str:
    lines = [f"# Evaluation report: {report['suite']}", "",
             f"vsearch {report['vsearch_version']}, commit `{report.get('git_commit')}`, {report['created']}", ""]
    for section in ("retrieval", "tags"):
        info = report.get(section, {}).get("index")
        if info:
            lines += [f"- {section}: index `{info['dir']}`, model `{info['model']}` ({info['weights_id']}), "
                      f"index type {info['index_type']} (evaluation searches exactly), "
                      f"{info['products']} products; took {report[section]['timings'].get('total', 0):.1f}s"]
    lines.append("")
    retrieval = report.get("retrieval")
    if retrieval:
        lines += ["## Retrieval", "", "R@K is exact-match Recall@K (a relevant product in the top K); "
                  "P@1 precision at 1; mAP@10 and nDCG@10 with binary relevance. Products are ranked by their "
                  "best-matching photo.", "", *_table(RETRIEVAL_HEADER, retrieval_rows(report)), ""]
        for key, proto in retrieval["protocols"].items():
            lines += _protocol_notes(key, proto)
    tags = report.get("tags")
    if tags:
        lines += ["## Tags", "", f"Source: {tags['source']}; trained on the {tags['train_split']} split, "
                  f"scored on {tags['test_products']} {tags['test_split']} products.", "",
                  *_table(TAG_HEADER, tag_rows(report)), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p}]({p})" for p in plots), ""]
    return "\n".join(lines)


def _protocol_notes(key: str, proto: dict[str, Any]) -> list[str]:
    lines = [f"### {key}: {proto.get('title', key)}", ""]
    for field in ("note", "gallery", "relevance", "path", "notes", "queries_with_shared_title", "skipped", "catalog"):
        if proto.get(field):
            lines.append(f"- {field}: {proto[field]}")
    vs = proto.get("vs_real")
    if vs:
        real = vs["metrics"].get("real", {})
        lines += ["", f"Synthetic views vs real phone photos ({vs['protocol']}; {vs['gallery']}):", "",
                  *_table(["query photos", "n", "R@1", "R@5"],
                          [["real phone photos", str(real.get("queries", "–")), _fmt(real.get("hit@1")),
                            _fmt(real.get("hit@5"))]]
                          + [[f"synthetic: {kind}", str(m["queries"]), _fmt(m.get("hit@1")), _fmt(m.get("hit@5"))]
                             for kind, m in vs["metrics"]["synthetic"].items()]), "",
                  f"- gap (synthetic overall − real) in R@1: {_fmt(vs.get('gap_hit@1'))}; closest kind: "
                  f"{vs.get('closest_kind_hit@1', '–')}; per-product Spearman of R@1: "
                  f"{_fmt(vs.get('per_product_spearman_hit@1'))} (p = {_fmt(vs.get('per_product_pvalue'))})"]
    lines.append("")
    return lines
