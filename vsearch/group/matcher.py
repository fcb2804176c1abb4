"""The pair matcher: probability that two offers are the same product, from pair features.

Learned (histogram gradient boosting) from labelled groups when the user has some; otherwise a rule-based
default: title similarity, with conflicting quantities, variants or model codes as strong negatives; with photos,
the title score capped by the photos' agreement (one photo at two sizes counts as full agreement).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vsearch.group.features import FEATURES
from vsearch.group.photos import DUPLICATE_CORR, PHOTO_FEATURES

IMAGE_MARGIN = 0.3
"""Two different photos reach the default threshold 0.55 at image cosine 0.85: the backbone's cosine names a
product poorly (grocery-phone train photos: pairs at >= 0.85 are one product 0.95 of the time, recall 0.05;
products-224 + products-small train ids: a photo's other rendition scores median 0.77, other products up to 0.81)."""


def default_scores(f: np.ndarray, photos: bool = False, titles: bool = True) -> np.ndarray:
    """Rule-based match score in [0, 1] of feature rows (no training data needed).

    Args:
        photos: the rows end with `PHOTO_FEATURES`; the score is then at most the photos' agreement (their image
            cosine less `IMAGE_MARGIN`, or 1 for one photo at two sizes), and that agreement alone when the offers
            have no titles.
        titles: the offers have titles (False: photos only).
    """
    if photos:
        sim_image, thumb = f[:, -len(PHOTO_FEATURES)], f[:, -len(PHOTO_FEATURES) + 1]
        visual = np.where(thumb >= DUPLICATE_CORR, 1.0, np.clip(sim_image - IMAGE_MARGIN, 0.0, 1.0))
        return np.minimum(default_scores(f), visual) if titles else visual.astype(np.float32)
    col = {name: f[:, k] for k, name in enumerate(FEATURES)}
    score = col["sim"] + 0.15 * np.minimum(col["code_exact"] + col["code_prefix"], 1)
    score -= 0.35 * np.minimum(col["qty_conflict"], 1) + 0.25 * np.minimum(col["variant_diff"], 1)
    score -= 0.3 * col["code_conflict"] + 0.1 * col["num_conflict"]
    return np.clip(score, 0.0, 1.0)


MAX_CATEGORIES = 250
"""Categories the learned matcher tells apart (the most frequent ones; the gradient boosting bins at most 255)."""


@dataclass
class Matcher:
    """A fitted pair model (`model` None: the rule-based default).

    The learned model also reads the pair's category (both offers share it: candidates are found within one), so
    how much a shared number or a missing code means can differ between CPUs and fridges. `categories` maps the
    training categories to the codes it saw; any other category is read as missing.
    """

    model: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, features: np.ndarray, same: np.ndarray, seed: int = 0,
            categories: list[str] | np.ndarray | None = None) -> Matcher:
        """Learn from candidate pairs labelled same (1) / different (0) product, and of which category each is."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        if len(np.unique(same)) < 2:
            return cls(None, {"kind": "default", "why": "training pairs of one class only"})
        known: dict[str, int] = {}
        if categories is not None and len(set(categories)) > 1:
            common = [c for c, _ in Counter(categories).most_common(MAX_CATEGORIES)]
            known = {c: k for k, c in enumerate(sorted(common))}
        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.08, max_leaf_nodes=31,
                                               l2_regularization=1.0, random_state=seed,
                                               categorical_features=[features.shape[1]] if known else None)
        matcher = cls(model, {"kind": "boosted", "pairs": int(len(same)), "positives": int(same.sum()),
                              "categories": len(known)}, known)
        model.fit(matcher._inputs(features, categories), same)
        return matcher

    def _inputs(self, features: np.ndarray, categories: list[str] | np.ndarray | None) -> np.ndarray:
        if not self.categories:
            return features
        if categories is None:
            categories = [""] * len(features)
        codes = np.asarray([self.categories.get(c, np.nan) for c in categories], dtype=np.float32)
        return np.hstack([features, codes[:, None]])

    def scores(self, features: np.ndarray, photos: bool = False, titles: bool = True,
               categories: list[str] | np.ndarray | None = None) -> np.ndarray:
        """Match probability (learned) or rule score of feature rows; `photos`/`titles` as `default_scores`,
        `categories` the pairs' category (the learned model's input when it was fitted with them)."""
        if self.model is None or len(features) == 0:
            return default_scores(features, photos, titles)
        return self.model.predict_proba(self._inputs(features, categories))[:, 1].astype(np.float32)

    @property
    def kind(self) -> str:
        return "boosted" if self.model is not None else "default"
