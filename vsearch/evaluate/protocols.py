"""The retrieval protocols. Each takes the eval context and its config and returns a JSON-ready dict
with a `metrics` table (what the regression gate compares) and the facts a reader needs to trust it.

Every protocol ranks products, each scored by its best-matching photo (as `Searcher` does), with
exact numpy search over the stored vectors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.catalog.reader import IMAGE_SUFFIXES, LABEL_FILES, TITLE_COLUMNS, load_catalog, read_label_rows
from vsearch.core.errors import CatalogError
from vsearch.core.metrics import group_max, per_query_metrics, rank_hits, summarize
from vsearch.core.split import split_of
from vsearch.evaluate.context import EvalContext
from vsearch.evaluate.suite import Filter, MultiviewCfg, RenditionCfg, SimilarCfg, TextCfg


def score(ctx: EvalContext, queries: np.ndarray, kind: str = "image") -> tuple[np.ndarray, list[str]]:
    """`[q, products]` best-photo cosine scores of query vectors against the stored catalogue."""
    ids, vecs = ctx.vectors(kind)
    return group_max(queries @ vecs.T, ids)


def evaluate(scores: np.ndarray, relevant: np.ndarray, ks: Sequence[int],
             valid: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Mean metrics and the per-query arrays behind them."""
    hits, n_rel = rank_hits(scores, relevant, max(ks), valid)
    per_query = per_query_metrics(hits, n_rel, ks)
    return summarize(per_query), per_query


def sample(items: list[str], n: int, seed: int) -> list[str]:
    """A seeded subset of `n` items in their original order (all when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(items):
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), n, replace=False))
    return [items[i] for i in keep]


def same_label(products: dict[str, dict[str, str]], queries: Sequence[str], names: Sequence[str],
               cols: Sequence[str]) -> np.ndarray:
    """`[q, n]` True where gallery product `n` has the query's values in every column (a blank value matches none)."""
    def key(pid: str) -> str:
        values = [products.get(pid, {}).get(c, "") for c in cols]
        return "\x1f".join(values) if all(values) else ""

    qkeys = np.array([key(q) for q in queries], dtype=object)
    nkeys = np.array([key(n) for n in names], dtype=object)
    return (qkeys[:, None] == nkeys[None, :]) & (qkeys[:, None] != "")


