"""Camera-like views of a clean catalogue photo: what a shopper's phone makes of the same product.

Why: most catalogues have one clean packshot per product and no real photo of it; metric learning needs
several views of each product, so they are synthesised: the product shrunk onto a cluttered background
(other catalogue photos as shelf neighbours), a perspective warp, a crop, blur, glare, a shadow, a colour cast,
low resolution and JPEG loss. Deterministic for a given `numpy.random.Generator`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _clutter(image: Image.Image, neighbours: Sequence[Image.Image], rng: np.random.Generator) -> Image.Image:
    """The product at 55-85% size in front of a background tiled from other catalogue photos."""
    w, h = image.size
    canvas = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(60, 230, 3)))
    for n in neighbours:
        s = rng.uniform(0.4, 0.9)
        tile = n.resize((max(1, int(w * s)), max(1, int(h * s))))
        canvas.paste(tile, (int(rng.integers(-w // 3, w)), int(rng.integers(-h // 3, h))))
    s = rng.uniform(0.55, 0.85)
    fg = image.resize((max(1, int(w * s)), max(1, int(h * s))))
    canvas.paste(fg, (int(rng.integers(0, w - fg.width + 1)), int(rng.integers(0, h - fg.height + 1))))
    return canvas


def _perspective(image: Image.Image, rng: np.random.Generator, strength: float = 0.15) -> Image.Image:
    w, h = image.size
    quad = np.array([0, 0, 0, h, w, h, w, 0], float) + rng.uniform(-strength, strength, 8) * np.tile([w, h], 4)
    return image.transform((w, h), Image.Transform.QUAD, tuple(quad), Image.Resampling.BICUBIC,
                           fillcolor=tuple(int(c) for c in rng.integers(80, 220, 3)))


def _crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = image.size
    s = rng.uniform(0.65, 0.95)
    cw, ch = int(w * s), int(h * rng.uniform(s * 0.9, min(1.0, s * 1.1)))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return image.crop((x, y, x + cw, y + ch))


def _glare(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A soft white ellipse: the reflection of shop lights on plastic or glass."""
    w, h = image.size
    mask = Image.new("L", (w, h), 0)
    cx, cy, rx, ry = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.25) * w, rng.uniform(0.05, 0.2) * h
    ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=int(rng.integers(120, 230)))
    mask = mask.filter(ImageFilter.GaussianBlur(max(rx, ry) / 3))
    return Image.composite(Image.new("RGB", (w, h), (255, 255, 255)), image, mask)


def _shadow_and_cast(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A brightness gradient across the photo and a per-channel colour cast (fridge light, warm bulbs)."""
    arr = np.asarray(image, np.float32)
    h, w = arr.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * np.linspace(-1, 1, w)[None, :] + np.sin(angle) * np.linspace(-1, 1, h)[:, None]
    arr = arr * (1 + rng.uniform(0, 0.35) * ramp)[:, :, None] * rng.uniform(0.8, 1.15, 3) * rng.uniform(0.75, 1.15)
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def _degrade(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Blur, low resolution and JPEG loss."""
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.8)))
    if rng.random() < 0.5:
        w, h = image.size
        s = rng.uniform(0.25, 0.6)
        image = image.resize((max(8, int(w * s)), max(8, int(h * s))), Image.Resampling.BILINEAR).resize((w, h))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=int(rng.integers(35, 90)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def camera_view(image: Image.Image, rng: np.random.Generator,
                neighbours: Sequence[Image.Image] = ()) -> Image.Image:
    """One random camera-like view of `image` (RGB); `neighbours` are other products' photos for clutter."""
    view = image.convert("RGB")
    if neighbours and rng.random() < 0.5:
        view = _clutter(view, neighbours, rng)
    if rng.random() < 0.7:
        view = _perspective(view, rng)
    if rng.random() < 0.7:
        view = _crop(view, rng)
    if rng.random() < 0.3:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        view = _glare(view, rng)
    view = _shadow_and_cast(view, rng)
    return _degrade(view, rng)
