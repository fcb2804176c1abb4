"""Search-time fusion of package text: re-rank an image search's candidates by OCR text of the query photo
against each product's catalogue text (OCR of its catalogue photos + its title).

Why: on grocery photos of products the head never saw, OCR fusion lifts R@1 0.42 -> 0.67 while the trained
head loses R@1 (eval/retrieval/README.md); the weight 0.3 was chosen on the grocery train split. The catalogue
text is written by `vsearch train retrieval --ocr` into `<index>/retrieval-cache/catalog-text.json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.core.atomic import atomic_write_text
from vsearch.core.errors import BadQueryError
from vsearch.retrieval.ocr import OcrCache, TrigramSpace, words_text

if TYPE_CHECKING:
    from vsearch.catalog.reader import Catalog
    from vsearch.index.search import Hit

OCR_WEIGHT = 0.3
CATALOG_TEXT = "retrieval-cache/catalog-text.json"
OCR_CACHE = "retrieval-cache/ocr.json"


def write_catalog_text(index_dir: str | Path, catalog: Catalog, progress: object = None) -> int:
    """OCR every catalogue photo (cached) and store each product's text (OCR words + title); returns products."""
    index_dir = Path(index_dir)
    cache = OcrCache(index_dir / OCR_CACHE)
    notify = (lambda d, n: progress("ocr catalogue", d, n)) if callable(progress) else None
    words = cache.texts([p.path for p in catalog.photos], progress=notify)
    texts: dict[str, list[str]] = {}
    for photo, w in zip(catalog.photos, words):
        texts.setdefault(photo.product_id, []).append(words_text(w))
    out = {pid: " ".join([*parts, catalog.title(pid)]).strip() for pid, parts in texts.items()}
    atomic_write_text(index_dir / CATALOG_TEXT, json.dumps(out, ensure_ascii=False))
    return len(out)


class OcrReranker:
    """Adds `weight` x trigram cosine(query OCR text, product text) to each candidate's image score."""

    def __init__(self, index_dir: str | Path, weight: float = OCR_WEIGHT) -> None:
        index_dir = Path(index_dir)
        path = index_dir / CATALOG_TEXT
        if not path.is_file():
            raise BadQueryError(f"index {index_dir} has no catalogue text: run `vsearch train retrieval --ocr`")
        self.texts: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        ids = sorted(self.texts)
        self.space = TrigramSpace([self.texts[i] for i in ids])
        self.cache = OcrCache(index_dir / OCR_CACHE)
        self.weight = weight

    def rerank(self, photos: Sequence[str | Path], hits: list[Hit], k: int) -> list[Hit]:
        """The `k` best of `hits` by fused score (the photos' OCR words taken together), ranks renumbered."""
        query = " ".join(words_text(w) for w in self.cache.texts(photos))
        if not hits:
            return hits
        q = self.space.vectors([query])
        g = self.space.vectors([self.texts.get(h.id, "") for h in hits])
        text = (g @ q[0]).tolist()
        fused = sorted(((h.score + self.weight * t, h) for h, t in zip(hits, text)), key=lambda x: -x[0])[:k]
        return [replace(h, rank=r, score=round(float(s), 4)) for r, (s, h) in enumerate(fused, 1)]
