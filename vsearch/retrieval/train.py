"""`vsearch train retrieval`: learn the product-identity head on a catalogue, then build the index with it.

Training data per product: its catalogue photo(s) as the proxy, camera-like synthetic views of them, and real
photos of the product where a labels file gives some. All of it is frozen backbone vectors, cached in
`<index>/retrieval-cache/`, so a rerun with other settings costs seconds. The head is saved as
`<index>/heads/retrieval.pt` and the index is (re)built with it; see `vsearch.models.retrieval_head`.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.catalog.reader import Catalog
from vsearch.core.errors import CatalogError, IndexMismatchError
from vsearch.core.log import Progress, no_progress
from vsearch.index.manifest import IMAGE_INDEX, MANIFEST, STORE, TEXT_INDEX, read_manifest
from vsearch.models.base import ImageEmbedder, TextEmbedder
from vsearch.models.retrieval_head import HeadedEmbedder, RetrievalHead, head_path, save_head
from vsearch.retrieval.features import FeatureCache, photo_vectors, view_vectors
from vsearch.retrieval.metric import MetricConfig, train_metric_head

CACHE_DIR = "retrieval-cache"


@dataclass
class RetrievalConfig:
    """What to train on and how the head mixes with the frozen vectors."""

    views: int = 16
    """Synthetic camera views per catalogue photo (0: none)."""
    mix: float = 0.5
    """Weight of the projected cosine in the index's score (1 - mix: the frozen cosine). 0.5 was chosen on
    products-224 views, 0.25 on grocery train folds, where larger mixes lose products without real photos."""
    metric: MetricConfig = field(default_factory=MetricConfig)


def read_real_photos(labels: str | Path, where: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """(product id, photo path) rows of a CSV with `id,image` columns, kept where every `COL=VALUE` holds.

    Image paths are relative to the CSV's folder.
    """
    labels = Path(labels)
    conds = []
    for cond in where:
        col, sep, val = cond.partition("=")
        if not sep:
            raise CatalogError(f"--real-where needs COLUMN=VALUE, not '{cond}'")
        conds.append((col.strip(), val.strip()))
    try:
        with labels.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CatalogError(f"cannot read real photos {labels}: {exc}") from None
    if rows and not {"id", "image"} <= set(rows[0]):
        raise CatalogError(f"{labels} needs id and image columns, has {', '.join(rows[0])}")
    for col, _ in conds:
        if rows and col not in rows[0]:
            raise CatalogError(f"--real-where names column '{col}', which {labels} lacks")
    return [(r["id"], labels.parent / r["image"]) for r in rows if all(r.get(c) == v for c, v in conds)]


def _product_anchors(catalog: Catalog, vecs: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Product ids, `[p, dim]` unit mean vector of each product's photos, and each photo's product row."""
    ids = sorted({p.product_id for p in catalog.photos})
    row = {pid: i for i, pid in enumerate(ids)}
    photo_rows = np.array([row[p.product_id] for p in catalog.photos], np.int64)
    anchors = np.zeros((len(ids), vecs.shape[1]), np.float32)
    np.add.at(anchors, photo_rows, vecs)
    anchors /= np.maximum(np.linalg.norm(anchors, axis=1, keepdims=True), 1e-12)
    return ids, anchors, photo_rows


def train_head(catalog: Catalog, embedder: ImageEmbedder, cache_dir: str | Path, cfg: RetrievalConfig,
               real: Sequence[tuple[str, Path]] = (), progress: Progress = no_progress) -> tuple[RetrievalHead,
                                                                                               dict[str, Any]]:
    """The head and a report (counts, seconds). Real photos of products outside the catalogue are skipped."""
    if not catalog.photos:
        raise CatalogError(f"no photos in catalogue {catalog.root}")
    t0 = time.perf_counter()
    cache = FeatureCache(cache_dir, embedder)
    paths = [p.path for p in catalog.photos]
    vecs = photo_vectors(embedder, paths, cache, progress=progress)
    ids, anchors, photo_rows = _product_anchors(catalog, vecs)
    parts, labels = [], []
    if cfg.views:
        vv, owner = view_vectors(embedder, paths, cfg.views, cache, seed=cfg.metric.seed, progress=progress)
        parts.append(vv)
        labels.append(photo_rows[owner])
    row = {pid: i for i, pid in enumerate(ids)}
    known = [(pid, p) for pid, p in real if pid in row]
    if known:
        parts.append(photo_vectors(embedder, [p for _, p in known], cache, progress=progress))
        labels.append(np.array([row[pid] for pid, _ in known], np.int64))
    if not parts:
        raise CatalogError("nothing to train on: give --views > 0 or --real-photos of catalogue products")
    t1 = time.perf_counter()
    weights = train_metric_head(anchors, np.concatenate(parts), np.concatenate(labels), cfg.metric, progress)
    report = {"products": len(ids), "catalog_photos": len(paths), "synthetic_views": len(paths) * cfg.views,
              "real_photos": len(known), "real_photos_skipped": len(real) - len(known),
              "feature_seconds": round(t1 - t0, 1), "train_seconds": round(time.perf_counter() - t1, 1),
              "config": {"views": cfg.views, "mix": cfg.mix, **cfg.metric.to_dict()}}
    stamp = {"model": embedder.name, "weights_id": embedder.weights_id, "dim": embedder.dim}
    return RetrievalHead(weights, cfg.mix, stamp, {k: v for k, v in report.items() if k != "feature_seconds"}), report


def clear_index(index_dir: Path) -> None:
    """Remove a built index's vectors and FAISS files (not its heads or caches), under the writer lock."""
    from vsearch.index import lock

    key = lock.acquire(index_dir)
    try:
        for name in (MANIFEST, IMAGE_INDEX, TEXT_INDEX):
            for path in (index_dir / name, index_dir / (name + ".pending")):
                path.unlink(missing_ok=True)
        shutil.rmtree(index_dir / STORE, ignore_errors=True)
    finally:
        lock.release(key)


def train_retrieval(catalog: Catalog, index_dir: str | Path, embedder: ImageEmbedder,
                    text_embedder: TextEmbedder | None = None, *, cfg: RetrievalConfig | None = None,
                    real: Sequence[tuple[str, Path]] = (), replace: bool = False,
                    progress: Progress = no_progress, **build: Any) -> dict[str, Any]:
    """Train the head on `catalog`, store it in `index_dir` and build the index of `catalog` with it.

    Raises:
        IndexMismatchError: `index_dir` holds an index built otherwise and `replace` is False.
    """
    from vsearch.index.build import build_catalog_index

    index_dir = Path(index_dir)
    cfg = cfg or RetrievalConfig()
    if (index_dir / MANIFEST).is_file() and not replace:
        raise IndexMismatchError(f"{index_dir} already holds a built index ({read_manifest(index_dir).weights_id}); "
                                 "pass --replace to rebuild it with the new head, or use another --index")
    head, report = train_head(catalog, embedder, index_dir / CACHE_DIR, cfg, real, progress)
    if (index_dir / MANIFEST).is_file():
        clear_index(index_dir)
    save_head(head_path(index_dir), head)
    built = build_catalog_index(catalog, index_dir, HeadedEmbedder(embedder, head), text_embedder,
                                progress=progress, **build)
    return {"index_dir": str(index_dir), "head_path": str(head_path(index_dir)), "head_id": head.head_id,
            "dim": head.out_dim, **report, "build": built.to_dict()}
