"""Attributes a catalogue lacks, read from its titles by an explicit, versioned rule table.

Rules first, models second: a title that says "Striped" is the label; heads trained on these labels
then predict the attribute from the photo alone (for new photos and for titles that say nothing).
Change a rule -> bump `RULES_VERSION`; heads record the version they were trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULES_VERSION = "title-rules-v1"


@dataclass(frozen=True)
class Rule:
    """`label` when `pattern` (a case-insensitive regex on word boundaries) occurs in a title."""

    label: str
    pattern: str


# Order is priority: the first rule that matches wins ("Printed Striped" is striped).
PATTERN_RULES: tuple[Rule, ...] = (
    Rule("polka dot", r"polka\s*dots?"),
    Rule("floral", r"flor(al|als)|flowers?"),
    Rule("checked", r"checks?|checked|checkered|plaid|tartan|gingham"),
    Rule("striped", r"strip(e|es|ed)|pinstripes?"),
    Rule("colourblocked", r"colou?r[\s-]*block(ed|ing)?"),
    Rule("graphic", r"graphics?|typography|logo"),
    Rule("printed", r"printed|prints?"),
    Rule("solid", r"solid|plain"),
)

SLEEVE_RULES: tuple[Rule, ...] = (
    Rule("sleeveless", r"sleeveless|strapless|spaghetti|halter|tank|vests?"),
    Rule("long", r"(full|long|3/4|three[\s-]*quarter)[\s-]*sleeves?d?"),
    Rule("short", r"(half|short|cap)[\s-]*sleeves?d?"),
    # Polo shirts are short-sleeved in this catalogue; a heuristic rule, kept visible here.
    Rule("short", r"polo"),
)

RULE_TABLES: dict[str, tuple[Rule, ...]] = {"pattern": PATTERN_RULES, "sleeve": SLEEVE_RULES}


def _compiled(rules: tuple[Rule, ...]) -> list[tuple[str, re.Pattern[str]]]:
    return [(r.label, re.compile(rf"\b(?:{r.pattern})\b", re.IGNORECASE)) for r in rules]


_COMPILED = {name: _compiled(rules) for name, rules in RULE_TABLES.items()}


def apply_rules(title: str, attribute: str) -> str | None:
    """The label the rule table `attribute` ("pattern" or "sleeve") gives `title`; None when no rule matches.

    Raises:
        KeyError: an attribute without a rule table.
    """
    for label, regex in _COMPILED[attribute]:
        if regex.search(title or ""):
            return label
    return None


def derive_labels(titles: dict[str, str], attributes: tuple[str, ...] = ("pattern", "sleeve")
                  ) -> dict[str, dict[str, str]]:
    """product id -> {attribute: label} for every rule attribute; missing key when no rule matched."""
    out: dict[str, dict[str, str]] = {}
    for pid, title in titles.items():
        labels = {attr: label for attr in attributes if (label := apply_rules(title, attr)) is not None}
        out[pid] = labels
    return out
