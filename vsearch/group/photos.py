"""Offers read from an index (`vsearch group build --index`): each product's image vector and a thumbnail of its
photo, with titles, sellers and categories from the index's metadata columns.

Two photo signals, because one does not suffice: the backbone's cosine says two photos show alike things (a shop
image and a phone photo of one juice), but it cannot tell a product from a look-alike product (on products-224 +
products-small, a photo's other rendition scores median 0.76, the best *other* product 0.73). A 16x16 grayscale
thumbnail, mean removed, compares the picture itself: the same photo at another size or compression correlates
≥ 0.99 while different photos rarely do (eval/group/README.md, "Photos").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsearch.core.log import Progress, no_progress
from vsearch.group.errors import GroupError
from vsearch.group.features import neighbour_ranks
from vsearch.group.offers import Offers

THUMB_SIDE = 16
"""Thumbnail side in pixels: small enough to ignore resampling and JPEG noise, large enough to see the layout."""
PHOTO_FEATURES = ("sim_image", "thumb_corr", "image_rank_ij", "image_rank_ji")
"""Pair features of two offers' photos, appended after the title features (ranks as `features.neighbour_ranks`)."""
DUPLICATE_CORR = 0.99
"""Thumbnail correlation from which two photos count as one photo (chosen on train + val ids of products-224 +
products-small: 0.99 kept 0.987 of the twin renditions at precision 0.98; eval/group/README.md)."""


@dataclass
class Photos:
    """Per offer: `x[k]` its unit image vector (the index's backbone) and `thumb[k]` its unit, zero-mean
    thumbnail (a zero row where the photo could not be read)."""

    x: np.ndarray
    thumb: np.ndarray

    def subset(self, positions: list[int] | np.ndarray) -> Photos:
        return Photos(self.x[positions], self.thumb[positions])

    def concat(self, other: Photos) -> Photos:
        return Photos(np.concatenate([self.x, other.x]), np.concatenate([self.thumb, other.thumb]))

    def features(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """[n_pairs, len(PHOTO_FEATURES)] float32 of the pairs (i[p], j[p]): image cosine, thumbnail correlation
        and the rank of each among the other's scored pairs by image cosine."""
        sim = np.einsum("pd,pd->p", self.x[i], self.x[j]).astype(np.float32)
        r_ij, r_ji = neighbour_ranks(i, j, sim, len(self.x))
        return np.stack([sim, np.einsum("pd,pd->p", self.thumb[i], self.thumb[j]), r_ij, r_ji],
                        axis=1).astype(np.float32)


def thumbnail(path: str | Path, side: int = THUMB_SIDE) -> np.ndarray:
    """The photo as a `side * side` grayscale signature, mean removed, unit length (zeros for a flat photo).

    Raises:
        OSError: the photo cannot be read (PIL's own errors are OSError subclasses).
    """
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("L").resize((side, side), Image.Resampling.BOX)
    v = np.asarray(small, dtype=np.float32).ravel()
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-6 else np.zeros_like(v)


def thumbnails(paths: list[str], progress: Progress = no_progress) -> tuple[np.ndarray, list[str]]:
    """[n, side²] thumbnails of the photos and the paths that could not be read (their rows stay zero)."""
    out = np.zeros((len(paths), THUMB_SIDE * THUMB_SIDE), dtype=np.float32)
    bad = []
    for k, path in enumerate(paths):
        try:
            out[k] = thumbnail(path)
        except (OSError, ValueError):
            bad.append(path)
        if k % 256 == 0:
            progress("thumbnails", k, len(paths))
    progress("thumbnails", len(paths), len(paths))
    return out, bad


@dataclass(frozen=True)
class IndexSource:
    """Where photo offers come from: an index and the metadata columns read as title, seller and category."""

    index: str
    title: str | None = None
    seller: str | None = None
    category: str | None = None


def read_index_offers(source: IndexSource, exclude: set[str] | frozenset[str] = frozenset(),
                      progress: Progress = no_progress) -> tuple[Offers, Photos, list[str]]:
    """The products of an index (but those in `exclude`) as offers with photos; titles "" without a title column.

    A product with several photos is represented by the mean of their vectors and the thumbnail of its first.

    Returns:
        (offers, photos, photo paths that could not be read: those offers keep their image vector only).

    Raises:
        GroupError: no such index, a named column that no product has, an empty title.
    """
    from vsearch.core.errors import VsearchError
    from vsearch.index.products import load_products

    index_dir = Path(source.index)
    try:
        products = load_products(index_dir)
    except VsearchError as exc:
        raise GroupError(str(exc)) from None
    known = products.columns()
    for option, col in (("--title-column", source.title), ("--seller-column", source.seller),
                        ("--category-column", source.category)):
        if col is not None and col not in known:
            raise GroupError(f"index {index_dir}: no column '{col}' ({option}); columns are {', '.join(sorted(known))}")
    keep = [k for k, pid in enumerate(products.ids) if pid not in exclude]
    ids = [products.ids[k] for k in keep]

    def column(name: str | None) -> list[str]:
        return [" ".join(str(products.meta[k].get(name, "")).split()) if name else "" for k in keep]

    titles = column(source.title)
    empty = [oid for oid, t in zip(ids, titles) if source.title and not t]
    if empty:
        raise GroupError(f"index {index_dir}: product {empty[0]} has an empty '{source.title}' ({len(empty)} "
                         "products do)")
    thumbs, bad = thumbnails([products.photos[k] for k in keep], progress)
    offers = Offers(ids, titles, column(source.seller), column(source.category))
    return offers, Photos(products.x[keep], thumbs), bad
