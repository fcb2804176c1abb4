"""Train heads on an index: features from its store, labels from columns, title rules or a tag file.

Image vectors come from the store. Colour statistics (decode + histograms) and pooled stage maps
(`vsearch.models.stages`: one more forward pass) are computed once per photo, when heads first need them,
and cached in the store as vector kinds "colour" and "stages".
Rows are split by product id with `vsearch.core.split` (the split the eval harness uses), so the test
figures reported here are on products the heads never saw.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vsearch.catalog.reader import TITLE_COLUMNS, read_label_rows
from vsearch.core.errors import BadQueryError
from vsearch.core.log import Progress, no_progress
from vsearch.index.heads import Head, HeadGroup, HeadSpec, backbone_stamp, build_head, save_group
from vsearch.index.manifest import STORE, heads_path, read_manifest
from vsearch.index.store import Store
from vsearch.models.colour import COLOUR_KIND, COLOUR_VERSION
from vsearch.models.stages import STAGES_VERSION
from vsearch.models.tuned import TUNED_KIND
from vsearch.tags.features import MISSING, Features, head_inputs, index_embedder, load_features
from vsearch.tags.finetune import FinetuneConfig
from vsearch.tags.rules import RULES_VERSION, apply_rules
from vsearch.tags.train import TrainConfig, multiclass_report, train_multiclass, train_multilabel

if TYPE_CHECKING:

    pass

_logger = logging.getLogger(__name__)
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
        rules: rule-table attributes derived from titles (see `vsearch.tags.rules`).
        colour: add pixel colour statistics to the image embedding.
        stages: add the backbone's pooled stage maps (`vsearch.models.stages`; timm only, not with `finetune`): better
            on photos like the catalogue's, worse under a change of rendition.
        out: checkpoint path; default `<index>/heads/attributes.pt`.
        finetune: fine-tune the backbone's last blocks on all these attributes (`vsearch.tags.finetune`); the
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
    from vsearch.tags.finetune import finetune_features

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
