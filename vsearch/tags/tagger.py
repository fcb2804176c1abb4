"""Predict attributes and tags for photos (or for every indexed product) with trained heads.

Attributes: the most likely class of each multi-class head with its probability. Tags: trained
multi-label tags whose probability passes their calibrated threshold, then zero-shot style tags
from the alignment group (marked `zero_shot: true`; their `prob` is a catalogue percentile).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vsearch.core.errors import BadQueryError, IndexMismatchError, IndexMissingError
from vsearch.index.heads import GROUPS, HeadGroup, backbone_stamp, check_backbone, load_group
from vsearch.index.manifest import HEADS_DIR, STORE, read_manifest

if TYPE_CHECKING:
    from vsearch.index.aligner import Aligner
    from vsearch.models.base import ImageEmbedder
    from vsearch.models.tuned import TunedExtractor

_logger = logging.getLogger(__name__)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Tagger:
    """Heads of one index (or a heads folder/file) and, lazily, the backbone to embed new photos.

    Args:
        index_dir: index whose `heads/` to use and whose backbone the heads must match.
        heads: a heads folder or one `<group>.pt` file instead of `<index>/heads`.
        zero_shot: add zero-shot style tags when an alignment group is present.
    """

    def __init__(self, index_dir: str | Path | None = None, heads: str | Path | None = None, *,
                 device: str | None = "cpu", zero_shot: bool = True) -> None:
        if index_dir is None and heads is None:
            raise BadQueryError("give an index (--index) or trained heads (--heads)")
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self.manifest = read_manifest(self.index_dir) if self.index_dir is not None else None
        stamp = backbone_stamp(self.manifest) if self.manifest else None
        paths = self._group_paths(Path(heads) if heads is not None else None)
        if not paths:
            where = heads if heads is not None else Path(str(self.index_dir)) / "heads"
            raise IndexMissingError(f"no trained heads in {where}: run `vsearch train attributes|tags|align`")
        self.groups: dict[str, HeadGroup] = {}
        for path in paths:
            group = load_group(path, stamp)
            stamp = stamp or group.backbone
            check_backbone(group.backbone, stamp, f"{group.group} heads ({path})")
            self.groups[group.group] = group
        self.stamp: dict[str, Any] = stamp or {}
        self.device = device
        self._embedder: ImageEmbedder | None = None
        self._tuned: TunedExtractor | None = None
        self.aligner: Aligner | None = None
        if zero_shot and "align" in self.groups:
            from vsearch.index.aligner import Aligner

            self.aligner = Aligner(self.groups["align"])

    def _group_paths(self, heads: Path | None) -> list[Path]:
        if heads is not None and heads.is_file():
            return [heads]
        folder = heads if heads is not None else Path(str(self.index_dir)) / HEADS_DIR
        if heads is not None and not folder.is_dir():
            raise IndexMissingError(f"no heads folder or file at {heads}")
        return [folder / f"{g}.pt" for g in GROUPS if (folder / f"{g}.pt").is_file()]

    @property
    def inputs(self) -> list[str]:
        """Feature kinds the heads read ("image" always: zero-shot tags and photo rows need it)."""
        kinds = {k for g in self.groups.values() for spec, _ in g.heads.values() for k in spec.inputs}
        return ["image", *sorted(kinds - {"image"})]

    @property
    def embedder(self) -> ImageEmbedder:
        if self._embedder is None:
            from vsearch.models.registry import create_index_embedder

            resize = self.manifest.resize if self.manifest else "squash"
            self._embedder = create_index_embedder(self.stamp, resize=resize, device=self.device)
        return self._embedder

    @property
    def finetuned(self) -> dict[str, Any] | None:
        """The fine-tuned tail checkpoint the heads were trained with, if any."""
        return next((g.extra["finetune"] for g in self.groups.values() if "finetune" in g.extra), None)

    def _tuned_extractor(self) -> TunedExtractor:
        from vsearch.models.tuned import TunedExtractor

        if self._tuned is None:
            if self.finetuned is None:
                raise IndexMismatchError("heads read fine-tuned features but carry no fine-tuned tail; retrain them")
            self._tuned = TunedExtractor(self.embedder, self.finetuned)  # type: ignore[arg-type]
        return self._tuned

    # -- prediction ---------------------------------------------------------------------------------
    def predict(self, feats: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        """Features by kind (`[n, d]` each: "image" unit vectors, "colour", "tuned") -> attributes and tags per row."""
        feats = {k: np.asarray(v, np.float32) for k, v in feats.items()}
        n = len(feats["image"])
        out: list[dict[str, Any]] = [{"attributes": {}, "tags": []} for _ in range(n)]
        for group in (g for name, g in self.groups.items() if name != "align"):
            for name, (spec, head) in group.heads.items():
                missing = [k for k in spec.inputs if k not in feats]
                if missing:
                    raise BadQueryError(f"head '{name}' needs {', '.join(missing)} features")
                logits = head.predict(np.concatenate([feats[k] for k in spec.inputs], axis=1))
                if spec.task == "multiclass":
                    prob = _softmax(logits)
                    best = prob.argmax(axis=1)
                    for row, j in enumerate(best):
                        out[row]["attributes"][name] = {"label": spec.labels[j], "prob": round(float(prob[row, j]), 4)}
                else:
                    prob = 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))
                    thresholds = np.asarray(spec.thresholds or [0.5] * len(spec.labels))
                    for row in range(n):
                        out[row]["tags"] += [{"tag": spec.labels[j], "prob": round(float(prob[row, j]), 4),
                                              "zero_shot": False} for j in np.flatnonzero(prob[row] >= thresholds)]
        if self.aligner is not None and self.aligner.tags:
            pct = self.aligner.zero_shot(feats["image"])
            threshold = float(self.aligner.group.extra.get("zero_shot", {}).get("threshold", 0.9))
            for row in range(n):
                have = {t["tag"] for t in out[row]["tags"]}
                out[row]["tags"] += [{"tag": tag, "prob": round(float(pct[row, j]), 4), "zero_shot": True}
                                     for j, tag in enumerate(self.aligner.tags)
                                     if pct[row, j] >= threshold and tag not in have]
        for item in out:
            item["tags"].sort(key=lambda t: (t["zero_shot"], -t["prob"]))
        return out

    def tag_photos(self, photos: Sequence[str | Path]) -> list[dict[str, Any]]:
        """Embed photos (not necessarily indexed) and predict; raises `BadImageError` for a bad photo."""
        import torch

        from vsearch.catalog.images import load_image
        from vsearch.models.colour import colour_features

        if not photos:
            raise BadQueryError("no photos given")
        images = [load_image(p) for p in photos]
        batch = torch.stack([self.embedder.transform(im) for im in images])
        feats = {"image": self.embedder.encode_images(batch)}
        if "colour" in self.inputs:
            feats["colour"] = np.stack([colour_features(im) for im in images])
        if "stages" in self.inputs:
            from vsearch.models.stages import stage_features

            feats["stages"] = stage_features(self.embedder, batch)
        if "tuned" in self.inputs:
            feats["tuned"] = self._tuned_extractor().features(batch)
        return [{"photo": str(p), **r} for p, r in zip(photos, self.predict(feats))]


def write_tags(tagger: Tagger, index_dir: str | Path | None = None) -> dict[str, Any]:
    """Tag every indexed product and merge the predictions into its metadata, in one transaction.

    Keys written: `tag_<attribute>` (label), `tags` (trained tags, ';'-separated) and `style_tags`
    (zero-shot tags). A product with several photos is tagged from the mean of its photos.
    """
    from vsearch.index.search import combine_queries
    from vsearch.index.store import Store
    from vsearch.tags.features import load_features

    index_dir = Path(index_dir) if index_dir is not None else tagger.index_dir
    if index_dir is None:
        raise BadQueryError("--write needs --index")
    check_backbone(tagger.stamp, backbone_stamp(read_manifest(index_dir)), "heads")
    with Store(index_dir / STORE) as store:
        feats = load_features(store, tagger.inputs, tuned_id=(tagger.finetuned or {}).get("id"),
                              embedder=lambda: tagger.embedder)
        rows_of: dict[str, list[int]] = {}
        for i, pid in enumerate(feats.ids):
            rows_of.setdefault(pid, []).append(i)
        pids = list(rows_of)
        per_product = {kind: np.stack([combine_queries(part[rows_of[p]]) if kind == "image"
                                       else part[rows_of[p]].mean(axis=0) for p in pids])
                       for kind, part in feats.parts.items()}
        preds = tagger.predict(per_product)
        metas = store.get_products(pids)
        updated = {}
        for pid, meta, pred in zip(pids, metas, preds):
            meta = dict(meta or {})
            meta.update({f"tag_{name}": a["label"] for name, a in pred["attributes"].items()})
            meta["tags"] = ";".join(t["tag"] for t in pred["tags"] if not t["zero_shot"])
            meta["style_tags"] = ";".join(t["tag"] for t in pred["tags"] if t["zero_shot"])
            updated[pid] = meta
        store.put_products(updated)
    return {"index": str(index_dir), "products": len(updated), "attributes": sorted(preds[0]["attributes"]) if preds
            else [], "groups": sorted(tagger.groups)}
