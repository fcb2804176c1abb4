"""Incremental assignment: held-back real offers join their product's group; old groups never change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.group.conftest import COLUMNS, write_rows
from vsearch.cli import app
from vsearch.group.assign import assign_offers
from vsearch.group.build import build_groups
from vsearch.group.errors import GroupError
from vsearch.group.offers import read_labels, read_offers


def _split(offers_csv: Path) -> tuple[list[int], list[int]]:
    """Hold back the last offer of every cluster of 3+ offers."""
    truth = read_labels(offers_csv, "product_id", "cluster_id")
    ids = list(truth)
    size = Counter(truth.values())
    last = {truth[oid]: k for k, oid in enumerate(ids) if size[truth[oid]] >= 3}
    held = sorted(last.values())
    return [k for k in range(len(ids)) if k not in set(held)], held


def test_new_offers_join_their_product(offers_csv: Path) -> None:
    offers = read_offers(offers_csv, "product_id", "product_title", "vendor_id", "category_label")
    truth = read_labels(offers_csv, "product_id", "cluster_id")
    kept, held = _split(offers_csv)
    g = build_groups(offers.subset(kept))
    out, rows = assign_offers(g, offers.subset(held))
    assert len(rows) == len(held) and (out.labels[:len(kept)] == g.labels).all()
    assert max(Counter(zip(out.labels.tolist(), out.offers.sellers)).values()) == 1
    names = out.group_names()
    by_group: dict[str, set[str]] = {}
    for k in range(len(kept)):
        by_group.setdefault(names[k], set()).add(truth[out.offers.ids[k]])
    right = sum(1 for r in rows if r["joined"] == "existing" and by_group[r["group"]] == {truth[r["id"]]})
    wrong = sum(1 for r in rows if r["joined"] == "existing" and truth[r["id"]] not in by_group[r["group"]])
    assert right >= 0.5 * len(rows) and wrong <= 0.1 * len(rows), (right, wrong, len(rows))
    with pytest.raises(GroupError, match="already grouped"):
        assign_offers(out, offers.subset(held[:1]))


def test_assign_cli(offers_csv: Path, offer_rows: list[dict[str, str]], tmp_path: Path) -> None:
    kept, held = _split(offers_csv)
    old = write_rows(tmp_path / "old.csv", [offer_rows[k] for k in kept])
    new = write_rows(tmp_path / "new.csv", [offer_rows[k] for k in held[:10]])
    runner = CliRunner()
    groups = tmp_path / "groups.csv"
    assert runner.invoke(app, ["group", "build", "--offers", str(old), *COLUMNS, "--out", str(groups)]).exit_code == 0
    res = runner.invoke(app, ["group", "assign", str(new), "--groups", str(groups), *COLUMNS])
    assert res.exit_code == 0, res.output
    assert len(groups.read_text().splitlines()) == len(kept) + 10 + 1
    res = runner.invoke(app, ["group", "assign", str(new), "--groups", str(groups), *COLUMNS])
    assert res.exit_code == 1 and "already grouped" in res.output
