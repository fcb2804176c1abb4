"""Protocol 2: synthetic phone-camera views of catalogue photos query the catalogue (exact product).

Synthetic views are cheap and cover any catalogue, but they are not real photos. So the same
distortions are also applied to the gallery photos of a real multi-view protocol (the grocery
shop images) and their recall is set beside the recall of the real phone photos of the same
products: how well the synthetic number predicts the real one is part of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vsearch.catalog.images import load_image
from vsearch.catalog.reader import load_catalog
from vsearch.core.metrics import group_max, summarize
from vsearch.core.split import split_of
from vsearch.evaluate.context import EvalContext
from vsearch.evaluate.distort import KINDS, distort, view_rng
from vsearch.evaluate.protocols import evaluate, gallery_views, same_id, sample, score
from vsearch.evaluate.suite import MultiviewCfg, SyntheticCfg

DISTRACTORS = 40
"""Catalogue photos cut up as background clutter."""


def _views(ctx: EvalContext, photos: Sequence[tuple[str, Path]], kinds: Sequence[str], views: int, seed: int,
           distractors: Sequence[tuple[str, Image.Image]]) -> tuple[np.ndarray, list[str], list[str]]:
    """Embed `views` distorted copies per kind of each (product id, photo): vectors, product ids, kinds.

    Clutter is cut from `distractors` (product id, picture), never from the product itself.
    """
    vecs, ids, kind_of = [], [], []
    pending: list[Image.Image] = []
    for pid, path in photos:
        image = load_image(path)
        pool = [im for other, im in distractors if other != pid]
        for kind in kinds:
            for view in range(views):
                pending.append(distort(image, kind, view_rng(seed, pid, kind, view), pool))
                ids.append(pid)
                kind_of.append(kind)
        if len(pending) >= ctx.batch_size:
            vecs.append(ctx.embed_images(pending))
            pending = []
    if pending:
        vecs.append(ctx.embed_images(pending))
    return np.concatenate(vecs), ids, kind_of


def _by_kind(per_query: dict[str, np.ndarray], kinds: Sequence[str], kind_of: Sequence[str]) -> dict[str, Any]:
    arr = np.asarray(kind_of)
    return {kind: summarize(per_query, arr == kind) for kind in kinds}


def synthetic_views(ctx: EvalContext, cfg: SyntheticCfg, catalog: Path, ks: Sequence[int], seed: int, salt: str,
                    compare: MultiviewCfg | None = None, real: dict[str, Any] | None = None) -> dict[str, Any]:
    """Protocol 2 on the indexed catalogue, plus the synthetic-vs-real comparison when `compare` is given."""
    kinds = list(cfg.kinds) or list(KINDS)
    indexed = set(ctx.vectors("image")[0])
    first: dict[str, Path] = {}
    for photo in load_catalog(catalog).photos:
        if photo.product_id in indexed:
            first.setdefault(photo.product_id, photo.path)
    chosen = sample([p for p in sorted(first) if split_of(p, salt) == "test"], cfg.products, seed)
    others = sample([p for p in sorted(first) if split_of(p, salt) == "train"], DISTRACTORS, seed + 1)
    distractors = [(p, load_image(first[p])) for p in others]
    qvecs, qids, kind_of = _views(ctx, [(p, first[p]) for p in chosen], kinds, cfg.views, seed, distractors)
    scores, names = score(ctx, qvecs)
    _, per_query = evaluate(scores, same_id(qids, names), ks)
    out: dict[str, Any] = {
        "title": "Camera photo of the same product (synthetic views)",
        "note": "synthetic distortions of catalogue photos, not a real multi-view benchmark",
        "products": len(chosen), "views_per_kind": cfg.views, "queries": len(qids),
        "gallery": f"all indexed products ({len(names)})", "relevance": "exact product",
        "metrics": {"overall": summarize(per_query), **_by_kind(per_query, kinds, kind_of)}}
    if compare is not None:
        out["vs_real"] = compare_with_real(ctx, cfg, compare, real or {}, kinds, ks, seed)
    return out


def compare_with_real(ctx: EvalContext, cfg: SyntheticCfg, mv: MultiviewCfg, real: dict[str, Any],
                      kinds: Sequence[str], ks: Sequence[int], seed: int) -> dict[str, Any]:
    """Synthetic views of a multi-view protocol's gallery photos vs its real query photos, same gallery."""
    from scipy.stats import spearmanr

    gallery = gallery_views(mv)
    gvecs, gok = ctx.embed_paths([v.path for v in gallery])
    gallery = [v for v, good in zip(gallery, gok) if good]
    photos = [(v.product_id, v.path) for v in gallery]
    distractors = [(v.product_id, load_image(v.path)) for v in gallery]
    qvecs, qids, kind_of = _views(ctx, photos, kinds, cfg.compare_views, seed, distractors)
    scores, names = group_max(qvecs @ gvecs[gok].T, [v.product_id for v in gallery])
    _, per_query = evaluate(scores, same_id(qids, names), ks)
    synthetic = {"overall": summarize(per_query), **_by_kind(per_query, kinds, kind_of)}
    out: dict[str, Any] = {
        "protocol": mv.name, "synthetic_queries": len(qids), "views_per_kind": cfg.compare_views,
        "gallery": f"{len(gallery)} photos of {len(names)} products (the same gallery as {mv.name})",
        "metrics": {"synthetic": synthetic}}
    real_metrics = real.get("metrics", {}).get("exact")
    if real_metrics:
        out["metrics"]["real"] = real_metrics
        out["gap_hit@1"] = synthetic["overall"]["hit@1"] - real_metrics["hit@1"]
        per_real = real.get("per_product", {})
        ids_arr = np.asarray(qids)
        pairs = [(float(np.nanmean(per_query["hit@1"][ids_arr == pid])), info["hit@1"])
                 for pid, info in per_real.items() if (ids_arr == pid).any()]
        if len(pairs) >= 3:
            syn, rl = zip(*pairs)
            rho = spearmanr(syn, rl)
            out["per_product_spearman_hit@1"] = None if np.isnan(rho.statistic) else float(rho.statistic)
            out["per_product_pvalue"] = None if np.isnan(rho.pvalue) else float(rho.pvalue)
            out["per_product"] = {pid: {"synthetic_hit@1": s, "real_hit@1": r}
                                  for pid, (s, r) in zip([p for p in per_real if (ids_arr == p).any()], pairs)}
        kind_gaps = {k: abs(synthetic[k]["hit@1"] - real_metrics["hit@1"]) for k in kinds}
        out["closest_kind_hit@1"] = min(kind_gaps, key=kind_gaps.__getitem__)
    return out