def same_id(queries: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """`[q, n]` True where gallery product `n` is the query's product."""
    return np.asarray(queries, dtype=object)[:, None] == np.asarray(names, dtype=object)[None, :]


def similar_product(ctx: EvalContext, cfg: SimilarCfg, ks: Sequence[int], seed: int, salt: str) -> dict[str, Any]:
    """Protocol 1: each query-split product's photo vs every other indexed product."""
    vectors = ctx.product_vectors()
    queries = sample([p for p in sorted(vectors) if split_of(p, salt) == cfg.queries], cfg.max_queries, seed)
    if not queries:
        raise CatalogError(f"no indexed product is in the '{cfg.queries}' split: nothing to query with")
    qvecs = np.stack([vectors[p] for p in queries])  # all its photos combined, as `vsearch query --like`
    scores, names = score(ctx, qvecs)
    valid = ~same_id(queries, names)
    out: dict[str, Any] = {
        "title": "Similar product", "queries": len(queries),
        "gallery": f"all other indexed products ({len(names) - 1})",
        "query_split": cfg.queries, "relevance": {"type": list(cfg.relevance), "strict": list(cfg.strict)},
        "metrics": {}}
    for label, cols in (("type", cfg.relevance), ("strict", cfg.strict)):
        relevant = same_label(ctx.products, queries, names, cols)
        means, _ = evaluate(scores, relevant, ks, valid)
        out["metrics"][label] = means
    fused = _with_titles(ctx, queries, scores, names, cfg.title_weight)
    if fused is not None:  # what `vsearch query --like` ranks by when the index holds titles
        out["title_weight"] = cfg.title_weight
        for label, cols in (("type_with_titles", cfg.relevance), ("strict_with_titles", cfg.strict)):
            means, _ = evaluate(fused, same_label(ctx.products, queries, names, cols), ks, valid)
            out["metrics"][label] = means
    return out


def _with_titles(ctx: EvalContext, queries: list[str], scores: np.ndarray, names: list[str],
                 weight: float) -> np.ndarray | None:
    """`[q, names]` photo scores fused with title cosine as `Searcher.search_like` does (a product without a
    title keeps its photo score); None when the index has no titles or the weight is 0."""
    tids, tvecs = ctx.vectors("title")
    if not tids or weight == 0.0:
        return None
    by_id: dict[str, np.ndarray] = {}
    for pid, vec in zip(tids, tvecs):
        by_id.setdefault(pid, vec)
    if not all(q in by_id for q in queries):
        return None
    tq = np.stack([by_id[q] for q in queries])
    tq /= np.maximum(np.linalg.norm(tq, axis=1, keepdims=True), 1e-12)
    tscores, tnames = score(ctx, tq, "title")
    col = {name: i for i, name in enumerate(tnames)}
    fused = scores.copy()
    have = np.array([n in col for n in names])
    cols = np.array([col[n] for n in names if n in col], dtype=np.int64)
    fused[:, have] = (1 - weight) * scores[:, have] + weight * tscores[:, cols]
    return fused


def rendition(ctx: EvalContext, cfg: RenditionCfg, ks: Sequence[int]) -> dict[str, Any]:
    """Protocol 3: photos of another rendition of the catalogue query it; relevant = the same id."""
    other = load_catalog(cfg.catalog)
    indexed = set(ctx.vectors("image")[0])
    photos = [p for p in other.photos if p.product_id in indexed]
    if not photos:
        raise CatalogError(f"no product of {cfg.catalog} is in index {ctx.index_dir}")
    qvecs, ok = ctx.embed_paths([p.path for p in photos])
    qids = [p.product_id for p, good in zip(photos, ok) if good]
    scores, names = score(ctx, qvecs[ok])
    relevant = same_id(qids, names)
    means, _ = evaluate(scores, relevant, ks)
    return {"title": "Same product, other rendition", "catalog": str(cfg.catalog), "queries": len(qids),
            "bad_photos": int((~ok).sum()), "gallery": f"all indexed products ({len(names)})",
            "relevance": "exact product", "metrics": {"exact": means}}


def text_queries(ctx: EvalContext, cfg: TextCfg, ks: Sequence[int], seed: int, salt: str) -> dict[str, Any]:
    """Protocol 4: titles as queries. Image-only models search the title vectors (as `vsearch query --text`)."""
    tids, tvecs = ctx.vectors("title")
    if not tids:
        return {"title": "Text -> product", "skipped": "index has no title vectors (built without titles)",
                "metrics": {}}
    row = {pid: i for i, pid in enumerate(tids)}
    queries = sample([p for p in sorted(row) if split_of(p, salt) == cfg.queries], cfg.max_queries, seed)
    if not queries:
        raise CatalogError(f"no titled product is in the '{cfg.queries}' split: nothing to query with")
    qvecs = tvecs[[row[p] for p in queries]]
    out: dict[str, Any] = {
        "title": "Text -> product", "queries": len(queries), "query_split": cfg.queries,
        "text_model": ctx.manifest.text_model,
        "path": "the query text is matched against product title vectors (what `vsearch query --text` does) and "
                "the hit's photo is shown; with a joint text-image model, text_to_image_exact also searches photos",
        "metrics": {}}
    scores, names = score(ctx, qvecs, "title")
    exact = same_id(queries, names)
    out["metrics"]["exact"], _ = evaluate(scores, exact, ks)
    valid = ~exact
    relevant = same_label(ctx.products, queries, names, cfg.relevance)
    out["metrics"]["type_others"], _ = evaluate(scores, relevant, ks, valid)
    title_of = {pid: next((meta[c] for c in TITLE_COLUMNS if meta.get(c)), "") for pid, meta in ctx.products.items()}
    counts = Counter(title_of.values())
    out["queries_with_shared_title"] = sum(1 for q in queries if title_of.get(q) and counts[title_of[q]] > 1)
    out["notes"] = ("exact: the product's own title is in the gallery, so misses come from shared or near-identical "
                    "titles (ties count against the query); type_others: own title held out, relevant = same "
                    + "+".join(cfg.relevance))
    emb = ctx.embedder
    if hasattr(emb, "encode_texts"):  # a joint text-image model: real text -> image search too
        titles = [next((meta[c] for c in TITLE_COLUMNS if meta.get(c)), q)
                  for q, meta in ((q, ctx.products.get(q, {})) for q in queries)]
        scores, names = score(ctx, emb.encode_texts(titles), "image")
        rel = same_id(queries, names)
        out["metrics"]["text_to_image_exact"], _ = evaluate(scores, rel, ks)
    return out


# -- multi-view catalogues (protocol 5) -----------------------------------------------------------

@dataclass(frozen=True)
class View:
    product_id: str
    path: Path
    columns: tuple[tuple[str, str], ...]

    def matches(self, flt: Filter) -> bool:
        cols = dict(self.columns)
        return all(cols.get(key) in values for key, values in flt)


def load_views(root: Path) -> list[View]:
    """Every photo of a multi-view catalogue with its own label columns (source, split, ...).

    A labels file with repeated ids, or a `<id>/<view>.jpg` folder (no columns) both work.
    """
    labels = root if root.is_file() else next((root / n for n in LABEL_FILES if (root / n).is_file()), None)
    if labels is None:
        return [View(p.product_id, p.path, ()) for p in load_catalog(root, id_from="folder").photos]
    views = []
    for row in read_label_rows(labels):
        image = Path(row.get("image", ""))
        path = image if image.is_absolute() else labels.parent / image
        if row.get("id") and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            views.append(View(row["id"], path, tuple((k, v) for k, v in row.items() if k not in ("id", "image"))))
    if not views:
        raise CatalogError(f"no photos listed in {labels}")
    return views


def multiview(ctx: EvalContext, cfg: MultiviewCfg, ks: Sequence[int], seed: int) -> dict[str, Any]:
    """Protocol 5: query photos vs gallery photos of a multi-view catalogue; relevant = the same product.

    Without filters every photo queries all the others (leave-one-out).
    """
    views = load_views(cfg.catalog)
    queries = _unique([v for v in views if v.matches(cfg.query)] if cfg.query else views)
    gallery = _unique([v for v in views if any(v.matches(f) for f in cfg.gallery)] if cfg.gallery else views)
    shared = len({str(v.path) for v in views}) < len(views)
    keep = set(sample([str(v.path) for v in queries], cfg.max_queries, seed))
    queries = [v for v in queries if str(v.path) in keep]
    if not queries or not gallery:
        raise CatalogError(f"multiview {cfg.name}: {len(queries)} query and {len(gallery)} gallery photos match")
    qvecs, qok = ctx.embed_paths([v.path for v in queries])
    gvecs, gok = ctx.embed_paths([v.path for v in gallery])
    queries = [v for v, good in zip(queries, qok) if good]
    gallery = [v for v, good in zip(gallery, gok) if good]
    raw = qvecs[qok] @ gvecs[gok].T
    raw[same_id([str(q.path) for q in queries], [str(g.path) for g in gallery])] = -np.inf  # never itself
    scores, names = group_max(raw, [g.product_id for g in gallery])
    valid = np.isfinite(scores)
    relevant = same_id([q.product_id for q in queries], names)
    means, per_query = evaluate(scores, relevant, ks, valid)
    by_product: dict[str, dict[str, float]] = {}
    for pid in sorted({q.product_id for q in queries}):
        mask = np.array([q.product_id == pid for q in queries])
        by_product[pid] = {"queries": int(mask.sum()), "hit@1": float(np.nanmean(per_query["hit@1"][mask]))}
    return {"title": f"Multi-view: {cfg.name}", "catalog": str(cfg.catalog), "queries": len(queries),
            "gallery": f"{len(gallery)} photos of {len(names)} products",
            "bad_photos": int((~qok).sum() + (~gok).sum()),
            "query_filter": dict(cfg.query), "gallery_filter": [dict(f) for f in cfg.gallery] or "leave-one-out",
            "relevance": "exact product", "metrics": {"exact": means}, "per_product": by_product,
            **({"notes": f"{len(views) - len({str(v.path) for v in views})} label rows name a file another row "
                         "also names; each file is counted once and never matched against itself"}
               if shared else {})}


def _unique(views: list[View]) -> list[View]:
    """One view per file (labels may list one file twice, e.g. under two splits)."""
    out: dict[str, View] = {}
    for view in views:
        out.setdefault(str(view.path), view)
    return list(out.values())


def gallery_views(cfg: MultiviewCfg) -> list[View]:
    """The gallery photos of a multi-view protocol (what synthetic views are made from for the comparison)."""
    views = load_views(cfg.catalog)
    return _unique([v for v in views if any(v.matches(f) for f in cfg.gallery)] if cfg.gallery else views)
