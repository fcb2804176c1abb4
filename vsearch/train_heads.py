"""Train heads on an index: features from its store, labels from columns, title rules or a tag file.

Image vectors come from the store. Colour statistics (decode + histograms) and pooled stage maps
(`vsearch.stages`: one more forward pass) are computed once per photo, when heads first need them,
and cached in the store as vector kinds "colour" and "stages".
Rows are split by product id with `vsearch.split` (the split the eval harness uses), so the test
figures reported here are on products the heads never saw.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vsearch.catalog import TITLE_COLUMNS, read_label_rows
from vsearch.colour import COLOUR_KIND, COLOUR_VERSION, colour_features_of_paths
from vsearch.errors import BadQueryError, IndexMismatchError, IndexMissingError
from vsearch.finetune import FinetuneConfig
from vsearch.heads import Head, HeadGroup, HeadSpec, backbone_stamp, build_head, heads_path, save_group
from vsearch.log import Progress, no_progress
from vsearch.manifest import STORE, Manifest, read_manifest
from vsearch.rules import RULES_VERSION, apply_rules
from vsearch.split import split_of
from vsearch.stages import STAGES_KIND, STAGES_VERSION, has_stages, stage_features_of_paths
from vsearch.store import Store
from vsearch.train import TrainConfig, multiclass_report, train_multiclass, train_multilabel
from vsearch.tuned import TUNED_KIND

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
    """`[n, C]` fine-tuned features of photo `sources` (`vsearch.finetune`), stored when the tail was trained.

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


def _metadata(store: Store, labels: str | Path | None) -> dict[str, dict[str, str]]:
    if labels is None:
        return dict(store.iter_products())
    return {row["id"].strip(): row for row in read_label_rows(Path(labels)) if row.get("id", "").strip()}


def train_attributes(index_dir: str | Path, columns: list[str], *, labels: str | Path | None = None,
                     rules: tuple[str, ...] = ("pattern", "sleeve"), colour: bool = True, stages: bool = False,
                     cfg: TrainConfig | None = None, out: str | Path | None = None,
                     finetune: FinetuneConfig | None = None, progress: Progress = no_progress) -> dict[str, Any]:
    """One multi-class head per column (and per title-rule attribute); saved as the `attributes` group.

    Args:
        columns: metadata columns to learn (e.g. articleType, baseColour).
        labels: labels file with an `id` column; default the metadata stored in the index.
        rules: rule-table attributes derived from titles (see `vsearch.rules`).
        colour: add pixel colour statistics to the image embedding.
        stages: add the backbone's pooled stage maps (`vsearch.stages`; timm backbones, not with `finetune`): better
            on photos like the catalogue's, worse under a change of rendition.
        out: checkpoint path; default `<index>/heads/attributes.pt`.
        finetune: fine-tune the backbone's last blocks on all these attributes (`vsearch.finetune`); the
            linear heads trained with the tail are kept, and they read the tuned features instead of the
            stored image vectors.
        progress: (stage, done, total) callback for the stage feature and fine-tuning passes.

    Returns:
        A report: per head, test-split metrics (accuracy, weighted/macro F1, per class, confusion).

    Raises:
        BadQueryError: a column that is not in the labels.
    """
    start = time.perf_counter()
    cfg = cfg or TrainConfig()
    manifest = read_manifest(index_dir)
    stamp = backbone_stamp(manifest)
    if stages and finetune is not None:
        raise BadQueryError("--stages is for heads on frozen features; --finetune-blocks trains its own features")
    inputs = head_inputs(manifest, colour, stages)
    with Store(Path(index_dir) / STORE) as store:
        feats = load_features(store, inputs, embedder=lambda: index_embedder(index_dir), progress=progress)
        meta = _metadata(store, labels)
    known = {col for m in meta.values() for col in m}
    missing = [c for c in columns if c not in known]
    if missing:
        raise BadQueryError(f"column(s) {', '.join(missing)} not in labels; columns: {', '.join(sorted(known))}")
    targets: dict[str, tuple[list[str], str]] = {}
    for col in columns:
        values = [str(meta.get(pid, {}).get(col, "")).strip() for pid in feats.ids]
        targets[col] = ([v if v not in MISSING else "" for v in values], f"column:{col}")
    title_col = next((c for c in TITLE_COLUMNS if c in known), None)
    if rules and title_col is None:
        _logger.warning("no title column: skipping rule attributes %s", ", ".join(rules))
    for attr in rules if title_col else ():
        values = [apply_rules(str(meta.get(pid, {}).get(title_col, "")), attr) or "" for pid in feats.ids]
        if len(_classes(values, feats.split, cfg.min_count)[0]) < 2:
            _logger.warning("skipping %s: its title rules label too few training products", attr)
            continue
        targets[attr] = (values, f"rules:{RULES_VERSION}:{title_col}")
    extra: dict[str, Any] = {"rules_version": RULES_VERSION, "colour_version": COLOUR_VERSION,
                             "stages_version": STAGES_VERSION}
    finetune_report = None
    if finetune is not None:
        extra["finetune"], finetune_report, heads, reports = _finetune(index_dir, feats, targets,
                                                                       cfg.min_count, finetune, progress)
    else:
        heads, reports = {}, {}
        for name, (values, source) in targets.items():
            _logger.info("training %s head", name)
            spec, head, reports[name] = train_multiclass(name, feats.x, values, feats.split, feats.inputs, cfg, source)
            heads[name] = (spec, head)
    for name, (_, source) in targets.items():
        if source.startswith("rules:"):
            reports[name]["note"] = ("test metrics here are agreement between the photo head and the title rule, on "
                                     "held-out products whose title states the attribute")
    path = Path(out) if out else heads_path(index_dir, "attributes")
    save_group(path, HeadGroup("attributes", stamp, heads, extra))
    return {"group": "attributes", "heads_path": str(path), "backbone": stamp, "inputs": feats.inputs,
            "config": asdict(cfg), **({"finetune": finetune_report} if finetune_report else {}),
            "seconds": round(time.perf_counter() - start, 1), "heads": reports}


