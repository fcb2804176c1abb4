"""Decoding over the label tree: a child label never contradicts its parent."""

from __future__ import annotations

import numpy as np

from vsearch.classify.tree import LabelTree


def _tree() -> LabelTree:
    labels = {"a": ["X", "X", "Y", "Y"], "b": ["x1", "x2", "y1", "y1"]}
    return LabelTree.from_labels(["a", "b"], labels)


def test_decode_picks_the_best_known_path_not_the_best_per_level() -> None:
    tree = _tree()
    assert tree.classes == {"a": ["X", "Y"], "b": ["x1", "x2", "y1"]}
    # level a prefers Y slightly, level b strongly prefers x1: per-level argmax would give Y > x1 (no such path)
    logp = {"a": np.log([[0.45, 0.55]]), "b": np.log([[0.9, 0.05, 0.05]])}
    dec = tree.decode(logp)
    labels = tree.labels_of(dec)
    assert labels == {"a": ["X"], "b": ["x1"]}
    joint = np.array([0.45 * 0.9, 0.45 * 0.05, 0.55 * 0.05])
    joint /= joint.sum()
    assert np.isclose(dec.path_prob[0], joint[0])
    assert np.isclose(dec.level_prob["a"][0], joint[0] + joint[1])  # marginal of X over its paths


def test_every_decoded_path_is_a_training_path(title_model) -> None:  # noqa: ANN001
    model, _ = title_model
    pred = model.predict(["Nike Men Blue Running Shoes", "Titan Women Watch", "Lakme Red Lipstick",
                          "Wildcraft Unisex Black Backpack"])
    seen = {tuple(model.tree.classes[lv][c] for lv, c in zip(model.levels, p)) for p in model.tree.paths}
    for i in range(4):
        assert tuple(pred.labels[lv][i] for lv in model.levels) in seen
        # a parent's marginal can never be below its child's
        assert pred.probs["masterCategory"][i] >= pred.probs["subCategory"][i] - 1e-9
        assert pred.probs["subCategory"][i] >= pred.probs["articleType"][i] - 1e-9
