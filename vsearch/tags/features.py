"""Feature matrices for heads, read from an index's store: embeddings, and colour statistics, pooled
stage maps and fine-tuned features computed once per photo and cached in the store as their own vector kinds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.core.errors import BadQueryError, IndexMismatchError, IndexMissingError
from vsearch.core.log import Progress, no_progress
from vsearch.core.split import split_of
from vsearch.index.heads import backbone_stamp
from vsearch.index.manifest import Manifest, read_manifest
from vsearch.index.store import Store
from vsearch.models.colour import COLOUR_KIND, COLOUR_VERSION, colour_features_of_paths
from vsearch.models.stages import STAGES_KIND, STAGES_VERSION, has_stages, stage_features_of_paths
from vsearch.models.tuned import TUNED_KIND

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from vsearch.models.base import ImageEmbedder

_logger = logging.getLogger(__name__)
MISSING = frozenset({"", "NA", "N/A", "nan", "None", "null"})
"""Label values that mean "unknown": such rows are left out of training and evaluation."""


@dataclass
class Features:
    """One row per indexed photo: product id, photo source, input features by kind, split of the product."""

    ids: list[str]
    sources: list[str]
    parts: dict[str, np.ndarray]
    split: np.ndarray

    @property
    def inputs(self) -> list[str]:
        return list(self.parts)

    @property
    def x(self) -> np.ndarray:
        """`[n, d]`: the parts side by side, in `inputs` order (the order heads were trained on)."""
        return np.concatenate(list(self.parts.values()), axis=1)


def row_meta(store: Store, kind: str) -> list[tuple[str, str]]:
    """(product id, source) of every row of `kind`, in row order (the order of `Store.load_vectors`)."""
    return [(pid, source) for _, pid, source in store.row_entries(kind)]


def vectors_by_source(store: Store, kind: str) -> dict[str, np.ndarray]:
    """Stored vectors of `kind` keyed by their photo source (how per-photo features line up with image rows)."""
    _, vectors = store.load_vectors(kind)
    return {src: vec for (_, src), vec in zip(row_meta(store, kind), vectors)}


def cached_matrix(store: Store, kind: str, version: str, ids: list[str], sources: list[str],
                  compute: Callable[[Sequence[str]], tuple[np.ndarray, list[int]]], cache: bool = True) -> np.ndarray:
    """`[n, d]` per-photo features of `kind` (made by `version` of their code): from the store, computing the rest.

    Args:
        compute: photo paths -> (features of those that decode, their positions); the others get zeros.
        cache: store what was computed (and the version), so the next run reads it.
    """
    have = vectors_by_source(store, kind)
    if store.get_info(f"{kind}_version") not in (None, version):
        have = {}
    todo = [i for i, src in enumerate(sources) if src not in have]
    if todo:
        _logger.info("%s features of %d photos", kind, len(todo))
        feats, ok = compute([sources[i] for i in todo])
        for pos, vec in zip(ok, feats):
            have[sources[todo[pos]]] = vec
        if cache and len(ok):
            store.add_vectors(kind, [ids[todo[p]] for p in ok], [sources[todo[p]] for p in ok], feats)
            store.set_info(f"{kind}_version", version)
    zero = np.zeros(len(next(iter(have.values()))) if have else 0, np.float32)
    return np.stack([have.get(src, zero) for src in sources]).astype(np.float32)


def tuned_matrix(store: Store, sources: list[str], tuned_id: str | None = None) -> np.ndarray:
    """`[n, C]` fine-tuned features of photo `sources` (`vsearch.tags.finetune`), stored when the tail was trained.

    Args:
        tuned_id: the fine-tuning run the heads come from; the stored features must come from the same run.

    Raises:
        IndexMissingError: some photos have none (added after fine-tuning, or never fine-tuned).
        IndexMismatchError: the stored features come from another fine-tuning run.
    """
    if tuned_id is not None and store.get_info("tuned_id") != tuned_id:
        raise IndexMismatchError("the index's fine-tuned features come from another fine-tuning run than these heads: "
                                 "re-run `vsearch train attributes --finetune-blocks N` on this index")
    have = vectors_by_source(store, TUNED_KIND)
    missing = sum(src not in have for src in sources)
    if missing:
        raise IndexMissingError(f"{missing} indexed photos have no fine-tuned features (added after fine-tuning?): "
                                "re-run `vsearch train attributes --finetune-blocks N`")
    return np.stack([have[src] for src in sources]).astype(np.float32)


def load_features(store: Store, inputs: list[str], cache: bool = True, tuned_id: str | None = None,
                  embedder: Callable[[], ImageEmbedder] | None = None, progress: Progress = no_progress) -> Features:
    """Features of every indexed photo, one part per kind: "image", "colour", "stages" and/or "tuned".

    Args:
        tuned_id: the fine-tuning run whose "tuned" features the caller's heads read.
        embedder: gives the index's backbone, called only when stage features must be computed (else the
            stored ones must cover every photo).
        progress: reports the stage feature pass.
    """
    _, image = store.load_vectors("image")
    meta = row_meta(store, "image")
    if len(meta) != len(image) or not len(image):
        raise IndexMissingError(f"store {store.path} has no readable image vectors")
    ids = [pid for pid, _ in meta]
    sources = [src for _, src in meta]
    parts: dict[str, np.ndarray] = {}
    for kind in inputs:
        if kind == "image":
            parts[kind] = image
        elif kind == COLOUR_KIND:
            parts[kind] = cached_matrix(store, kind, COLOUR_VERSION, ids, sources, colour_features_of_paths, cache)
        elif kind == STAGES_KIND:
            parts[kind] = _stage_matrix(store, ids, sources, embedder, cache, progress)
        elif kind == TUNED_KIND:
            parts[kind] = tuned_matrix(store, sources, tuned_id)
        else:
            raise BadQueryError(f"unknown head input '{kind}'")
    split = np.array([split_of(pid) for pid in ids])
    return Features(ids, sources, parts, split)


def _stage_matrix(store: Store, ids: list[str], sources: list[str], embedder: Callable[[], ImageEmbedder] | None,
                  cache: bool, progress: Progress) -> np.ndarray:
    def compute(paths: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        if embedder is None:
            raise ValueError(f"{len(paths)} photos have no stored stage features, and no embedder was given")
        return stage_features_of_paths(embedder(), paths, progress=progress)

    return cached_matrix(store, STAGES_KIND, STAGES_VERSION, ids, sources, compute, cache)


def index_embedder(index_dir: str | Path, device: str | None = None) -> ImageEmbedder:
    """The backbone that built an index, with its preprocessing (checked to load the same weights)."""
    from vsearch.models.registry import create_index_embedder

    manifest = read_manifest(index_dir)
    return create_index_embedder(backbone_stamp(manifest), resize=manifest.resize, device=device)


def head_inputs(manifest: Manifest, colour: bool, stages: bool) -> list[str]:
    """Feature kinds frozen heads read: the image vector, colour statistics, stage maps (timm backbones only)."""
    if stages and not has_stages(manifest.model):
        _logger.warning("%s gives no stage maps: --stages is ignored", manifest.model)
        stages = False
    return ["image", *([COLOUR_KIND] if colour else []), *([STAGES_KIND] if stages else [])]
