"""The title model: TF-IDF over word and character n-grams, one linear SVM per level.

The fastText recipe (word + char n-grams into a linear model), done with scikit-learn: chosen by
measurement on the validation split (eval/classify/README.md). Scores are turned into probabilities
with a per-level softmax temperature fitted on validation (`calibrate.fit_temperature`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vsearch.classify.calibrate import log_softmax


def make_vectorizer(word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] = (2, 5)) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    return make_union(
        TfidfVectorizer(ngram_range=word_ngrams, sublinear_tf=True, lowercase=True, dtype=np.float32),
        TfidfVectorizer(analyzer="char_wb", ngram_range=char_ngrams, sublinear_tf=True, lowercase=True, min_df=2,
                        dtype=np.float32))


def fit_linear(make: Any, x: Any, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """`[features, n_classes]` weights and `[n_classes]` bias of a linear classifier in the tree's class order.

    A class never seen in training gets a bias that never wins; one seen class is a constant; a binary
    model's single decision function is split into two opposite columns.
    """
    coef = np.zeros((x.shape[1], n_classes), np.float32)
    bias = np.full(n_classes, -1e3, np.float32)
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return coef, bias
    clf = make().fit(x, y)
    w, b = clf.coef_, clf.intercept_
    if len(present) == 2:
        w, b = np.vstack([-w, w]) / 2, np.r_[-b, b] / 2
    coef[:, clf.classes_] = w.T
    bias[clf.classes_] = b
    return coef, bias


class TitleModel:
    """Vectorizer shared by all levels; per level a `LinearSVC` (or a constant when a level has one class)."""

    def __init__(self, C: float = 1.0, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (2, 5)) -> None:
        self.C = C
        self.vectorizer = make_vectorizer(word_ngrams, char_ngrams)
        self.coef: dict[str, np.ndarray] = {}      # [features, C_level], columns in the tree's class order
        self.bias: dict[str, np.ndarray] = {}
        self.temperature: dict[str, float] = {}

    def fit(self, titles: list[str], targets: dict[str, np.ndarray], n_classes: dict[str, int]) -> TitleModel:
        """`targets[level]` are class indices into the tree's classes of that level."""
        from sklearn.svm import LinearSVC

        x = self.vectorizer.fit_transform(titles)
        for level, y in targets.items():
            coef, bias = fit_linear(lambda: LinearSVC(C=self.C), x, y, n_classes[level])
            self.coef[level], self.bias[level] = coef, bias
            self.temperature[level] = 1.0
        return self

    def transform(self, titles: list[str]) -> Any:
        return self.vectorizer.transform(titles)

    def scores(self, titles: list[str], x: Any = None) -> dict[str, np.ndarray]:
        """Raw decision scores `[n, C_level]` per level."""
        x = self.transform(titles) if x is None else x
        return {lv: np.asarray(x @ self.coef[lv]) + self.bias[lv] for lv in self.coef}

    def log_proba(self, titles: list[str], x: Any = None) -> dict[str, np.ndarray]:
        """Calibrated log-probabilities `[n, C_level]` per level."""
        return {lv: log_softmax(s, self.temperature[lv]) for lv, s in self.scores(titles, x).items()}
