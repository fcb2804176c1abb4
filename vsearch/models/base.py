"""What every backbone offers the rest of vsearch: a picture transform and L2-normalised vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

ResizeMode = Literal["squash", "crop", "pad"]


@dataclass(frozen=True)
class PreprocessCfg:
    """How a photo becomes the model's input tensor.

    `squash` resizes to a square ignoring aspect (shop catalogues are often stored squashed, so a
    query squashed the same way lines up with them); `crop` is the classic resize + centre crop;
    `pad` keeps the aspect ratio and pads with white.
    """

    size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"
    resize: ResizeMode = "squash"
    crop_pct: float = 0.875


@runtime_checkable
class ImageEmbedder(Protocol):
    """An image backbone. `encode_images` returns float32 `[n, dim]` rows of unit length."""

    name: str
    dim: int
    weights_id: str
    device: str

    def transform(self, image: Image.Image) -> torch.Tensor: ...

    def encode_images(self, batch: torch.Tensor) -> np.ndarray: ...


@runtime_checkable
class TextEmbedder(Protocol):
    """A text model. `encode_texts` returns float32 `[n, dim]` rows of unit length."""

    name: str
    dim: int
    weights_id: str

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...
