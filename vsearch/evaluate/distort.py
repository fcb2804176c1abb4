"""Seeded phone-camera distortions of a catalogue photo: synthetic query views for protocol 2.

Each kind imitates one thing a phone photo of a product in a shop does to it. The same (seed,
product, kind, view) always gives the same picture, so reports are reproducible. These are
synthetic views, not a real multi-view benchmark; the suite compares them with real phone photos.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

KINDS = ("perspective", "rotation", "crop", "clutter", "lighting", "blur", "jpeg", "combined")


def view_rng(seed: int, product_id: str, kind: str, view: int) -> np.random.Generator:
    """A generator that depends only on its arguments (crc32 of strings, not Python's salted hash)."""
    return np.random.default_rng([seed, zlib.crc32(product_id.encode()), KINDS.index(kind), view])


def _shelf_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    base = int(rng.integers(60, 200))
    return tuple(int(np.clip(base + rng.integers(-25, 26), 0, 255)) for _ in range(3))  # type: ignore[return-value]


def perspective(im: Image.Image, rng: np.random.Generator, strength: float = 1.0) -> Image.Image:
    """Tilt: the four corners move inwards by up to 22% of the side, as when the phone is not square on."""
    w, h = im.size
    d = 0.22 * strength
    dst = [(rng.uniform(0, d) * w, rng.uniform(0, d) * h), (w - rng.uniform(0, d) * w, rng.uniform(0, d) * h),
           (w - rng.uniform(0, d) * w, h - rng.uniform(0, d) * h), (rng.uniform(0, d) * w, h - rng.uniform(0, d) * h)]
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    coeffs = _perspective_coeffs(dst, src)
    return im.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                        fillcolor=_shelf_colour(rng))


def _perspective_coeffs(dst: Sequence[tuple[float, float]], src: Sequence[tuple[float, float]]) -> list[float]:
    """PIL's 8 coefficients mapping output points `dst` back to input points `src`."""
    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    rhs = np.array([c for point in src for c in point], dtype=np.float64)
    return np.linalg.solve(np.array(rows, dtype=np.float64), rhs).tolist()


def rotation(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """In-plane rotation of 8-30 degrees either way, the frame filled with a shelf colour."""
    angle = float(rng.uniform(8, 30) * rng.choice([-1, 1]))
    out = im.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=_shelf_colour(rng))
    return out.resize(im.size, Image.Resampling.BICUBIC)


def crop(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Off-centre framing: keep 45-75% of the area, anywhere in the photo, scaled back up."""
    w, h = im.size
    area = rng.uniform(0.45, 0.75)
    aspect = rng.uniform(0.8, 1.25)
    cw, ch = min(w, int(round(w * np.sqrt(area * aspect)))), min(h, int(round(h * np.sqrt(area / aspect))))
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return im.crop((left, top, left + cw, top + ch)).resize(im.size, Image.Resampling.BICUBIC)


def clutter(im: Image.Image, rng: np.random.Generator, distractors: Sequence[Image.Image] = ()) -> Image.Image:
    """The product small and off-centre among other products (crops of `distractors`) or shelf blocks."""
    w, h = im.size
    canvas = Image.new("RGB", (w, h), _shelf_colour(rng))
    for _ in range(int(rng.integers(6, 12))):
        tw, th = int(w * rng.uniform(0.25, 0.55)), int(h * rng.uniform(0.25, 0.55))
        if distractors:
            tile = distractors[int(rng.integers(len(distractors)))].resize((tw, th), Image.Resampling.BILINEAR)
        else:
            tile = Image.new("RGB", (tw, th), tuple(int(c) for c in rng.integers(0, 256, 3)))
        canvas.paste(tile, (int(rng.integers(-tw // 3, w - tw // 2)), int(rng.integers(-th // 3, h - th // 2))))
    scale = rng.uniform(0.5, 0.72)
    pw, ph = int(w * scale), int(h * scale)
    canvas.paste(im.resize((pw, ph), Image.Resampling.BICUBIC),
                 (int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))))
    return canvas


def lighting(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Shop light: brightness, contrast, white balance and a brightness gradient across the frame."""
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.55, 1.45))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.6, 1.3))
    arr = np.asarray(im, dtype=np.float32)
    temp = rng.uniform(-0.15, 0.15)
    arr = arr * np.array([1 + temp, 1.0, 1 - temp], np.float32)
    ramp = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.3), arr.shape[1], dtype=np.float32)
    arr = arr * (ramp[None, :, None] if rng.random() < 0.5 else ramp[:, None, None][: arr.shape[0]])
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def blur(im: Image.Image, rng: np.random.Generator, strength: float = 1.0) -> Image.Image:
    """Out of focus (Gaussian) or hand shake (a short line kernel)."""
    side = min(im.size)
    if rng.random() < 0.5:
        return im.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.008, 0.018) * side * strength)))
    kernel = np.zeros((5, 5), np.float32)
    if rng.random() < 0.5:
        kernel[2, :] = 1
    else:
        np.fill_diagonal(kernel, 1)
    blurred = im.filter(ImageFilter.Kernel((5, 5), kernel.ravel().tolist(), scale=5))
    return blurred.filter(ImageFilter.GaussianBlur(radius=0.004 * side * strength))


def jpeg(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Sensor noise, then strong JPEG compression."""
    arr = np.asarray(im, dtype=np.float32)
    arr = arr + rng.normal(0, rng.uniform(4, 12), arr.shape).astype(np.float32)
    noisy = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    noisy.save(buf, format="JPEG", quality=int(rng.integers(12, 35)))
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def combined(im: Image.Image, rng: np.random.Generator, distractors: Sequence[Image.Image] = ()) -> Image.Image:
    """A whole phone photo: mild tilt, clutter, light, mild blur, noise and JPEG."""
    im = perspective(im, rng, strength=0.5)
    im = clutter(im, rng, distractors) if rng.random() < 0.7 else crop(im, rng)
    im = lighting(im, rng)
    im = blur(im, rng, strength=0.5)
    return jpeg(im, rng)


_SIMPLE: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "perspective": perspective, "rotation": rotation, "crop": crop, "lighting": lighting, "blur": blur, "jpeg": jpeg,
}


def distort(im: Image.Image, kind: str, rng: np.random.Generator,
            distractors: Sequence[Image.Image] = ()) -> Image.Image:
    """One synthetic phone view of `im` (RGB) of the given kind; same rng state -> same picture."""
    im = im.convert("RGB")
    if kind == "clutter":
        return clutter(im, rng, distractors)
    if kind == "combined":
        return combined(im, rng, distractors)
    if kind not in _SIMPLE:
        raise ValueError(f"unknown distortion '{kind}'; known: {', '.join(KINDS)}")
    return _SIMPLE[kind](im, rng)
