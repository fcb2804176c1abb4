"""Profiles of groups: the mean tag vector and mean embedding of up to 8 representative products; scoring.

Tag vectors are compared standardised by the catalogue's tag mean and spread (z-scores): every product is
"Pattern: Solid" with some probability, so raw cosines would say every group is like every other. A profile's
tags are the ones it has more of than the catalogue (z > 0), strongest first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.atomic import atomic_path
from vsearch.core.errors import BadQueryError, IndexMismatchError, IndexMissingError
from vsearch.core.log import Progress, no_progress
from vsearch.index.products import Products
from vsearch.profiles.heads import TagModel, model_from_arrays
from vsearch.profiles.select import representatives

PROFILES_VERSION = 1
MODES = ("tags", "embedding", "both")


MATCHES = ("mean", "nearest")


@dataclass
class Scoring:
    """How a query is matched to profiles.

    Attributes:
        mode: "tags" (cosine of standardised tag vectors), "embedding" (cosine of image vectors) or "both"
            (`alpha` * tags + (1 - alpha) * embedding).
        match: "mean" compares with the profile's mean vector; "nearest" with its closest representative (a
            group that sells shoes and bags is near a shoe and near a bag, not near their average).
    """

    mode: str = "tags"
    alpha: float = 0.5
    match: str = "mean"


@dataclass
class Matrices:
    """What queries are scored against: per group `[G, *]` means, per representative `[M, *]` rows and their group."""

    g_z: np.ndarray
    g_emb: np.ndarray
    m_z: np.ndarray
    m_emb: np.ndarray
    m_group: np.ndarray


@dataclass
class Profiles:
    """Profiles of every group of one column, with the heads and catalogue statistics they were made with.

    Attributes:
        tags: `[G, T]` mean tag probabilities of each group's representatives (`model.tag_names` order).
        emb: `[G, D]` unit mean image vector of each group's representatives.
        tag_mean, tag_std: `[T]` catalogue statistics that standardise tag vectors.
        members: the representative product ids of each group; sizes: products per group.
    """

    by: str
    groups: list[str]
    members: list[list[str]]
    sizes: list[int]
    tags: np.ndarray
    emb: np.ndarray
    tag_mean: np.ndarray
    tag_std: np.ndarray
    model: TagModel
    m_tags: np.ndarray
    m_emb: np.ndarray
    m_group: np.ndarray
    scoring: Scoring = field(default_factory=Scoring)

    def matrices(self) -> Matrices:
        return Matrices(self.z(self.tags), self.emb, self.z(self.m_tags), self.m_emb, self.m_group)

    def z(self, tags: np.ndarray) -> np.ndarray:
        return (np.asarray(tags, np.float32) - self.tag_mean) / self.tag_std

    def group_index(self, group: str) -> int:
        try:
            return self.groups.index(group)
        except ValueError:
            close = [g for g in self.groups if g.lower() == group.lower()]
            if close:
                return self.groups.index(close[0])
            raise BadQueryError(f"unknown {self.by} '{group}' ({len(self.groups)} groups profiled)") from None


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`[n, m]` cosine of rows of `a` `[n, d]` with rows of `b` `[m, d]` (0 for a zero row)."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def _nearest(s: np.ndarray, m_group: np.ndarray, n_groups: int) -> np.ndarray:
    """`[n, M]` scores with representatives -> `[n, G]` best score per group."""
    out = np.full((len(s), n_groups), -np.inf, np.float32)
    for g in range(n_groups):
        cols = m_group == g
        if cols.any():
            out[:, g] = s[:, cols].max(axis=1)
    return out


def scores(q_z: np.ndarray, q_emb: np.ndarray, mats: Matrices, scoring: Scoring) -> np.ndarray:
    """`[n, G]` match of n queries (standardised tag vectors `[n, T]`, unit embeddings `[n, D]`) with G profiles."""
    if scoring.mode not in MODES:
        raise BadQueryError(f"unknown scoring mode '{scoring.mode}'; modes: {', '.join(MODES)}")
    if scoring.match not in MATCHES:
        raise BadQueryError(f"unknown match '{scoring.match}'; matches: {', '.join(MATCHES)}")
    alpha = {"tags": 1.0, "embedding": 0.0}.get(scoring.mode, scoring.alpha)
    if scoring.match == "mean":
        tag_s = cosine(q_z, mats.g_z) if alpha > 0 else 0.0
        emb_s = cosine(q_emb, mats.g_emb) if alpha < 1 else 0.0
        return alpha * tag_s + (1 - alpha) * emb_s
    tag_s = cosine(q_z, mats.m_z) if alpha > 0 else 0.0
    emb_s = cosine(q_emb, mats.m_emb) if alpha < 1 else 0.0
    return _nearest(alpha * tag_s + (1 - alpha) * emb_s, mats.m_group, len(mats.g_z))


MIN_WEIGHT = 0.1
"""A profile has a tag only when its mean probability reaches this (1 of 8 representatives, roughly)."""


def top_tags(z: np.ndarray, p: np.ndarray, names: list[str], k: int = 12) -> list[str]:
    """The profile's tags: of those with probability `p` >= MIN_WEIGHT, the `k` most above the catalogue
    (z > 0), strongest first."""
    order = [int(j) for j in np.argsort(-z) if z[j] > 0 and p[j] >= MIN_WEIGHT]
    return [names[j] for j in order[:k]]


def explain(q_z: np.ndarray, q_p: np.ndarray, g_z: np.ndarray, g_p: np.ndarray, names: list[str], k: int = 12,
            n: int = 5) -> list[str]:
    """Tags in both profiles' tags (`top_tags`), ordered by their share of the cosine; at most `n`.

    Args:
        q_z, g_z: `[T]` standardised tag vectors; q_p, g_p: `[T]` tag probabilities.
    """
    both = set(top_tags(q_z, q_p, names, k)) & set(top_tags(g_z, g_p, names, k))
    contrib = q_z * g_z
    return sorted(both, key=lambda t: -contrib[names.index(t)])[:n]


def profile_matrices(tag_rows: np.ndarray, x: np.ndarray, members: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """`[G, T]` mean tag vectors and `[G, D]` unit mean embeddings of each group's member rows."""
    tags = np.stack([tag_rows[m].mean(axis=0) for m in members]).astype(np.float32)
    emb = np.stack([x[m].mean(axis=0) for m in members]).astype(np.float32)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return tags, emb


