"""Training on real titles (and photos of a small real index): accuracy, calibration, review threshold."""

from __future__ import annotations

import numpy as np
import pytest

from vsearch.classify.calibrate import review_threshold
from vsearch.classify.data import read_label_file
from vsearch.classify.errors import ClassifyError
from vsearch.classify.train import train_model

LEVELS = ["masterCategory", "subCategory", "articleType"]


def test_title_model_beats_chance_by_far_on_unseen_products(title_model) -> None:  # noqa: ANN001
    _, report = title_model
    test = report["test"]["title"]
    assert test["samples"] > 800
    assert test["masterCategory_accuracy"] > 0.97
    assert test["articleType_accuracy"] > 0.90  # ~4k training titles; the full set gets 0.973
    assert 0.0 < report["thresholds"]["title"] < 1.0


def test_review_flags_the_uncertain_and_catches_errors(title_model) -> None:  # noqa: ANN001
    rv = title_model[1]["test"]["title"]["review"]
    assert rv["flagged"] < 0.5  # ~4k training titles: a 1.25 % target error needs more review here
    assert rv["errors_caught"] > 0.4
    assert rv["error_rate_unflagged"] < rv["error_rate"]


def test_review_threshold_meets_the_target_error() -> None:
    rng = np.random.default_rng(0)
    conf = rng.random(2000)
    correct = rng.random(2000) < conf  # more confident, more often right
    t = review_threshold(conf, correct, 0.1)
    kept = conf >= t
    assert (~correct[kept]).mean() <= 0.1
    assert review_threshold(conf, np.ones(2000, bool), 0.01) == 0.0  # all correct: nothing to review


def test_photo_head_fuses_with_titles(subset_catalog, lite0_subset_index) -> None:  # noqa: ANN001
    from vsearch.classify.photo import embed_files, product_vectors

    data = read_label_file(subset_catalog / "labels.csv", ["masterCategory", "subCategory"])
    model, report = train_model(data, lite0_subset_index)
    assert model.photo is not None and report["test"]["with_photo"]["photo"]["samples"] > 30
    photo_only = report["test"]["with_photo"]["photo"]["masterCategory_accuracy"]
    assert photo_only > 0.8  # 6 classes, ~200 training photos
    vecs = product_vectors(lite0_subset_index)
    pid = data.ids[0]
    fresh = embed_files(lite0_subset_index, [data.images[0]])[0]
    assert np.dot(fresh, vecs[pid]) > 0.98  # the same photo through the index's own model
    pred = model.predict(["", data.titles[1]], np.stack([fresh, fresh]), np.array([True, False]))
    assert pred.modes == ["photo", "title"]


def test_bad_labels_are_one_line_errors(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "l.csv"
    p.write_text("id,title,a,b\n1,Red Shirt,X,x\n1,Blue Shirt,X,y\n")
    with pytest.raises(ClassifyError, match="duplicate id 1"):
        read_label_file(p, ["a", "b"])
    with pytest.raises(ClassifyError, match="unknown level 'c'"):
        read_label_file(p, ["a", "c"])
    p.write_text("id,title,a\n1,  ,X\n")
    with pytest.raises(ClassifyError, match="empty title for id 1"):
        read_label_file(p, ["a"])
