"""Photo -> normalised CHW float tensor, as `PreprocessCfg` says."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from vsearch.models.base import PreprocessCfg

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


def resize_image(image: Image.Image, cfg: PreprocessCfg) -> Image.Image:
    """Bring `image` to `cfg.size` x `cfg.size` by the configured resize mode."""
    size, resample = cfg.size, _RESAMPLE[cfg.interpolation]
    if cfg.resize == "squash":
        return image.resize((size, size), resample, reducing_gap=3.0)
    if cfg.resize == "pad":
        return ImageOps.pad(image, (size, size), method=resample, color=(255, 255, 255))
    scaled = int(round(size / cfg.crop_pct))
    return _resize_crop(image, size, scaled, resample)


def _resize_crop(image: Image.Image, size: int, scaled: int, resample: Image.Resampling) -> Image.Image:
    width, height = image.size
    ratio = scaled / min(width, height)
    image = image.resize((max(size, round(width * ratio)), max(size, round(height * ratio))), resample)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: Image.Image, cfg: PreprocessCfg) -> torch.Tensor:
    """Resize and normalise: `[3, size, size]` float32."""
    arr = np.asarray(resize_image(image, cfg), dtype=np.float32) / 255.0
    mean = np.asarray(cfg.mean, dtype=np.float32)
    std = np.asarray(cfg.std, dtype=np.float32)
    return torch.from_numpy(((arr - mean) / std).transpose(2, 0, 1).copy())
