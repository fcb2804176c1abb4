"""`vsearch group ...` and `vsearch eval group` end to end on real offers; bad input -> one line, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.group.conftest import COLUMNS, write_rows
from vsearch.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def built(offers_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "groups.csv"
    res = runner.invoke(app, ["group", "build", "--offers", str(offers_csv), *COLUMNS, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["offers"] > 1000 and summary["groups"] < summary["offers"]
    return out


def test_groups_csv_has_the_documented_header(built: Path, offer_rows: list[dict[str, str]]) -> None:
    lines = built.read_text().splitlines()
    assert lines[0] == "id,group,score"
    assert len(lines) == len(offer_rows) + 1
    scores = [float(line.split(",")[2]) for line in lines[1:]]
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_eval_group_reports_metrics_and_plot(built: Path, offers_csv: Path) -> None:
    res = runner.invoke(app, ["eval", "group", "--groups", str(built), "--truth", str(offers_csv),
                              "--truth-column", "cluster_id", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["pairwise"]["precision"] > 0.75
    assert {"bcubed", "ari", "sweep"} <= set(report)
    assert Path(report["plot"]).stat().st_size > 10_000
    precisions = [p["precision"] for p in report["sweep"]]
    assert precisions[-1] >= precisions[0]  # a stricter threshold never merges more wrong pairs here


def test_review_and_show(built: Path) -> None:
    res = runner.invoke(app, ["group", "review", "--groups", str(built), "--limit", "3", "--json"])
    assert res.exit_code == 0, res.output
    weak = json.loads(res.stdout)["groups"]
    assert len(weak) == 3 and weak[0]["score"] <= weak[1]["score"] <= weak[2]["score"]
    assert weak[0]["holding_pairs"] and len(weak[0]["offers"]) >= 2
    res = runner.invoke(app, ["group", "show", weak[0]["group"], "--groups", str(built), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["size"] == weak[0]["size"]
    res = runner.invoke(app, ["group", "show", "G999999", "--groups", str(built)])
    assert res.exit_code == 1 and "no group" in res.output


def _bad(tmp_path: Path, rows: list[dict[str, str]], *extra: str) -> str:
    path = write_rows(tmp_path / "bad.csv", rows)
    res = runner.invoke(app, ["group", "build", "--offers", str(path), *COLUMNS, "--out",
                              str(tmp_path / "g.csv"), *extra])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    return lines[0]


def test_bad_inputs_give_one_line(tmp_path: Path, offer_rows: list[dict[str, str]]) -> None:
    rows = [dict(r) for r in offer_rows[:20]]
    assert "no column 'vendor_id'" in _bad(tmp_path, [{k: v for k, v in r.items() if k != "vendor_id"}
                                                      for r in rows])
    empty = [dict(r) for r in rows]
    empty[3]["product_title"] = "  "
    assert "empty title" in _bad(tmp_path, empty)
    assert "at least 2" in _bad(tmp_path, rows[:1])
    assert "repeated" in _bad(tmp_path, rows + rows[:1])
    assert "not found" in _bad(tmp_path, rows, "--never-merge", str(tmp_path / "missing.csv"))
