"""Pixel colour statistics of a product photo, beside the CNN embedding for colour attributes.

ImageNet features are built to ignore colour, so a head on them alone confuses navy with black.
Shop photos sit on plain backgrounds (white, sometimes grey): the background colour is read from
the photo's border, and histograms over the pixels that differ from it say what colour the product
is. One decode + a few histograms per photo; no model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vsearch.catalog.images import load_image
from vsearch.core.errors import BadImageError

_logger = logging.getLogger(__name__)

COLOUR_KIND = "colour"
"""Store vector kind of these features, keyed by the same photo source path as the image vectors."""
COLOUR_VERSION = "colour-v2"
SIDE = 64
BACKGROUND_DISTANCE = 12
"""A pixel within this (max channel difference, 0-255) of the border's median colour is background."""
HUE_BINS, SAT_BINS, VAL_BINS, GREY_BINS = 18, 2, 2, 8
LAB_BINS = (4, 5, 5)
COLOUR_DIM = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS + 64 + LAB_BINS[0] * LAB_BINS[1] * LAB_BINS[2] + 3 * 3 + 1


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`[n, 3]` RGB in [0, 1] -> hue in [0, 1), saturation, value."""
    mx, mn = rgb.max(axis=1), rgb.min(axis=1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    hue = np.where(mx == r, (g - b) / safe % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    hue = np.where(delta > 0, hue, 0.0) % 1.0
    sat = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return hue, sat, mx


def _lab(rgb: np.ndarray) -> np.ndarray:
    """`[n, 3]` sRGB in [0, 1] -> CIE Lab (D65), L in [0, 100]."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def colour_features(image: Image.Image) -> np.ndarray:
    """float32 `[COLOUR_DIM]`: colour histograms and Lab moments of the non-background pixels.

    Parts: hue x saturation x value histogram of chromatic pixels, value histogram of grey pixels
    (both as fractions of the foreground, square-rooted), 4x4x4 RGB and 4x5x5 Lab histograms, Lab mean and std
    (scaled to about unit range), Lab of the darkest/most saturated decile, and the foreground fraction.
    """
    small = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float64)
    border = np.concatenate([small[:2].reshape(-1, 3), small[-2:].reshape(-1, 3), small[:, :2].reshape(-1, 3),
                             small[:, -2:].reshape(-1, 3)])
    px = small.reshape(-1, 3)
    fg = np.abs(px - np.median(border, axis=0)).max(axis=1) > BACKGROUND_DISTANCE
    if fg.sum() < 0.02 * len(px):  # a white product on white: use every pixel
        fg = np.ones(len(px), bool)
    rgb = px[fg] / 255.0
    hue, sat, val = _hsv(rgb)
    chroma = (sat >= 0.2) & (val >= 0.15)
    hbin = np.minimum((hue * HUE_BINS).astype(int), HUE_BINS - 1)
    sbin = (sat >= 0.55).astype(int)
    vbin = (val >= 0.6).astype(int)
    joint = np.bincount(((hbin * SAT_BINS + sbin) * VAL_BINS + vbin)[chroma],
                        minlength=HUE_BINS * SAT_BINS * VAL_BINS)
    grey = np.bincount(np.minimum((val[~chroma] * GREY_BINS).astype(int), GREY_BINS - 1), minlength=GREY_BINS)
    q = np.minimum((rgb * 4).astype(int), 3)
    rgb_hist = np.bincount((q[:, 0] * 4 + q[:, 1]) * 4 + q[:, 2], minlength=64)
    n = float(len(rgb))
    lab = _lab(rgb)
    scale = np.array([100.0, 100.0, 100.0])
    order = np.argsort(lab[:, 0])[: max(1, len(lab) // 10)]  # darkest decile: shading shows the true hue
    li = np.minimum((lab[:, 0] / 100 * LAB_BINS[0]).astype(int), LAB_BINS[0] - 1)
    ai = np.clip(((lab[:, 1] + 50) / 100 * LAB_BINS[1]).astype(int), 0, LAB_BINS[1] - 1)
    bi = np.clip(((lab[:, 2] + 50) / 100 * LAB_BINS[2]).astype(int), 0, LAB_BINS[2] - 1)
    lab_hist = np.bincount((li * LAB_BINS[1] + ai) * LAB_BINS[2] + bi, minlength=int(np.prod(LAB_BINS)))
    parts = [np.sqrt(joint / n), np.sqrt(grey / n), np.sqrt(rgb_hist / n), np.sqrt(lab_hist / n),
             lab.mean(axis=0) / scale,
             lab.std(axis=0) / scale, lab[order].mean(axis=0) / scale, [fg.mean()]]
    return np.concatenate([np.asarray(p, np.float64).ravel() for p in parts]).astype(np.float32)


def colour_features_of_paths(paths: Sequence[str | Path]) -> tuple[np.ndarray, list[int]]:
    """Features of many photos: (`[n_ok, COLOUR_DIM]`, positions of the photos that could be read)."""
    feats, ok = [], []
    for i, path in enumerate(paths):
        try:
            feats.append(colour_features(load_image(path, decode_side=256)))
            ok.append(i)
        except BadImageError as exc:
            _logger.warning("no colour features: %s", exc)
    return (np.stack(feats) if feats else np.zeros((0, COLOUR_DIM), np.float32)), ok
