"""Decode any image file a shop may have into a clean RGB picture, or say why it cannot.

Catalogues hold CMYK JPEGs, 16-bit PNGs, palette images with transparency, animated GIFs and
phone photos rotated by an EXIF tag. Each becomes an upright 8-bit RGB image here, so the models
see the same thing a person does. Files that cannot be used raise `BadImageError` with the reason.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vsearch.core.errors import BadImageError

MIN_SIDE = 8
"""Images smaller than this on a side carry no usable detail."""

MAX_PIXELS = 120_000_000
"""Larger images are refused unless they are JPEGs, which are decoded at reduced size."""

DECODE_SIDE = 1024
"""JPEGs are decoded at no less than this size (DCT scaling), far more than any model needs."""


def load_image(path: str | Path, decode_side: int = DECODE_SIDE) -> Image.Image:
    """Open `path` as an upright RGB image.

    Args:
        path: image file.
        decode_side: JPEGs larger than this are decoded at reduced scale (at least this size).

    Raises:
        BadImageError: missing, empty, truncated, not an image, too small or too large.
    """
    path = Path(path)
    if path.is_dir():
        raise BadImageError(f"{path}: a folder, not a photo")
    if not path.is_file():
        raise BadImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return _to_rgb(im, path, decode_side)
    except BadImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImageError(f"{path}: image too large ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = "not an image" if isinstance(exc, Image.UnidentifiedImageError) else f"cannot decode: {exc}"
        raise BadImageError(f"{path}: {reason}") from None


def _to_rgb(im: Image.Image, path: Path, decode_side: int) -> Image.Image:
    width, height = im.size
    if min(width, height) < MIN_SIDE:
        raise BadImageError(f"{path}: too small ({width}x{height})")
    if im.format == "JPEG":
        im.draft("RGB", (decode_side, decode_side))  # decode big photos at 1/2, 1/4 or 1/8 scale
    elif width * height > MAX_PIXELS:
        raise BadImageError(f"{path}: too large ({width}x{height})")
    if getattr(im, "is_animated", False):
        im.seek(0)
    im.load()
    im = ImageOps.exif_transpose(im) or im
    return _flatten(im)


def _flatten(im: Image.Image) -> Image.Image:
    """8-bit RGB; transparency composited on white, the background of shop photos."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")
