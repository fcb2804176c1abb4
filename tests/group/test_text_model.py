"""`--text-model minilm`: the real MiniLM title cosine as one more matcher feature, through build, the state
file and incremental assignment, on real PriceRunner offers (about 1,400, whole clusters)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tests.group.conftest import COLUMNS, write_rows
from vsearch.cli import app
from vsearch.core.split import split_of
from vsearch.group.build import GroupConfig, build_groups, score_pairs
from vsearch.group.features import FEATURES
from vsearch.group.metrics import pairwise
from vsearch.group.offers import read_labels, read_offers


def test_minilm_feature_is_learned_and_judged_on_unseen_clusters(offers_csv: Path) -> None:
    offers = read_offers(offers_csv, "product_id", "product_title", "vendor_id", "category_label")
    truth = read_labels(offers_csv, "product_id", "cluster_id")
    train = {k: v for k, v in truth.items() if split_of(v) == "train"}
    g = build_groups(offers, GroupConfig(text_model="minilm"), train=train)
    assert g.matcher.kind == "boosted" and g.dense is not None and g.dense.shape == (len(offers), 384)
    assert np.allclose(np.linalg.norm(g.dense, axis=1), 1.0, atol=1e-3)
    f, _ = score_pairs(g.encoded(), g.matcher, g.pairs.i[:50], g.pairs.j[:50])
    assert f.shape[1] == len(FEATURES) + 1
    # the last column is the title cosine: same-product pairs read higher than different-product pairs
    same = np.asarray([truth[g.offers.ids[a]] == truth[g.offers.ids[b]] for a, b in zip(g.pairs.i, g.pairs.j)])
    cos = np.einsum("pd,pd->p", g.dense[g.pairs.i], g.dense[g.pairs.j])
    assert cos[same].mean() > cos[~same].mean() + 0.05
    held = [k for k, oid in enumerate(g.offers.ids) if split_of(truth[oid]) != "train"]
    names = g.group_names()
    r = pairwise([names[k] for k in held], [truth[g.offers.ids[k]] for k in held])
    assert r["precision"] >= 0.7 and r["recall"] >= 0.7, r


def test_text_model_survives_the_state_file_and_assign(offers_csv: Path, offer_rows: list[dict[str, str]],
                                                       tmp_path: Path) -> None:
    truth = read_labels(offers_csv, "product_id", "cluster_id")
    size = Counter(truth.values())
    last = {truth[r["product_id"]]: k for k, r in enumerate(offer_rows) if size[truth[r["product_id"]]] >= 3}
    held = sorted(last.values())[:20]
    old = write_rows(tmp_path / "old.csv", [r for k, r in enumerate(offer_rows) if k not in set(held)])
    new = write_rows(tmp_path / "new.csv", [offer_rows[k] for k in held])
    runner = CliRunner()
    groups = tmp_path / "groups.csv"
    res = runner.invoke(app, ["group", "build", "--offers", str(old), *COLUMNS, "--text-model", "minilm",
                              "--out", str(groups), "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["group", "assign", str(new), "--groups", str(groups), *COLUMNS, "--json"])
    assert res.exit_code == 0, res.output
    from vsearch.group.store import load_grouping

    g = load_grouping(groups)
    assert g.dense is not None and g.dense.shape[0] == len(g.offers) == len(offer_rows) - len(held) + len(held)
    res = runner.invoke(app, ["group", "build", "--offers", str(old), *COLUMNS, "--text-model", "nope",
                              "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()
