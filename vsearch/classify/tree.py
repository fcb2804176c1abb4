"""The label tree: the (root, ..., leaf) paths seen in training, and decoding that never breaks it.

Each level has its own calibrated probabilities; a prediction is the path with the highest joint
probability (the product over levels, renormalised over known paths), so a child label always sits
under its predicted parent. A level's reported probability is the marginal of its label under that
joint distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Decoded:
    """Per row: the chosen path (index into `LabelTree.paths`), its probability, and per-level marginals."""

    path: np.ndarray
    path_prob: np.ndarray
    level_prob: dict[str, np.ndarray]


class LabelTree:
    """Classes per level (sorted) and the `[P, L]` class indices of every known path."""

    def __init__(self, levels: list[str], classes: dict[str, list[str]], paths: np.ndarray) -> None:
        self.levels = levels
        self.classes = classes
        self.paths = paths
        self._col = {lv: {c: i for i, c in enumerate(classes[lv])} for lv in levels}

    @classmethod
    def from_labels(cls, levels: list[str], labels: dict[str, list[str]]) -> LabelTree:
        classes = {lv: sorted(set(labels[lv])) for lv in levels}
        col = {lv: {c: i for i, c in enumerate(classes[lv])} for lv in levels}
        triples = {tuple(col[lv][labels[lv][i]] for lv in levels) for i in range(len(labels[levels[0]]))}
        return cls(levels, classes, np.array(sorted(triples), dtype=np.int64).reshape(-1, len(levels)))

    def encode(self, level: str, values: list[str]) -> np.ndarray:
        """Class indices of `values` at `level` (-1 for a class the tree does not know)."""
        col = self._col[level]
        return np.array([col.get(v, -1) for v in values], dtype=np.int64)

    def decode(self, logp: dict[str, np.ndarray]) -> Decoded:
        """Best path per row from `[n, C_level]` log-probabilities of each level."""
        score = sum(logp[lv][:, self.paths[:, j]] for j, lv in enumerate(self.levels))
        score = score - score.max(axis=1, keepdims=True)
        joint = np.exp(score)
        joint /= joint.sum(axis=1, keepdims=True)
        best = joint.argmax(axis=1)
        level_prob = {}
        for j, lv in enumerate(self.levels):
            chosen = self.paths[best, j]
            same = self.paths[None, :, j] == chosen[:, None]
            level_prob[lv] = (joint * same).sum(axis=1)
        return Decoded(best, joint[np.arange(len(best)), best], level_prob)

    def labels_of(self, decoded: Decoded) -> dict[str, list[str]]:
        """The decoded label names per level."""
        return {lv: [self.classes[lv][c] for c in self.paths[decoded.path, j]] for j, lv in enumerate(self.levels)}
