"""The fine-tuned backbone, split in two: the frozen trunk and the trained tail, and features of new photos.

`vsearch.tags.finetune` trains the tail; this module holds what inference needs as well (`vsearch tag` reads
the tail checkpoint saved with the attribute heads), so tagging never imports the training code.
Works for timm EfficientNet-family backbones (conv_stem, bn1, blocks, conv_head, bn2), which includes the
bundled EfficientNet-Lite models.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vsearch.core.errors import BadQueryError

if TYPE_CHECKING:
    from vsearch.models.timm_backend import VisionEmbedder

TUNED_KIND = "tuned"
"""Store vector kind of the tuned tail's pooled features, keyed by photo source like the image vectors."""
_PARTS = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")
ALL_BLOCKS = -1
"""`FinetuneConfig.blocks` value that trains every block stage and the stem."""


def stages_to_train(model: torch.nn.Module, name: str, blocks: int) -> int:
    """How many block stages `blocks` means for this backbone (`ALL_BLOCKS` -> all); raises on a bad value."""
    missing = [p for p in _PARTS if not hasattr(model, p)]
    if missing:
        raise BadQueryError(f"fine-tuning needs a timm EfficientNet-family backbone (conv_stem, blocks, conv_head); "
                            f"{name} has no {', '.join(missing)}")
    stages = len(model.blocks)  # type: ignore[arg-type]
    if blocks == ALL_BLOCKS:
        return stages
    if not 1 <= blocks <= stages:
        raise BadQueryError(f"--finetune-blocks must be between 1 and {stages} (or all) for {name}")
    return blocks


class Trunk(torch.nn.Module):
    """The frozen part: stem and all block stages but the last `blocks` (shares the backbone's modules).

    Nothing (the identity) when every stage is trained: the stem is then trained too.
    """

    def __init__(self, model: torch.nn.Module, blocks: int) -> None:
        super().__init__()
        self.whole = blocks >= len(model.blocks)  # type: ignore[arg-type]
        self.part = torch.nn.Identity() if self.whole else torch.nn.Sequential(
            model.conv_stem, model.bn1, *list(model.blocks)[:-blocks])  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.part(x)


class Tail(torch.nn.Module):
    """The trained part: a copy of the last `blocks` stages (and of the stem when that is all of them), the
    conv head and its norm; output pooled `[n, C]`."""

    def __init__(self, model: torch.nn.Module, blocks: int) -> None:
        super().__init__()
        self.whole = blocks >= len(model.blocks)  # type: ignore[arg-type]
        self.stem = (copy.deepcopy(torch.nn.Sequential(model.conv_stem, model.bn1))  # type: ignore[arg-type]
                     if self.whole else torch.nn.Identity())
        self.blocks = copy.deepcopy(torch.nn.Sequential(*list(model.blocks)[-blocks:]))  # type: ignore[call-overload]
        self.conv_head, self.bn2 = copy.deepcopy(model.conv_head), copy.deepcopy(model.bn2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(self.stem(x)))).mean(dim=(2, 3))


class TunedExtractor:
    """Tuned features of new photos: the embedder's frozen trunk, then the fine-tuned tail (photo + mirror)."""

    def __init__(self, embedder: VisionEmbedder, checkpoint: dict[str, Any]) -> None:
        blocks = stages_to_train(embedder.model, embedder.name, int(checkpoint["blocks"]))
        self.embedder = embedder
        self.trunk = Trunk(embedder.model, blocks)
        self.tail = Tail(embedder.model, blocks)
        self.tail.load_state_dict(checkpoint["state"])
        self.tail.to(embedder.device).eval()

    def features(self, batch: torch.Tensor) -> np.ndarray:
        """`[n, 3, H, W]` normalised pixels -> float32 `[n, C]` tuned features."""
        x = batch.to(self.embedder.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.embedder.autocast():
            a, b = self.tail(self.trunk(x)), self.tail(self.trunk(torch.flip(x, dims=[3])))
        return ((a.float() + b.float()) / 2).cpu().numpy()