def _classes(values: list[str], split: np.ndarray, min_count: int) -> tuple[list[str], np.ndarray]:
    """Classes with `min_count`+ training rows (sorted, as `train_multiclass` keeps them) and the index of each
    row's class (-1: unlabelled or a rarer class)."""
    counts: dict[str, int] = {}
    for v, s in zip(values, split):
        if v and s == "train":
            counts[v] = counts.get(v, 0) + 1
    keep = sorted(c for c, n in counts.items() if n >= min_count)
    index = {c: k for k, c in enumerate(keep)}
    return keep, np.array([index.get(v, -1) for v in values], np.int64)


def _finetune(index_dir: str | Path, feats: Features, targets: dict[str, tuple[list[str], str]],
              min_count: int, cfg: FinetuneConfig, progress: Progress
              ) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[HeadSpec, Head]], dict[str, Any]]:
    """Fine-tune the tail with a linear head per attribute; store the tuned features; the heads read them.

    Returns:
        (the tail checkpoint for the head group, the fine-tuning report, heads, per-head test reports).
    """
    from vsearch.finetune import finetune_features

    classes = {name: _classes(values, feats.split, min_count) for name, (values, _) in targets.items()}
    few = [name for name, (keep, _) in classes.items() if len(keep) < 2]
    if few:
        raise BadQueryError(f"{', '.join(few)}: fewer than 2 classes with {min_count}+ training examples")
    colour = feats.parts.get(COLOUR_KIND)
    mean = std = None
    if colour is not None:
        train = feats.split == "train"
        mean, std = colour[train].mean(axis=0), np.maximum(colour[train].std(axis=0), 1e-3)
    tuned = finetune_features(index_embedder(index_dir), feats.sources,
                              {name: idx for name, (_, idx) in classes.items()}, feats.split, cfg, Path(index_dir),
                              None if colour is None else (colour - mean) / std, progress)
    if not tuned.decoded.all():
        _logger.warning("%d photos no longer decode; their tuned features are zero", int((~tuned.decoded).sum()))
    with Store(Path(index_dir) / STORE) as store:
        store.add_vectors(TUNED_KIND, feats.ids, feats.sources, tuned.features)
        store.set_info("tuned_id", tuned.checkpoint["id"])
    feats.parts = {TUNED_KIND: tuned.features, **({COLOUR_KIND: colour} if colour is not None else {})}
    dim = tuned.features.shape[1]
    heads, reports = {}, {}
    for name, (values, source) in targets.items():
        weight, bias = tuned.linear[name]
        spec = HeadSpec(name, "multiclass", classes[name][0], feats.inputs, weight.shape[1], weight.shape[0], 0,
                        cfg.dropout, source)
        head = build_head(spec)
        if mean is not None and std is not None:
            head.mean.copy_(torch.from_numpy(np.concatenate([np.zeros(dim), mean]).astype(np.float32)))
            head.std.copy_(torch.from_numpy(np.concatenate([np.ones(dim), std]).astype(np.float32)))
        linear = head.net[-1]
        linear.weight.data.copy_(torch.from_numpy(weight))
        linear.bias.data.copy_(torch.from_numpy(bias))
        reports[name] = multiclass_report(spec, head, feats.x, values, feats.split)
        reports[name]["trained_with_tail"] = True
        spec.metrics = {k: reports[name][k] for k in ("accuracy", "weighted_f1", "macro_f1", "train", "test")}
        heads[name] = (spec, head)
    return tuned.checkpoint, tuned.report, heads, reports


