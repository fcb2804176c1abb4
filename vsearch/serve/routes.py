"""Query handling shared by the search route's photo and JSON forms (plain functions, no HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.serve.limits import UploadError

if TYPE_CHECKING:
    from vsearch.index.search import Searcher

MAX_K = 1000


def parse_k(value: Any) -> int:
    """`k` in 1..1000, else a 422."""
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise UploadError(422, f"k: must be an integer, got {value!r}") from None
    if not 1 <= k <= MAX_K:
        raise UploadError(422, f"k: must be between 1 and {MAX_K}, got {k}")
    return k


def search_request(searcher: Searcher, body: Any, photos: list[Path] | None) -> dict[str, Any]:
    """One query -> `{"query", "results"}` exactly as `vsearch query --json` prints it."""
    from vsearch.index.filters import parse_filter

    if not isinstance(body, dict):
        raise UploadError(422, "body: must be a JSON object")
    k = parse_k(body.get("k", 10))
    where = body.get("where") or []
    if isinstance(where, str):
        where = [where]
    if not isinstance(where, list) or not all(isinstance(w, str) for w in where):
        raise UploadError(422, "where: must be a list of strings like \"articleType=Shirts\"")
    flt = parse_filter(where)
    if flt is not None:
        flt.check_columns(searcher.columns())
    if photos is not None:
        query, hits = "photo", searcher.search_photos(photos, k, where=flt)
    elif isinstance(body.get("text"), str) and body.get("like") is None:
        if not body["text"].strip():
            raise UploadError(422, "text: empty text query")
        query, hits = body["text"], searcher.search_text(body["text"], k, where=flt)
    elif isinstance(body.get("like"), str) and body.get("text") is None:
        query, hits = body["like"], searcher.search_like(body["like"], k, where=flt)
    else:
        raise UploadError(422, "body: give exactly one of \"text\" or \"like\" (or upload a photo)")
    return {"query": query, "results": [h.to_dict() for h in hits]}


def filter_values(searcher: Searcher, max_distinct: int = 60) -> dict[str, list[str]]:
    """Categorical metadata columns (at most `max_distinct` values) -> values by frequency, for the page's filters."""
    from collections import Counter

    counts: dict[str, Counter[str]] = {}
    for _, meta in searcher.store.iter_products():
        for col, value in meta.items():
            if value:
                counts.setdefault(col, Counter())[value] += 1
    return {col: [v for v, _ in c.most_common()] for col, c in sorted(counts.items()) if len(c) <= max_distinct}
