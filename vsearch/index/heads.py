"""Small heads on frozen backbone features, and their checkpoints.

A head group (`attributes`, `tags`, `align`) is one file `<index>/heads/<group>.pt` with a readable
`<group>.json` beside it. Each checkpoint carries its label maps, the features it reads and the
backbone stamp (model, weights, dim) of the index it was trained on: loading it against another
backbone raises `IndexMismatchError`, because its weights mean nothing in another vector space.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsearch.core.atomic import atomic_path, atomic_write_text
from vsearch.core.errors import IndexMismatchError, IndexMissingError
from vsearch.index.manifest import Manifest

_logger = logging.getLogger(__name__)

HEADS_FORMAT = 1
GROUPS = ("attributes", "tags", "align")


@dataclass
class HeadSpec:
    """What one head predicts and how it was trained.

    Attributes:
        name: attribute column, "tags", or "align".
        task: "multiclass", "multilabel" or "align".
        labels: class (or tag) names, index = output unit.
        inputs: feature kinds concatenated as input, in order ("image", "colour", "text").
        in_dim, out_dim, hidden: layer sizes (hidden 0: a linear head).
        source: where the labels came from ("column:articleType", "rules:title-rules-v1", "file:tags.csv").
        thresholds: per-tag decision thresholds (multilabel), calibrated on the validation split.
        metrics: validation/test figures measured at training time.
    """

    name: str
    task: str
    labels: list[str]
    inputs: list[str]
    in_dim: int
    out_dim: int
    hidden: int = 0
    dropout: float = 0.0
    source: str = ""
    thresholds: list[float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class Head(torch.nn.Module):
    """Standardise the input (train-set mean/std buffers), then a linear layer or a one-hidden-layer MLP."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        if hidden > 0:
            self.net: torch.nn.Module = torch.nn.Sequential(
                torch.nn.Dropout(dropout / 2), torch.nn.Linear(in_dim, hidden), torch.nn.GELU(),
                torch.nn.Dropout(dropout), torch.nn.Linear(hidden, out_dim))
        else:
            self.net = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(in_dim, out_dim))

    def set_standardisation(self, x: np.ndarray) -> None:
        """Use the mean/std of `[n, in_dim]` training inputs (std floored so constant features stay finite)."""
        self.mean.copy_(torch.from_numpy(x.mean(axis=0).astype(np.float32)))
        self.std.copy_(torch.from_numpy(np.maximum(x.std(axis=0), 1e-3).astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """`[n, in_dim]` -> float32 `[n, out_dim]` raw outputs (logits), in eval mode, no grad."""
        self.eval()
        with torch.inference_mode():
            return self(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()


def build_head(spec: HeadSpec) -> Head:
    return Head(spec.in_dim, spec.out_dim, spec.hidden, spec.dropout)


@dataclass
class HeadGroup:
    """Heads trained together on one index; `extra` holds group data (align prompts, quantiles...)."""

    group: str
    backbone: dict[str, Any]
    heads: dict[str, tuple[HeadSpec, Head]]
    extra: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def check_backbone(self, stamp: dict[str, Any]) -> None:
        """Raise `IndexMismatchError` unless `stamp` names the backbone these heads were trained on."""
        check_backbone(self.backbone, stamp, f"{self.group} heads")


def backbone_stamp(manifest: Manifest) -> dict[str, Any]:
    """The part of an index manifest a head depends on."""
    return {"model": manifest.model, "weights_id": manifest.weights_id, "dim": manifest.dim}


def check_backbone(trained: dict[str, Any], actual: dict[str, Any], what: str = "heads") -> None:
    for key in ("model", "weights_id", "dim"):
        if trained.get(key) != actual.get(key):
            raise IndexMismatchError(
                f"{what} were trained on {trained.get('model')} ({trained.get('weights_id')}, dim "
                f"{trained.get('dim')}), not {actual.get('model')} ({actual.get('weights_id')}, dim "
                f"{actual.get('dim')}); retrain them on this index with `vsearch train`")


def save_group(path: str | Path, group: HeadGroup) -> None:
    """Write the checkpoint and its JSON summary, each atomically."""
    from vsearch.index.manifest import now_iso

    path = Path(path)
    group.created = group.created or now_iso()
    extra = {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
             for k, v in group.extra.items()}
    payload = {"format": HEADS_FORMAT, "group": group.group, "backbone": group.backbone, "created": group.created,
               "extra": extra,
               "heads": {name: {"spec": asdict(spec), "state": head.state_dict()}
                         for name, (spec, head) in group.heads.items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    summary = {"format": HEADS_FORMAT, "group": group.group, "backbone": group.backbone, "created": group.created,
               "heads": {name: asdict(spec) for name, (spec, _) in group.heads.items()},
               "extra": {k: v for k, v in group.extra.items() if not isinstance(v, np.ndarray | torch.Tensor)}}
    atomic_write_text(path.with_suffix(".json"), json.dumps(summary, indent=1, ensure_ascii=False, default=_json))
    _logger.info("saved %s heads to %s", group.group, path)


def _json(obj: object) -> object:
    if isinstance(obj, np.ndarray | torch.Tensor):
        return f"<array {tuple(obj.shape)}>"
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_group(path: str | Path, backbone: dict[str, Any] | None = None) -> HeadGroup:
    """Read a head group; with `backbone`, refuse heads trained on another one.

    Raises:
        IndexMissingError: no checkpoint at `path`, or an unreadable one.
        IndexMismatchError: trained on another backbone than `backbone`.
    """
    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no trained heads at {path}: train them with `vsearch train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only
    except Exception as exc:  # torch raises many error types for a corrupt or foreign file
        raise IndexMissingError(f"unreadable heads checkpoint {path}: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != HEADS_FORMAT:
        raise IndexMissingError(f"{path} is not a vsearch heads checkpoint (format {HEADS_FORMAT})")
    heads = {}
    for name, item in payload["heads"].items():
        spec = HeadSpec(**item["spec"])
        head = build_head(spec)
        head.load_state_dict(item["state"])
        head.eval()
        heads[name] = (spec, head)
    group = HeadGroup(payload["group"], payload["backbone"], heads, payload.get("extra", {}),
                      payload.get("created", ""))
    if backbone is not None:
        group.check_backbone(backbone)
    return group