def read_tag_file(path: str | Path) -> dict[str, set[str]]:
    """`id,tags` rows (tags separated by ';' or '|') -> product id -> set of lower-case tags."""
    rows = read_label_rows(Path(path))
    if rows and not {"id", "tags"} <= set(rows[0]):
        raise BadQueryError(f"tag file {path} needs columns id,tags; has {', '.join(rows[0])}")
    out: dict[str, set[str]] = {}
    for row in rows:
        pid = row["id"].strip()
        if pid:
            parts = row["tags"].replace("|", ";").split(";")
            out.setdefault(pid, set()).update(t.strip().lower() for t in parts if t.strip())
    if not out:
        raise BadQueryError(f"tag file {path} has no rows")
    return out


def train_tags(index_dir: str | Path, tags_file: str | Path, *, colour: bool = True, stages: bool = False,
               cfg: TrainConfig | None = None, out: str | Path | None = None,
               progress: Progress = no_progress) -> dict[str, Any]:
    """A multi-label head on the products listed in `tags_file`; saved as the `tags` group.

    Products the file does not list are not used (unknown is not "no tags"); a listed product with an
    empty tag list is a negative for every tag.
    """
    start = time.perf_counter()
    cfg = cfg or TrainConfig()
    manifest = read_manifest(index_dir)
    stamp = backbone_stamp(manifest)
    inputs = head_inputs(manifest, colour, stages)
    tagged = read_tag_file(tags_file)
    with Store(Path(index_dir) / STORE) as store:
        feats = load_features(store, inputs, embedder=lambda: index_embedder(index_dir), progress=progress)
    rows = np.array([i for i, pid in enumerate(feats.ids) if pid in tagged], dtype=np.int64)
    if not len(rows):
        raise BadQueryError(f"none of the {len(tagged)} products in {tags_file} is in index {index_dir}")
    spec, head, report = train_multilabel("tags", feats.x[rows], [tagged[feats.ids[i]] for i in rows],
                                          feats.split[rows], inputs, cfg, f"file:{Path(tags_file).name}")
    path = Path(out) if out else heads_path(index_dir, "tags")
    save_group(path, HeadGroup("tags", stamp, {"tags": (spec, head)},
                               {"colour_version": COLOUR_VERSION, "stages_version": STAGES_VERSION}))
    report["products_not_in_index"] = len(set(tagged) - set(feats.ids))
    return {"group": "tags", "heads_path": str(path), "backbone": stamp, "inputs": inputs, "config": asdict(cfg),
            "seconds": round(time.perf_counter() - start, 1), "heads": {"tags": report}}
