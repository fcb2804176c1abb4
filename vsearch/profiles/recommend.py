"""Recommend groups and products to a shopper: the cosine of the shopper's tag profile with theirs (or, with
another `Scoring`, of embeddings or both).

A shopper is the products they liked (ids in the index) or photos they gave; their profile is the mean tag
vector of those, scored like a group profile. Each match carries the tags that explain it: tags in both
profiles, by their share of the cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.errors import BadQueryError, UnknownProductError
from vsearch.index.products import Products
from vsearch.profiles.profile import Matrices, Profiles, Scoring, explain, product_tags, scores, top_tags


def liked_rows(products: Products, ids: Sequence[str]) -> list[int]:
    """Rows of the liked products.

    Raises:
        UnknownProductError: an id the index lacks.
    """
    pos = products.position()
    unknown = [i for i in ids if i not in pos]
    if unknown:
        raise UnknownProductError(f"unknown product id(s): {', '.join(unknown)}")
    return [pos[i] for i in ids]


def photo_vectors(index_dir: str | Path, photos: Sequence[str | Path], device: str | None = "cpu") -> np.ndarray:
    """`[n, d]` unit vectors of photos, embedded by the index's own backbone (raises BadImageError)."""
    import torch

    from vsearch.catalog.images import load_image
    from vsearch.index.heads import backbone_stamp
    from vsearch.index.manifest import read_manifest
    from vsearch.models.registry import create_index_embedder

    manifest = read_manifest(index_dir)
    embedder = create_index_embedder(backbone_stamp(manifest), resize=manifest.resize, device=device)
    batch = torch.stack([embedder.transform(load_image(p)) for p in photos])
    return np.asarray(embedder.encode_images(batch), np.float32)


def recommend(profiles: Profiles, products: Products, q_x: np.ndarray | None = None, *,
              liked: Sequence[int] = (), top: int = 10, top_products: int = 10, exclude: Sequence[str] = (),
              scoring: Scoring | None = None) -> dict[str, Any]:
    """Groups and products ranked for the shopper who liked the catalogue products at rows `liked` (read like every
    product: with their title and description) or gave photos with image vectors `q_x` `[n, d]` (image heads)."""
    model = profiles.model
    p_tags = product_tags(model, products)
    names = model.tag_names
    if liked:
        q_x, q_tags = products.x[list(liked)], p_tags[list(liked)].mean(axis=0, keepdims=True)
    elif q_x is not None and len(q_x):
        q_tags = model.tag_matrix(q_x).mean(axis=0, keepdims=True)
    else:
        raise BadQueryError("nothing liked: give product ids or photos")
    q_emb = q_x.mean(axis=0, keepdims=True)
    q_emb /= max(float(np.linalg.norm(q_emb)), 1e-12)
    q_z = profiles.z(q_tags)
    mats = profiles.matrices()
    g_z = mats.g_z
    s = scores(q_z, q_emb, mats, scoring or profiles.scoring)[0]
    results = [{"rank": r + 1, "group": profiles.groups[g], "score": round(float(s[g]), 4),
                "tags": explain(q_z[0], q_tags[0], g_z[g], profiles.tags[g], names)}
               for r, g in enumerate(np.argsort(-s)[:top])]
    p_z = profiles.z(p_tags)
    used = scoring or profiles.scoring
    each = Matrices(p_z, products.x, p_z, products.x, np.arange(len(p_z)))  # a product is its own profile
    ps = scores(q_z, q_emb, each, Scoring(used.mode, used.alpha, "mean"))[0]
    skip = set(exclude)
    by = profiles.by
    ranked = [int(i) for i in np.argsort(-ps) if products.ids[i] not in skip][:top_products]
    items = [{"rank": r + 1, "id": products.ids[i], "group": products.meta[i].get(by, ""),
              "score": round(float(ps[i]), 4), "tags": explain(q_z[0], q_tags[0], p_z[i], p_tags[i], names)}
             for r, i in enumerate(ranked)]
    return {"by": by, "scoring": used.__dict__, "query_tags": _query_tags(q_z[0], q_tags[0], names),
            "results": results, "products": items}


def _query_tags(z: np.ndarray, p: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    return [{"tag": t, "weight": round(float(p[names.index(t)]), 4)} for t in top_tags(z, p, names)]
