"""Checks on uploaded photos before any decoding work: size, image type, pixel count (HTTP 413/415)."""

from __future__ import annotations

import io

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000


class UploadError(Exception):
    """A request refused with an HTTP status (413, 415, 422) and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def check_photo(data: bytes, name: str, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS) -> None:
    """Raise `UploadError` unless `data` is an image of acceptable size (reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise UploadError(413, f"{name}: {len(data)} bytes is over the {max_bytes} byte limit")
    if not data:
        raise UploadError(415, f"{name}: empty file, not an image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise UploadError(415, f"{name}: not an image") from None
    except Image.DecompressionBombError:
        raise UploadError(413, f"{name}: over {max_pixels} pixels") from None
    if width * height > max_pixels:
        raise UploadError(413, f"{name}: {width}x{height} is over {max_pixels} pixels")
