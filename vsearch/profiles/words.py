"""Word TF-IDF of product descriptions: the text input of the description heads.

A seller's description often names what a photo shows only ambiguously ("sleeveless", "three-quarter sleeves",
"V-neck"), and the labels file holds descriptions for far more products than there are photos, so these heads
learn from every labelled product of the training split, not only the index's. The vocabulary and idf are plain
arrays in the heads file; sklearn rebuilds the same transform from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NGRAM_RANGE = (1, 2)


@dataclass
class DescriptionWords:
    """A fitted word (1-2 gram) TF-IDF: `vocab[k]` is column k, `idf[k]` its weight."""

    vocab: np.ndarray
    idf: np.ndarray

    @classmethod
    def fit(cls, texts: list[str], max_features: int = 20_000, min_df: int = 3) -> DescriptionWords:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=NGRAM_RANGE, min_df=min_df, max_features=max_features, sublinear_tf=True,
                              dtype=np.float32).fit(texts)
        return cls(np.asarray(vec.get_feature_names_out(), dtype=str), vec.idf_.astype(np.float32))

    def transform(self, texts: list[str]) -> Any:
        """`[n, V]` float32 CSR, rows L2-normalised (a text without known words is a zero row)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=NGRAM_RANGE, sublinear_tf=True, dtype=np.float32,
                              vocabulary={w: k for k, w in enumerate(self.vocab.tolist())})
        vec.idf_ = self.idf  # public setter: the same transform as the fitted vectoriser
        return vec.transform(texts).tocsr()