def product_descriptions(model: TagModel, products: Products) -> list[str] | None:
    """Each product's description for the model's description heads (None when it has none to read)."""
    column = model.description_column
    return products.column(column) if column and column in products.columns() else None


def product_tags(model: TagModel, products: Products) -> np.ndarray:
    """`[n, T]` tag vector of every product, read with its title and description where the model has heads for
    them."""
    model.check_backbone(products.backbone)
    model.check_text(products.text)
    return model.tag_matrix(products.x, products.t, product_descriptions(model, products))


def group_rows(values: list[str], min_size: int = 1) -> dict[str, np.ndarray]:
    """Group value -> row indices, for groups with `min_size`+ products (rows without a value are left out)."""
    rows: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        if v:
            rows.setdefault(v, []).append(i)
    return {g: np.asarray(r) for g, r in sorted(rows.items()) if len(r) >= min_size}


def build_profiles(products: Products, model: TagModel, by: str, *, k: int = 8, min_size: int = 1,
                   scoring: Scoring | None = None, progress: Progress = no_progress) -> Profiles:
    """A profile for every value of column `by` with `min_size`+ products.

    Raises:
        BadQueryError: `by` is not a column of the labels, or no group is big enough.
    """
    products.require([by])
    tag_rows = product_tags(model, products)
    groups = group_rows(products.column(by), min_size)
    if not groups:
        raise BadQueryError(f"no {by} has {min_size}+ products")
    members = []
    for j, rows in enumerate(groups.values()):
        progress("profiles", j, len(groups))
        members.append(rows[representatives(products.x[rows], k)])
    progress("profiles", len(groups), len(groups))
    tags, emb = profile_matrices(tag_rows, products.x, members)
    train = products.split == "train"
    flat = np.concatenate(members)
    return Profiles(by, list(groups), [[products.ids[i] for i in m] for m in members],
                    [len(r) for r in groups.values()], tags, emb, tag_rows[train].mean(axis=0),
                    np.maximum(tag_rows[train].std(axis=0), 1e-3), model, tag_rows[flat], products.x[flat],
                    np.concatenate([np.full(len(m), g) for g, m in enumerate(members)]), scoring or Scoring())


def save_profiles(path: str | Path, profiles: Profiles) -> None:
    """One .npz, written atomically: matrices as arrays, names and heads inside."""
    from vsearch.profiles.heads import model_arrays

    head_arrays = {f"heads/{k}": v for k, v in model_arrays(profiles.model).items()}
    meta = {"version": PROFILES_VERSION, "by": profiles.by, "groups": profiles.groups, "members": profiles.members,
            "sizes": profiles.sizes, "scoring": profiles.scoring.__dict__, "tag_names": profiles.model.tag_names}
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, tags=profiles.tags, emb=profiles.emb, tag_mean=profiles.tag_mean, tag_std=profiles.tag_std,
                 m_tags=profiles.m_tags, m_emb=profiles.m_emb, m_group=profiles.m_group,
                 meta=np.array(json.dumps(meta, ensure_ascii=False)), **head_arrays)


def load_profiles(path: str | Path) -> Profiles:
    """Raises IndexMissingError (no file), BadQueryError (not a profiles file), IndexMismatchError (version)."""
    path = Path(path)
    if not path.is_file():
        raise IndexMissingError(f"no profiles at {path}: run `vsearch profile build`")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != PROFILES_VERSION:
                raise IndexMismatchError(f"{path}: profiles format {meta.get('version')}, this version reads "
                                         f"{PROFILES_VERSION}")
            model = model_from_arrays({k[len("heads/"):]: data[k] for k in data.files if k.startswith("heads/")},
                                      str(path))
            return Profiles(meta["by"], meta["groups"], meta["members"], meta["sizes"], data["tags"], data["emb"],
                            data["tag_mean"], data["tag_std"], model, data["m_tags"], data["m_emb"],
                            data["m_group"], Scoring(**meta["scoring"]))
    except (OSError, ValueError, KeyError) as exc:
        raise BadQueryError(f"{path} is not a profiles file: {exc}") from None


def show(profiles: Profiles, group: str, k: int = 12) -> dict[str, Any]:
    """A group's tags (z > 0, strongest first) with their mean probability and lift over the catalogue."""
    g = profiles.group_index(group)
    names = profiles.model.tag_names
    z = profiles.z(profiles.tags[g])
    return {"group": profiles.groups[g], "by": profiles.by, "products": profiles.sizes[g],
            "representatives": profiles.members[g],
            "tags": [{"tag": t, "weight": round(float(profiles.tags[g, names.index(t)]), 4),
                      "z": round(float(z[names.index(t)]), 3)} for t in top_tags(z, profiles.tags[g], names, k)]}
