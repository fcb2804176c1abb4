"""Grouping real PriceRunner offers: quality well above the floors, constraints never broken."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vsearch.group.build import GroupConfig, build_groups, regroup
from vsearch.group.metrics import pairwise
from vsearch.group.offers import read_labels, read_offers


@pytest.fixture(scope="module")
def offers(offers_csv: Path):  # noqa: ANN201
    return read_offers(offers_csv, "product_id", "product_title", "vendor_id", "category_label")


@pytest.fixture(scope="module")
def truth(offers_csv: Path) -> dict[str, str]:
    return read_labels(offers_csv, "product_id", "cluster_id")


@pytest.fixture(scope="module")
def default_grouping(offers):  # noqa: ANN001, ANN201
    return build_groups(offers)


def _pairwise(grouping, truth: dict[str, str]) -> dict[str, float]:  # noqa: ANN001
    return pairwise(grouping.group_names(), [truth[i] for i in grouping.offers.ids])


def test_default_matcher_beats_the_greedy_floor(default_grouping, truth: dict[str, str]) -> None:  # noqa: ANN001
    r = _pairwise(default_grouping, truth)
    # floor on the whole file: greedy + seller constraint P 0.66 at R 0.59
    assert r["precision"] >= 0.75 and r["recall"] >= 0.5, r


def test_learned_matcher_judged_on_clusters_it_never_saw(offers, truth: dict[str, str]) -> None:  # noqa: ANN001
    from vsearch.core.split import split_of

    train = {k: v for k, v in truth.items() if split_of(v) == "train"}
    g = build_groups(offers, GroupConfig(), train=train)
    assert g.matcher.kind == "boosted"
    held = [k for k, oid in enumerate(g.offers.ids) if split_of(truth[oid]) != "train"]
    names = g.group_names()
    r = pairwise([names[k] for k in held], [truth[g.offers.ids[k]] for k in held])
    assert r["precision"] >= 0.7 and r["recall"] >= 0.7, r


def test_seller_constraint_never_violated(default_grouping) -> None:  # noqa: ANN001
    loose = regroup(default_grouping, 0.0)  # even when every candidate pair may merge
    for g in (default_grouping, loose):
        per = Counter(zip(g.labels.tolist(), g.offers.sellers))
        assert max(per.values()) == 1
    assert len(set(loose.labels.tolist())) < len(set(default_grouping.labels.tolist()))


def test_propagation_also_respects_sellers(offers) -> None:  # noqa: ANN001
    g = build_groups(offers, GroupConfig(method="propagation"))
    assert max(Counter(zip(g.labels.tolist(), g.offers.sellers)).values()) == 1


def test_never_merge_pair_is_respected(offers, default_grouping) -> None:  # noqa: ANN001
    labels = default_grouping.labels
    # the two most strongly matched offers of the grouping
    best = int(np.argmax(default_grouping.pairs.score))
    a, b = int(default_grouping.pairs.i[best]), int(default_grouping.pairs.j[best])
    assert labels[a] == labels[b]
    never = [(offers.ids[a], offers.ids[b])]
    for method in ("greedy", "propagation"):
        g = build_groups(offers, GroupConfig(method=method), never=never)
        assert g.labels[a] != g.labels[b]


def test_quality_flags_the_pure_groups_higher(default_grouping, truth: dict[str, str]) -> None:  # noqa: ANN001
    members: dict[int, list[str]] = {}
    for oid, lab in zip(default_grouping.offers.ids, default_grouping.labels.tolist()):
        members.setdefault(lab, []).append(oid)
    pure = [default_grouping.quality[g]["score"] for g, m in members.items()
            if len(m) > 1 and len({truth[o] for o in m}) == 1]
    impure = [default_grouping.quality[g]["score"] for g, m in members.items()
              if len(m) > 1 and len({truth[o] for o in m}) > 1]
    assert pure and impure
    assert np.mean(pure) > np.mean(impure)
