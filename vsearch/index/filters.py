"""Metadata filters: `--where` expressions parsed into predicates over a product's metadata.

Grammar, one condition per expression (several expressions are ANDed):
  col = value          col != value
  col in (a, b, c)     col not in (a, b)
  col > 3   col >= 3   col < 3   col <= 3      (numeric)
  col = 2011..2014                              (numeric range, both ends included)
Values may be quoted ('a, b' or "a"); string comparison ignores case and surrounding spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vsearch.core.errors import BadQueryError

_EXPR = re.compile(r"^\s*(?P<col>[A-Za-z_][\w.\-]*)\s*(?P<op>!=|>=|<=|==|=|>|<|\s(?:not\s+)?in\b)\s*(?P<val>.*?)\s*$",
                   re.IGNORECASE | re.DOTALL)
_RANGE = re.compile(r"^(-?[0-9.]+)\s*\.\.\s*(-?[0-9.]+)$")


@dataclass(frozen=True)
class Condition:
    """One parsed condition; `values` are normalised strings, `low`/`high` numeric bounds (None: open)."""

    column: str
    op: str  # "in", "not in", "range"
    values: frozenset[str] = frozenset()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def matches(self, meta: Mapping[str, object]) -> bool:
        raw = meta.get(self.column)
        if self.op == "range":
            num = _number(raw)
            if num is None:
                return False
            if self.low is not None and (num < self.low or (self.low_open and num == self.low)):
                return False
            return not (self.high is not None and (num > self.high or (self.high_open and num == self.high)))
        value = _norm(raw)
        return (value in self.values) == (self.op == "in")


def _norm(value: object) -> str:
    return "" if value is None else str(value).strip().casefold()


def _number(value: object) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_list(text: str, expr: str) -> list[str]:
    if not (text.startswith("(") and text.endswith(")")):
        raise BadQueryError(f"bad filter '{expr}': a list needs parentheses, e.g. baseColour in (Blue,Navy Blue)")
    items = re.findall(r"""\s*('[^']*'|"[^"]*"|[^,]+)\s*(?:,|$)""", text[1:-1])
    values = [_unquote(item) for item in items if _unquote(item)]
    if not values:
        raise BadQueryError(f"bad filter '{expr}': empty list")
    return values


def _num_or_fail(text: str, expr: str) -> float:
    num = _number(_unquote(text))
    if num is None:
        raise BadQueryError(f"bad filter '{expr}': '{text}' is not a number")
    return num


def parse_condition(expr: str) -> Condition:
    """Parse one expression. Raises `BadQueryError` (one line) on bad syntax."""
    match = _EXPR.match(expr)
    if not match or not match.group("val"):
        raise BadQueryError(f"bad filter '{expr}': use col=value, col!=value, col in (a,b), col>=n or col=n..m")
    col, op, val = match.group("col"), " ".join(match.group("op").lower().split()), match.group("val")
    if op in ("in", "not in"):
        return Condition(col, op, frozenset(_norm(v) for v in _split_list(val, expr)))
    if op in (">", ">=", "<", "<="):
        num = _num_or_fail(val, expr)
        if op.startswith(">"):
            return Condition(col, "range", low=num, low_open=op == ">")
        return Condition(col, "range", high=num, high_open=op == "<")
    rng = _RANGE.match(val)
    if rng and op in ("=", "=="):
        low, high = float(rng.group(1)), float(rng.group(2))
        if low > high:
            raise BadQueryError(f"bad filter '{expr}': range {low}..{high} is empty")
        return Condition(col, "range", low=low, high=high)
    return Condition(col, "not in" if op == "!=" else "in", frozenset({_norm(_unquote(val))}))


@dataclass(frozen=True)
class Filter:
    """All conditions of a query; a product passes when every condition matches."""

    conditions: tuple[Condition, ...]

    def matches(self, meta: Mapping[str, object]) -> bool:
        return all(c.matches(meta) for c in self.conditions)

    def check_columns(self, columns: Iterable[str]) -> None:
        """Raise `BadQueryError` naming an unknown column and the known ones."""
        known = set(columns)
        for cond in self.conditions:
            if cond.column not in known:
                raise BadQueryError(f"unknown filter column '{cond.column}'; columns: {', '.join(sorted(known))}")


def parse_filter(expressions: Iterable[str] | None) -> Filter | None:
    """Parse `--where` expressions (ANDed); None when there are none."""
    conds = tuple(parse_condition(e) for e in (expressions or []) if e.strip())
    return Filter(conds) if conds else None
