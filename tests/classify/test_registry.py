"""Champion/challenger: a model that learnt nothing is never promoted; a better one is."""

from __future__ import annotations

import random

from vsearch.classify.registry import Registry
from vsearch.classify.train import train_model
from vsearch.core.split import split_of


def test_shuffled_challenger_is_never_promoted(styles_data, title_model, tmp_path) -> None:  # noqa: ANN001
    model, _ = title_model
    shuffled = styles_data.subset(list(range(len(styles_data))))
    for lv in shuffled.levels:
        random.Random(1).shuffle(shuffled.labels[lv])  # same permutation per level: paths stay valid
    bad, _ = train_model(shuffled)
    with Registry(tmp_path) as reg:
        reg.freeze(styles_data, [i for i, p in enumerate(styles_data.ids) if split_of(p) == "test"])
        bad_id = reg.add(bad, "shuffled")
        first = reg.promote(bad_id)  # no champion yet: the bar is the majority class
        assert not first["promoted"] and reg.champion() is None
        good_id = reg.add(model, "real")
        second = reg.promote(good_id)
        assert second["promoted"] and reg.champion() == good_id and second["challenger_score"] > 0.9
        bad2 = reg.add(bad, "shuffled again")
        third = reg.promote(bad2)
        assert not third["promoted"] and reg.champion() == good_id
        same = reg.add(model, "same model")
        assert not reg.promote(same)["promoted"]  # equal is not better by the margin
        assert [d["promoted"] for d in reg.history()] == [False, True, False, False]
        assert reg.load_champion().meta["model_id"] == good_id
