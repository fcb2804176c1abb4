"""The regression gate: a report's metrics against a committed baseline, each with its own tolerance.

Every number inside a `metrics` table of a report is a metric (higher is better); its dotted path
names it, e.g. `retrieval.multiview:grocery-phone-to-shop.exact.hit@1`. A metric fails when it drops
by more than its tolerance, or when the baseline has it and the report does not.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsearch.core.atomic import atomic_write_text
from vsearch.core.errors import VsearchError

DEFAULT_TOLERANCE = 0.02
GATED = re.compile(r"(hit@\d+|precision@1|map@10|ndcg@10|accuracy|f1_macro|f1_weighted|top5_accuracy|map|micro_ap"
                   r"|f1_micro)$")
"""Metrics a new baseline gates on (the rest of the report is for reading): Recall@K, P@1, mAP@10, nDCG@10, tags."""
COUNT_KEYS = frozenset({"queries", "queries_without_relevant", "samples"})


class BaselineError(VsearchError):
    """A missing or malformed report or baseline file."""


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise BaselineError(f"{what} not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read {what} {path}: {exc}") from None
    if not isinstance(data, dict):
        raise BaselineError(f"{what} {path} is not a JSON object")
    return data


def flatten_metrics(report: dict[str, Any]) -> dict[str, tuple[float, int | None]]:
    """Dotted name -> (value, number of queries or samples behind it) for every metric of a report."""
    out: dict[str, tuple[float, int | None]] = {}

    def walk(node: Any, path: list[str], in_metrics: bool, count: int | None) -> None:
        if not isinstance(node, dict):
            return
        if in_metrics:
            raw = node.get("queries", node.get("samples", count))
            count = int(raw) if isinstance(raw, (int, float)) else count
        for key, value in node.items():
            if in_metrics and isinstance(value, (int, float)) and not isinstance(value, bool):
                if key not in COUNT_KEYS and not math.isnan(float(value)):
                    out[".".join([*path, key])] = (float(value), count)
            elif isinstance(value, dict):
                if key == "metrics":
                    walk(value, path, True, count)
                else:
                    walk(value, [*path, key], in_metrics, count)

    for section in ("retrieval", "tags"):
        if isinstance(report.get(section), dict):
            walk(report[section], [section], False, None)
    return out


def tolerance_for(count: int | None, default: float = DEFAULT_TOLERANCE) -> float:
    """Absolute tolerance: `default`, widened so that two queries changing their answer never fail alone."""
    if not count:
        return default
    return round(max(default, 2.0 / count), 4)


def make_baseline(report: dict[str, Any], previous: dict[str, Any] | None = None,
                  default: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """A baseline from a report; tolerances already set in `previous` are kept."""
    old = (previous or {}).get("metrics", {})
    metrics = {}
    for name, (value, count) in sorted(flatten_metrics(report).items()):
        if not GATED.search(name.rsplit(".", 1)[-1]) and name not in old:
            continue
        tol = old.get(name, {}).get("tolerance", tolerance_for(count, default))
        metrics[name] = {"value": round(value, 6), "tolerance": tol}
    index = report.get("retrieval", report.get("tags", {})).get("index", {})
    return {"suite": report.get("suite"), "model": index.get("model"), "git_commit": report.get("git_commit"),
            "vsearch_version": report.get("vsearch_version"), "created": report.get("created"),
            "default_tolerance": default,
            "note": "values are higher-is-better; a metric fails when it drops by more than its tolerance",
            "metrics": metrics}


@dataclass
class Change:
    name: str
    baseline: float
    current: float | None
    tolerance: float

    @property
    def delta(self) -> float | None:
        return None if self.current is None else self.current - self.baseline


@dataclass
class Comparison:
    """Outcome of a comparison; `ok` is False when anything regressed or went missing."""

    checked: int = 0
    regressions: list[Change] = field(default_factory=list)
    missing: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.missing

    def to_dict(self) -> dict[str, Any]:
        def rows(changes: list[Change]) -> list[dict[str, Any]]:
            return [{"metric": c.name, "baseline": c.baseline, "current": c.current, "delta": c.delta,
                     "tolerance": c.tolerance} for c in changes]

        return {"ok": self.ok, "checked": self.checked, "regressions": rows(self.regressions),
                "missing": rows(self.missing), "improvements": rows(self.improvements), "new": self.new}


def compare(report: dict[str, Any], baseline: dict[str, Any]) -> Comparison:
    """Check every baseline metric against the report."""
    entries = baseline.get("metrics")
    if not isinstance(entries, dict) or not entries:
        raise BaselineError("baseline has no 'metrics' table (make one with --update-baseline)")
    current = flatten_metrics(report)
    result = Comparison()
    default = float(baseline.get("default_tolerance", DEFAULT_TOLERANCE))
    for name, entry in sorted(entries.items()):
        try:
            value, tol = float(entry["value"]), float(entry.get("tolerance", default))
        except (KeyError, TypeError, ValueError):
            raise BaselineError(f"baseline metric {name} needs a numeric 'value'") from None
        result.checked += 1
        if name not in current:
            result.missing.append(Change(name, value, None, tol))
            continue
        change = Change(name, value, current[name][0], tol)
        if change.delta is not None and change.delta < -tol - 1e-9:
            result.regressions.append(change)
        elif change.delta is not None and change.delta > tol:
            result.improvements.append(change)
    result.new = sorted(set(current) - set(entries))
    return result


def write_baseline(path: str | Path, baseline: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(baseline, indent=2, ensure_ascii=False) + "\n")
