"""`vsearch profile heads --c-grid`: the regularisation values a head may choose from on the validation split (the
default grid gained 0.001 after a val-only comparison, eval/profiles/val_variants.json). Real products-224
vectors and the shop's real Neck column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.core.errors import BadQueryError
from vsearch.profiles.train import HeadConfig, parse_grid

runner = CliRunner()


def test_parse_grid_and_default() -> None:
    assert parse_grid("0.03, 0.001,0.03") == (0.001, 0.03)
    assert HeadConfig().grid[0] == 0.001
    for bad in ("", "0", "0.01,-1", "a"):
        with pytest.raises(BadQueryError):
            parse_grid(bad)


def test_heads_train_with_the_given_grid(full_index: Path, data_dir: Path, tmp_path: Path) -> None:
    from vsearch.profiles.heads import load_model

    args = ["profile", "heads", "--index", str(full_index), "--labels", str(data_dir / "product-attributes.csv"),
            "--column", "Neck", "--styles", "", "--no-titles", "--out", str(tmp_path / "h.npz"), "--json"]
    refused = runner.invoke(app, [*args, "--c-grid", "0"])
    assert refused.exit_code != 0 and not (tmp_path / "h.npz").exists()
    result = runner.invoke(app, [*args, "--c-grid", "0.001"])
    assert result.exit_code == 0, result.stderr
    neck = json.loads(result.stdout)["attributes"]["Neck"]
    assert neck["C"] == 0.001 and 0.3 < neck["val_balanced_accuracy"] <= 1
    assert neck["test"] > 300 and "Round Neck" in neck["classes"]
    assert load_model(tmp_path / "h.npz").extra["config"]["grid"] == [0.001]
