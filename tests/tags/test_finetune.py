"""Fine-tuning the backbone's last blocks (`train attributes --finetune-blocks`): real Lite0, real photos, real lmdb.

Runs on CPU; the CUDA path is the same code with `device="cuda"` and is not exercised here (no GPU).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vsearch.cli import app
from vsearch.core.errors import BadQueryError
from vsearch.models.tuned import TUNED_KIND, Tail, Trunk, TunedExtractor
from vsearch.tags.finetune import FinetuneConfig
from vsearch.tags.train import TrainConfig

FAST = TrainConfig(hidden=0, epochs=12, patience=4, batch_size=512, lr=3e-3)


@pytest.fixture(scope="module")
def tuned_index(lite0_subset_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A copy of the 300-product Lite0 index whose attribute heads read a tail fine-tuned for 3 epochs."""
    from vsearch.tags.train_heads import train_attributes

    index = tmp_path_factory.mktemp("tuned") / "index"
    shutil.copytree(lite0_subset_index, index)
    report = train_attributes(index, ["masterCategory", "subCategory"], rules=(), cfg=FAST,
                              finetune=FinetuneConfig(blocks=1, epochs=3))
    return index, report


def test_trunk_and_tail_are_the_backbone(products_224: Path) -> None:
    """Before training, trunk + tail reproduce the backbone's pooled features exactly (the split loses nothing)."""
    from vsearch.catalog.images import load_image
    from vsearch.models import create_embedder

    emb = create_embedder(device="cpu", precision="fp32")
    photos = sorted((products_224 / "images").glob("*.jpg"))[:4]
    x = torch.stack([emb.transform(load_image(p)) for p in photos])
    with torch.inference_mode():
        whole = emb.model(x)
        for blocks in (1, 2, len(emb.model.blocks)):  # the last: the whole backbone, stem included
            split = Tail(emb.model, blocks).eval()(Trunk(emb.model, blocks)(x))
            torch.testing.assert_close(split, whole, atol=1e-4, rtol=1e-4)


