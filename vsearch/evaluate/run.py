"""Run a suite: make sure its index exists, run the protocols (or the tag probe), time each step."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.errors import IndexMismatchError
from vsearch.core.log import timed
from vsearch.evaluate.context import EvalContext
from vsearch.evaluate.suite import Suite
from vsearch.index.manifest import MANIFEST

_logger = logging.getLogger(__name__)


def default_index_dir(suite: Suite) -> Path:
    return Path("indexes") / f"eval-{suite.name}"


def ensure_index(suite: Suite, index_dir: Path | None, device: str = "cpu", workers: int | None = None) -> Path:
    """The index to evaluate: `index_dir` if it is built, else the suite's catalogue built (or resumed) there.

    Raises:
        IndexMismatchError: the index was built with another model than the suite names.
    """
    from vsearch.index.manifest import read_manifest

    target = index_dir or default_index_dir(suite)
    if (target / MANIFEST).is_file():
        manifest = read_manifest(target)
        if suite.model and suite.model != manifest.model:
            raise IndexMismatchError(f"suite {suite.name} evaluates {suite.model}, but {target} was built with "
                                     f"{manifest.model}; pass another --index or fix the suite's model")
        return target
    from vsearch.catalog.reader import load_catalog
    from vsearch.index.build import build_catalog_index
    from vsearch.models import DEFAULT_MODEL, create_embedder, create_text_embedder

    text = create_text_embedder(device=device) if suite.text is not None else None
    with timed(f"index {suite.catalog} into {target}"):
        build_catalog_index(load_catalog(suite.catalog), target, create_embedder(suite.model or DEFAULT_MODEL,
                                                                                 device=device), text,
                            workers=workers)
    return target


def index_info(ctx: EvalContext) -> dict[str, Any]:
    m = ctx.manifest
    return {"dir": str(ctx.index_dir), "model": m.model, "weights_id": m.weights_id, "dim": m.dim,
            "index_type": m.index_type, "count": m.count, "products": m.products, "text_model": m.text_model,
            "precision": m.build.get("precision"), "built_with": m.vsearch_version}


def run_retrieval(suite: Suite, index_dir: Path, device: str = "cpu", batch_size: int = 64,
                  workers: int | None = None) -> dict[str, Any]:
    """Every retrieval protocol the suite lists; returns the report's `retrieval` section."""
    from vsearch.evaluate import protocols as P
    from vsearch.evaluate.synthetic import synthetic_views

    start = time.perf_counter()
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    with EvalContext(index_dir, device=device, batch_size=batch_size, workers=workers) as ctx:

        def step(key: str, fn: Any, *args: Any) -> None:
            with timed(f"protocol {key}") as t:
                results[key] = fn(ctx, *args)
            timings[key] = round(t["seconds"], 2)

        ks, seed, salt = suite.ks, suite.seed, suite.split_salt
        if suite.similar:
            step("similar", P.similar_product, suite.similar, ks, seed, salt)
        if suite.rendition:
            step("rendition", P.rendition, suite.rendition, ks)
        if suite.text:
            step("text", P.text_queries, suite.text, ks, seed, salt)
        for mv in suite.multiview:
            step(f"multiview:{mv.name}", P.multiview, mv, ks, seed)
        if suite.synthetic:
            cmp = next((m for m in suite.multiview if m.name == suite.synthetic.compare), None)
            real = results.get(f"multiview:{cmp.name}") if cmp else None
            step("synthetic", synthetic_views, suite.synthetic, suite.catalog, ks, seed, salt, cmp, real)
        info = index_info(ctx)
        embedded = ctx.embedded
    order = ["similar", "synthetic", "rendition", "text", *(f"multiview:{m.name}" for m in suite.multiview)]
    timings["total"] = round(time.perf_counter() - start, 2)
    return {"index": info, "ks": list(ks), "seed": seed, "split_salt": salt, "photos_embedded": embedded,
            "timings": timings, "protocols": {k: results[k] for k in order if k in results}}


def run_tags(suite: Suite, index_dir: Path, device: str = "cpu") -> dict[str, Any]:
    """The suite's tag evaluation; returns the report's `tags` section.

    With trained attribute heads in the index (`vsearch train attributes`) those are evaluated (and the
    frozen-backbone probe for any attribute they do not cover); without them, the probe alone.
    """
    from vsearch.evaluate.suite import TagsCfg
    from vsearch.evaluate.tags import evaluate_tags, heads_predictor, probe_predictor

    cfg = suite.tags or TagsCfg()
    start = time.perf_counter()
    with EvalContext(index_dir, device=device) as ctx:
        with timed("tags"):
            heads = heads_predictor(ctx)
            if heads is None:
                result = evaluate_tags(ctx, cfg, suite.split_salt, suite.seed)
            else:
                trained, covered = heads
                probe, _ = probe_predictor(ctx, cfg, suite.split_salt, suite.seed)

                def predict(attr: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray, list[str]]:
                    return (trained if attr in covered else probe)(attr, ids)

                source = (f"trained heads ({', '.join(a for a in cfg.attributes if a in covered)}) from "
                          f"{ctx.index_dir}/heads; logistic-regression probe for the rest")
                result = evaluate_tags(ctx, cfg, suite.split_salt, suite.seed, predictor=predict, source=source)
        info = index_info(ctx)
    return {"index": info, "config": asdict(cfg), **result,
            "timings": {"total": round(time.perf_counter() - start, 2)}}
