"""`vsearch profile heads|build|show`, `vsearch recommend` and `vsearch eval profiles` on 300 real products
(real Lite0 vectors, the shop's real attributes and descriptions), and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vsearch.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def built(lite0_subset_index: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("profiles")
    labels = data_dir / "product-attributes.csv"
    index = lite0_subset_index
    code, text, err = invoke("profile", "heads", "--index", str(index), "--labels", str(labels), "--column",
                             "articleType", "--column", "Sleeve Length", "--column", "gender",
                             "--out", str(out / "heads.npz"), "--report", str(out / "heads.json"), "--json")
    assert code == 0, err
    code, text, err = invoke("profile", "build", "--by", "brandName", "--index", str(index), "--labels", str(labels),
                             "--heads", str(out / "heads.npz"), "--out", str(out / "brands.npz"), "--json")
    assert code == 0, err
    assert json.loads(text)["groups"] > 20
    return {"index": index, "labels": labels, "heads": out / "heads.npz", "profiles": out / "brands.npz",
            "out": out}


def test_heads_report_has_applicability_and_styles(built: dict[str, Path]) -> None:
    report = json.loads((built["out"] / "heads.json").read_text())
    sleeve = report["attributes"]["Sleeve Length"]
    assert "Tshirts" in sleeve["applies_to"] and "Watches" not in sleeve["applies_to"]
    assert sleeve["na"]["test"] > 0 and 0 <= sleeve["balanced_accuracy"] <= 1
    assert report["attributes"]["articleType"]["accuracy"] > report["attributes"]["articleType"]["majority"]["accuracy"]
    assert "casual" in report["styles"]["tags"]
    casual = report["styles"]["tags"]["casual"]
    assert 0 < casual["base_rate"] < 1 and casual["threshold"] > 0


def test_show_and_recommend_explanations_are_tags_of_both(built: dict[str, Path]) -> None:
    idx, prof = str(built["index"]), str(built["profiles"])
    code, text, err = invoke("profile", "show", "Puma", "--index", idx, "--profiles", prof, "--json")
    assert code == 0, err
    puma = json.loads(text)
    assert puma["group"] == "Puma" and 1 <= len(puma["representatives"]) <= 8 and puma["products"] >= 8
    assert len(set(puma["representatives"])) == len(puma["representatives"])
    weights = [t["z"] for t in puma["tags"]]
    assert weights == sorted(weights, reverse=True) and all(z > 0 for z in weights)
    liked = puma["representatives"][:2]
    code, text, err = invoke("recommend", "--liked", liked[0], "--liked", liked[1], "--index", idx, "--profiles",
                             prof, "--labels", str(built["labels"]), "--top", "40", "--json")
    assert code == 0, err
    doc = json.loads(text)
    assert [r["rank"] for r in doc["results"]] == list(range(1, len(doc["results"]) + 1))
    assert set(doc["results"][0]) == {"rank", "group", "score", "tags"}
    scores = [r["score"] for r in doc["results"]]
    assert scores == sorted(scores, reverse=True)
    query_tags = {t["tag"] for t in doc["query_tags"]}
    for r in doc["results"]:
        code, text, _ = invoke("profile", "show", r["group"], "--index", idx, "--profiles", prof, "--json")
        group_tags = {t["tag"] for t in json.loads(text)["tags"]}
        assert set(r["tags"]) <= query_tags & group_tags
    assert any(r["tags"] for r in doc["results"][:3])
    assert not set(liked) & {p["id"] for p in doc["products"]}
    code, text, _ = invoke("recommend", "--liked", liked[0], "--index", idx, "--profiles", prof, "--mode", "embedding",
                           "--match", "nearest", "--json")
    top = json.loads(text)["results"][0]
    assert code == 0 and top["group"] == "Puma" and top["score"] == pytest.approx(1.0, abs=1e-3)  # its own photo


def test_recommend_from_a_photo_matches_recommend_from_its_id(built: dict[str, Path], products_224: Path) -> None:
    idx, prof = str(built["index"]), str(built["profiles"])
    code, text, _ = invoke("profile", "show", "Nike", "--index", idx, "--profiles", prof, "--json")
    pid = json.loads(text)["representatives"][0]
    by_id = json.loads(invoke("recommend", "--liked", pid, "--index", idx, "--profiles", prof, "--json")[1])
    code, text, err = invoke("recommend", "--photo", str(products_224 / "images" / f"{pid}.jpg"), "--index", idx,
                             "--profiles", prof, "--json")
    assert code == 0, err
    by_photo = json.loads(text)
    assert [r["group"] for r in by_photo["results"][:3]] == [r["group"] for r in by_id["results"][:3]]
    assert np.allclose([r["score"] for r in by_photo["results"]], [r["score"] for r in by_id["results"]], atol=0.02)


def test_bad_input_is_one_line_and_exit_1(built: dict[str, Path], tmp_path: Path) -> None:
    idx, prof, labels = str(built["index"]), str(built["profiles"]), str(built["labels"])
    cases = [
        ("profile", "show", "No Such Brand", "--index", idx, "--profiles", prof),
        ("recommend", "--liked", "999999999", "--index", idx, "--profiles", prof),
        ("profile", "build", "--by", "noSuchColumn", "--index", idx, "--labels", labels, "--heads",
         str(built["heads"]), "--out", str(tmp_path / "x.npz")),
        ("profile", "heads", "--index", idx, "--labels", labels, "--column", "Nope", "--out", str(tmp_path / "h.npz")),
        ("profile", "heads", "--index", idx, "--labels", labels, "--column", "Pattern", "--description", "blurb",
         "--out", str(tmp_path / "h.npz")),
        ("recommend", "--index", idx, "--profiles", prof),
        ("profile", "show", "Puma", "--index", idx, "--profiles", str(tmp_path / "missing.npz")),
    ]
    for args in cases:
        code, out, err = invoke(*args)
        assert code == 1, (args, out, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), (args, err)
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "h.npz").exists()
    code, out, _ = invoke("recommend", "--liked", "999999999", "--index", idx, "--profiles", prof, "--json")
    assert code == 1 and "error" in json.loads(out)


def test_eval_profiles_writes_its_report(built: dict[str, Path], tmp_path: Path) -> None:
    code, text, err = invoke("eval", "profiles", "--index", str(built["index"]), "--labels", str(built["labels"]),
                             "--heads", str(built["heads"]), "--min-size", "6", "--k", "3", "--out", str(tmp_path),
                             "--json")
    assert code == 0, err
    report = json.loads(text)
    assert {p.name for p in tmp_path.iterdir()} >= {"profiles.json", "profiles.md", "profiles.png"}
    assert report["groups"] >= 8 and report["chance"]["R@10"] == round(min(10, report["groups"]) / report["groups"], 4)
    for split in ("val", "test"):
        for method in ("random", "tags", "embedding", "both", "best"):
            assert 0.0 <= report[split][method]["R@1"] <= report[split][method]["R@10"] <= 1.0
    assert report["chosen"]["best"]["name"] in report["test"]


def test_build_without_heads_trains_the_heads_profile_heads_would(built: dict[str, Path], tmp_path: Path) -> None:
    from vsearch.profiles.profile import load_profiles

    code, text, err = invoke("profile", "build", "--by", "brandName", "--index", str(built["index"]), "--labels",
                             str(built["labels"]), "--out", str(tmp_path / "b.npz"), "--min-size", "6", "--json")
    assert code == 0, err
    model = load_profiles(tmp_path / "b.npz").model
    # the description heads learn from the labels file's ~30k training products, not only the 300 indexed ones
    assert model.description_column == "description" and model.description_heads
    assert model.words is not None and len(model.words.vocab) > 10_000
    assert json.loads(text)["tags"] == len(model.tag_names) > 50