def test_finetuned_heads_beat_majority_and_tag_new_photos(tuned_index: tuple[Path, dict], products_small: Path,
                                                          products_224: Path) -> None:
    from vsearch.index.store import Store
    from vsearch.tags.tagger import Tagger

    index, report = tuned_index
    assert report["inputs"] == [TUNED_KIND, "colour"]
    assert report["finetune"]["blocks"] == 1 and len(report["finetune"]["history"]) == 3
    for name in ("masterCategory", "subCategory"):
        head = report["heads"][name]
        assert head["trained_with_tail"]
        assert head["accuracy"] >= head["majority_baseline"]["accuracy"] + 0.15, (name, head["accuracy"])
    with Store(index / "store.lmdb") as store:
        assert store.count(TUNED_KIND) == store.count("image")
        _, tuned = store.load_vectors(TUNED_KIND)
        source = store.row_entries(TUNED_KIND)[0][2]
    # the tagger's extractor (live photo, bf16 trunk) gives the features training stored (fp16) for that photo
    tagger = Tagger(index)
    from vsearch.catalog.images import load_image

    live = tagger._tuned_extractor().features(tagger.embedder.transform(load_image(source))[None])[0]
    cos = float(live @ tuned[0] / np.linalg.norm(live) / np.linalg.norm(tuned[0]))
    assert cos > 0.99
    with (products_224 / "labels.csv").open(newline="") as fh:
        indexed = {row["id"] for row in csv.DictReader(fh)}
    with (products_small / "labels.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["id"] not in indexed][:60]
    results = tagger.tag_photos([products_small / r["image"] for r in rows])
    hits = np.mean([res["attributes"]["masterCategory"]["label"] == r["masterCategory"]
                    for res, r in zip(results, rows)])
    # products-small holds apparel and footwear only (34 / 26 in these 60): the head must tell them apart, well
    # above always answering the larger of the two
    majority = max(Counter(r["masterCategory"] for r in rows).values()) / len(rows)
    assert hits >= 0.8 and hits >= majority + 0.2, (hits, majority)


def test_write_and_eval_read_tuned_features(tuned_index: tuple[Path, dict]) -> None:
    index, _ = tuned_index
    res = CliRunner().invoke(app, ["tag", "--write", "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    from vsearch.index.store import Store

    with Store(index / "store.lmdb") as store:
        metas = [m for _, m in store.iter_products()]
    agree = np.mean([m["tag_masterCategory"] == m["masterCategory"] for m in metas])
    majority = max(Counter(m["masterCategory"] for m in metas).values()) / len(metas)
    assert agree > 0.85 and agree >= majority + 0.2, (agree, majority)
    # features of another fine-tuning run in the store: heads refuse them instead of predicting from them
    other = index.parent / "other"
    shutil.copytree(index, other)
    with Store(other / "store.lmdb") as store:
        store.set_info("tuned_id", "another-run")
    res = CliRunner().invoke(app, ["tag", "--write", "--index", str(other)])
    assert res.exit_code == 1 and "another fine-tuning run" in res.output


def test_finetune_refuses_what_it_cannot_do(tiny_index: Path, tmp_path: Path) -> None:
    from vsearch.models import create_embedder
    from vsearch.models.tuned import stages_to_train

    with pytest.raises(BadQueryError, match="EfficientNet-family"):
        stages_to_train(torch.nn.Linear(2, 2), "linear", 1)
    emb = create_embedder("tiny", device="cpu")
    with pytest.raises(BadQueryError, match="--finetune-blocks must be between 1 and"):
        TunedExtractor(emb, {"blocks": 99, "state": {}})  # type: ignore[arg-type]
    index = tmp_path / "index"
    shutil.copytree(tiny_index, index)
    res = CliRunner().invoke(app, ["train", "attributes", "--index", str(index), "--column", "masterCategory",
                                   "--finetune-blocks", "99"])
    assert res.exit_code != 0 and "--finetune-blocks must be between" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(app, ["train", "attributes", "--index", str(index), "--column", "masterCategory",
                                   "--finetune-blocks", "most"])
    assert res.exit_code == 1 and "a number of block stages or 'all'" in res.output
    res = CliRunner().invoke(app, ["train", "attributes", "--index", str(index), "--column", "masterCategory",
                                   "--stages", "--finetune-blocks", "1"])
    assert res.exit_code == 1 and "--stages is for heads on frozen" in res.output


def test_whole_backbone_finetune(lite0_subset_index: Path, tmp_path: Path) -> None:
    """`--finetune-blocks all` trains stem to head from cached pixels; its heads learn and tag new photos alike."""
    from vsearch.catalog.images import load_image
    from vsearch.index.store import Store
    from vsearch.tags.tagger import Tagger

    index = tmp_path / "index"
    shutil.copytree(lite0_subset_index, index)
    res = CliRunner().invoke(app, ["train", "attributes", "--index", str(index), "--column", "masterCategory",
                                   "--no-rules", "--finetune-blocks", "all", "--finetune-epochs", "2", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    head = report["heads"]["masterCategory"]
    assert head["accuracy"] >= head["majority_baseline"]["accuracy"] + 0.15, head["accuracy"]
    tagger = Tagger(index)
    assert tagger.finetuned is not None and tagger.finetuned["blocks"] == 7
    assert any(key.startswith("stem.") for key in tagger.finetuned["state"])  # the stem was trained too
    with Store(index / "store.lmdb") as store:
        _, tuned = store.load_vectors(TUNED_KIND)
        source = store.row_entries(TUNED_KIND)[0][2]
    live = tagger._tuned_extractor().features(tagger.embedder.transform(load_image(source))[None])[0]
    assert float(live @ tuned[0] / np.linalg.norm(live) / np.linalg.norm(tuned[0])) > 0.99
