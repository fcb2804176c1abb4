"""Style tags mined from seller descriptions by an explicit, versioned vocabulary: weak multi-label targets.

A description that says "boho" is a bohemian product as far as its seller is concerned; heads trained on
these words then predict the style from the photo alone. Change the table -> bump `STYLE_VOCAB_VERSION`;
heads and profiles record the version they were made with.
"""

from __future__ import annotations

import re

STYLE_VOCAB_VERSION = "style-vocab-v1"

# tag -> word variants (regex alternatives, matched case-insensitively on word boundaries). Generic praise that
# sellers put on everything ("cool", "comfortable", "fresh") is left out: it names no style.
STYLE_VOCAB: dict[str, str] = {
    "casual": r"casual|casually|casuals",
    "classic": r"classic|classics|classically|timeless",
    "sporty": r"sporty|sportive|athletic|athleisure",
    "chic": r"chic",
    "trendy": r"trendy|trendier|on[\s-]trend",
    "vintage": r"vintage",
    "feminine": r"feminine|femininity|girly|ladylike",
    "cute": r"cute",
    "edgy": r"edgy|grunge|punk|rock\s*(?:chic|star|and\s*roll)",
    "retro": r"retro",
    "glamorous": r"glamorous|glamour|glam|glitzy",
    "lovely": r"lovely|pretty",
    "bohemian": r"boho|bohemian",
    "romantic": r"romantic",
    "elegant": r"elegant|elegance|elegantly",
    "sexy": r"sexy|sultry",
    "preppy": r"preppy",
    "formal": r"formal|formals",
    "sophisticated": r"sophisticated|sophistication",
    "funky": r"funky|quirky",
    "ethnic": r"ethnic|traditional",
    "rugged": r"rugged",
    "urban": r"urban|street|streetwear",
    "sleek": r"sleek|minimal|minimalist|minimalistic",
    "bold": r"bold|vibrant",
    "party": r"party|festive",
    "contemporary": r"modern|contemporary",
    "luxurious": r"luxurious|luxury",
    "stylish": r"stylish",
}

_COMPILED = {tag: re.compile(rf"\b(?:{words})\b", re.IGNORECASE) for tag, words in STYLE_VOCAB.items()}


def mine_styles(text: str) -> set[str]:
    """The style tags whose words occur in `text` (a seller description)."""
    return {tag for tag, regex in _COMPILED.items() if regex.search(text or "")}
