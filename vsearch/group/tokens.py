"""What a title says that tells products apart: model codes, quantities with units, bare numbers, variant words.

"apple mnqq2b/a iphone 7 plus 32gb" -> codes {mnqq2b, ...}, quantities {gb: {32}}, numbers {7}, variants {plus}.
Two offers with conflicting quantities (64gb vs 256gb) or variants ("8" vs "8 plus") are different products
however alike the rest of the title reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "gb": "gb", "tb": "tb", "mb": "mb", "l": "l", "ltr": "l", "litre": "l", "litres": "l", "liter": "l",
    "kg": "kg", "w": "w", "kw": "kw", "mp": "mp", "megapixel": "mp", "ghz": "ghz", "mhz": "mhz", "cm": "cm",
    "mm": "mm", "inch": "in", "in": "in", '"': "in", "hz": "hz", "rpm": "rpm", "x": "x", "core": "core",
    "cores": "core", "nm": "nm", "mah": "mah",
}
_QUANTITY = re.compile(r"(?<![a-z0-9.])(\d+(?:[.,]\d+)?)\s?(" + "|".join(
    sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) + r")(?![a-z0-9])")
VARIANTS = frozenset({"plus", "pro", "max", "mini", "lite", "ultra", "edge", "note", "neo", "prime", "xl", "se",
                      "compact", "premium", "dual", "go", "active", "play", "power", "slim", "classic", "duo",
                      "xs", "xr", "s", "c", "e", "g", "z", "a"})
_SPLIT = re.compile(r"[\s,;:()\[\]{}|*]+")
_PLUS = re.compile(r"\+")
_LANG_SUFFIX = re.compile(r"/[a-z]{1,2}$")
_NOT_CODE_CHAR = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True)
class TitleParts:
    """The discriminating parts of one title."""

    words: frozenset[str]
    codes: frozenset[str]
    quantities: dict[str, frozenset[str]]
    numbers: frozenset[str]
    variants: frozenset[str]
    digit_tokens: frozenset[str] = frozenset()


def normalise(title: str) -> str:
    """Lower case, `+` spelled as ` plus`, unicode quotes folded to `"`."""
    t = title.lower().replace("\u201d", '"').replace("\u2033", '"').replace("''", '"')
    return _PLUS.sub(" plus ", t)


def _code_form(token: str) -> str:
    """`mnqq2b/a` -> `mnqq2b`, `kdl-40we665` -> `kdl40we665`, `rza36g.1` -> `rza36g1`."""
    token = token.split("/")[0] if _LANG_SUFFIX.search(token) else token
    return _NOT_CODE_CHAR.sub("", token)


def _is_code(form: str) -> bool:
    """A code form (only `a-z0-9`) of 4+ characters with both letters and digits."""
    return len(form) >= 4 and not form.isdigit() and not form.isalpha()


def parse_title(title: str) -> TitleParts:
    """Split one title into its discriminating parts (see the module docstring)."""
    text = normalise(title)
    quantities: dict[str, set[str]] = {}
    for value, unit in _QUANTITY.findall(text):
        v = value.replace(",", ".")
        v = v.rstrip("0").rstrip(".") if "." in v else v
        quantities.setdefault(_UNITS[unit], set()).add(v)
    raw = [t.strip('".\'-/') for t in _SPLIT.split(text)]
    raw = [t for t in raw if t]
    words = frozenset(raw)
    form = {t: _code_form(t) for t in words}  # parse_title runs once per offer: a million at scale
    with_digit = {t for t in words if any(c.isdigit() for c in t)}
    codes = {form[t] for t in with_digit if _is_code(form[t])}
    for a, b in zip(raw, raw[1:]):  # "kdl 40we665" and "kdl-40we665" are one code
        if not (b[:1].isdigit() and 2 <= len(a) <= 4 and a.isalpha()):
            continue
        joined = _code_form(a + b)
        mixed = any(c.isalpha() for c in b) or (a not in VARIANTS and len(b) >= 3)
        if mixed and _is_code(joined) and not _QUANTITY.fullmatch(b):
            codes.add(joined)
    quantity_tokens = {f"{v}{u}" for u, vs in quantities.items() for v in vs}
    codes = {c for c in codes if c not in quantity_tokens and not _QUANTITY.fullmatch(c)}
    numbers = frozenset(t for t in words if t.isdigit())
    variants = words & VARIANTS
    digit_tokens = frozenset(form[t] for t in with_digit)
    return TitleParts(words, frozenset(codes), {u: frozenset(v) for u, v in quantities.items()}, numbers, variants,
                      digit_tokens)


def codes_match(a: frozenset[str], b: frozenset[str]) -> tuple[int, int]:
    """(exact shared codes, codes of one that extend a code of the other: `ue40j6300` / `ue40j6300ak`)."""
    exact = len(a & b)
    prefix = 0
    for x in a - b:
        for y in b - a:
            short, long_ = (x, y) if len(x) <= len(y) else (y, x)
            if len(short) >= 5 and long_.startswith(short):
                prefix += 1
                break
    return exact, prefix


def quantity_conflicts(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> tuple[int, int]:
    """(units both give with disjoint values: 64gb vs 256gb, units both give with a shared value)."""
    conflict = agree = 0
    for unit in a.keys() & b.keys():
        if a[unit] & b[unit]:
            agree += 1
        else:
            conflict += 1
    return conflict, agree
