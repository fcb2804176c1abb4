"""`vsearch train attributes|tags|align|retrieval`: heads on the embeddings an index holds, or a retrieval head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.common import (
    DeviceOpt,
    IndexOpt,
    JsonOpt,
    print_json,
    progress_bar,
    resolve_index,
    stdout,
    user_errors,
)

app = typer.Typer(no_args_is_help=True, help="Train attribute, tag, text-alignment and retrieval heads on an index.")

HiddenOpt = Annotated[int, typer.Option(min=0, help="Hidden units of the MLP head; 0 trains a linear head.")]
EpochsOpt = Annotated[int, typer.Option(min=1, help="Most epochs (early stopping on the validation split).")]
ColourOpt = Annotated[bool, typer.Option("--colour/--no-colour", help="Add pixel colour statistics of the photos "
                                         "(one decode pass, cached in the index).")]
StagesOpt = Annotated[bool, typer.Option("--stages/--no-stages", help="Add the backbone's pooled stage maps: better "
                                         "on photos shot like the catalogue, worse on other renditions (timm "
                                         "backbones; one forward pass, cached in the index; not with "
                                         "--finetune-blocks).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Checkpoint path (default: INDEX/heads/GROUP.pt).")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Also write the full JSON report here.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (runs are deterministic).")]
BalanceOpt = Annotated[float, typer.Option(min=0.0, max=1.0, help="Class weights (n / (K * count)) ** BALANCE: "
                                           "0 ignores imbalance (best accuracy), 1 fully balances (best macro-F1).")]


def _finish(report: dict[str, Any], report_path: Path | None, as_json: bool) -> None:
    if report_path is not None:
        from vsearch.core.atomic import atomic_write_text

        atomic_write_text(report_path, json.dumps(report, indent=1, ensure_ascii=False))
    if as_json:
        print_json(report)
        return
    stdout.print(f"saved {report['group']} heads to {report['heads_path']} ({report.get('seconds', 0)} s)")
    for name, r in report.get("heads", {}).items():
        if "accuracy" in r:
            base = r["majority_baseline"]
            stdout.print(f"  {name:<14} test acc {r['accuracy']:.3f}  weighted-F1 {r['weighted_f1']:.3f}  "
                         f"macro-F1 {r['macro_f1']:.3f}  (majority: acc {base['accuracy']:.3f}; n={r['test']})",
                         highlight=False)
        else:
            stdout.print(f"  {name:<14} test micro-F1 {r['micro_f1']:.3f}  macro-F1 {r['macro_f1']:.3f}  "
                         f"(majority micro-F1 {r['majority_baseline']['micro_f1']:.3f}; n={r['test']})",
                         highlight=False)
    if "title_to_image_recall" in report:
        stdout.print(f"  title->image recall on the test split: {report['title_to_image_recall']}", highlight=False)


def _finetune_blocks(value: str) -> int:
    """--finetune-blocks: a count, or "all" (`vsearch.models.tuned.ALL_BLOCKS`)."""
    from vsearch.core.errors import BadQueryError
    from vsearch.models.tuned import ALL_BLOCKS

    if value.strip().lower() == "all":
        return ALL_BLOCKS
    if not value.strip().isdigit():
        raise BadQueryError(f"--finetune-blocks must be a number of block stages or 'all', not '{value}'")
    return int(value)


@app.command("attributes")
def attributes_command(
    column: Annotated[list[str], typer.Option("--column", "-c", help="Label column to learn (repeat).")],
    index: IndexOpt = None,  # type: ignore[assignment]
    labels: Annotated[Path | None, typer.Option(help="Labels file with an id column (default: the metadata "
                                                   "stored in the index).")] = None,
    rules: Annotated[bool, typer.Option("--rules/--no-rules", help="Also learn pattern and sleeve, labelled by "
                                        "the title rule table.")] = True,
    colour: ColourOpt = True,
    stages: StagesOpt = False,
    hidden: HiddenOpt = 512,
    epochs: EpochsOpt = 60,
    balance: BalanceOpt = 0.5,
    finetune_blocks: Annotated[str, typer.Option(
        "--finetune-blocks", metavar="N|all", help="Also fine-tune the backbone's last N block stages on these "
        "attributes (0: heads only; all: the whole backbone, best for colour). The photos go through the frozen trunk "
        "once; minutes per epoch on CPU (all: ~7), seconds on a GPU.")] = "0",
    finetune_epochs: Annotated[int, typer.Option(help="Epochs of fine-tuning (with --finetune-blocks).")] = 10,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One multi-class head per column; test-split accuracy, F1, per-class figures and confusion matrices."""
    with user_errors():
        from vsearch.tags.finetune import FinetuneConfig
        from vsearch.tags.train import TrainConfig
        from vsearch.tags.train_heads import train_attributes

        blocks = _finetune_blocks(finetune_blocks)
        finetune = (FinetuneConfig(blocks=blocks, epochs=finetune_epochs, balance=balance, seed=seed)
                    if blocks else None)
        with progress_bar(not as_json) as progress:
            result = train_attributes(resolve_index(index), column, labels=labels,
                                      rules=("pattern", "sleeve") if rules else (), colour=colour, stages=stages,
                                      cfg=TrainConfig(hidden=hidden, epochs=epochs, balance=balance, seed=seed),
                                      out=out, finetune=finetune, progress=progress)
    _finish(result, report, as_json)


@app.command("tags")
def tags_command(
    tags: Annotated[Path, typer.Option("--tags", help="CSV with id,tags columns; tags separated by ';'.")],
    index: IndexOpt = None,  # type: ignore[assignment]
    colour: ColourOpt = True,
    stages: StagesOpt = False,
    hidden: HiddenOpt = 512,
    epochs: EpochsOpt = 60,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    report: ReportOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A multi-label tag head; per-tag thresholds calibrated on the validation split."""
    with user_errors():
        from vsearch.tags.train import TrainConfig
        from vsearch.tags.train_heads import train_tags

        with progress_bar(not as_json) as progress:
            result = train_tags(resolve_index(index), tags, colour=colour, stages=stages,
                                cfg=TrainConfig(hidden=hidden, epochs=epochs, seed=seed), out=out, progress=progress)
    _finish(result, report, as_json)


@app.command("align")
def align_command(
    index: IndexOpt = None,  # type: ignore[assignment]
    text_column: Annotated[str | None, typer.Option(help="Metadata column paired with each photo (default: the "
                                                         "titles embedded at build time).")] = None,
    hidden: HiddenOpt = 1024,
    epochs: EpochsOpt = 40,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    report: ReportOpt = None,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Map text into the image space (contrastive on image-title pairs) for text search and zero-shot tags."""
    with user_errors():
        from vsearch.tags.align import AlignConfig, train_align

        result = train_align(resolve_index(index), text_column=text_column,
                             cfg=AlignConfig(hidden=hidden, epochs=epochs, seed=seed), out=out,
                             device=None if device == "auto" else device)
    _finish(result, report, as_json)


@app.command("retrieval")
def retrieval_command(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalogue folder or labels file (as `index build`): "
                                          "its photos are the products' proxies and the source of camera views.")],
    index: IndexOpt = None,  # type: ignore[assignment]
    labels: Annotated[Path | None, typer.Option(help="Labels file of the catalogue (as `index build`).")] = None,
    id_from: Annotated[str, typer.Option(help="Without labels: ids from file 'stem', 'folder' or 'auto'.")] = "auto",
    real_photos: Annotated[Path | None, typer.Option("--real-photos", help="CSV with id,image columns: real "
                                                     "(camera) photos of catalogue products.")] = None,
    real_where: Annotated[list[str] | None, typer.Option("--real-where", metavar="COL=VALUE", help="Keep only "
                                                         "real-photo rows where COL is VALUE (repeat).")] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Frozen backbone under the head.")] =
        "timm:tf_efficientnet_lite0",
    views: Annotated[int, typer.Option(min=0, help="Synthetic camera views per catalogue photo.")] = 16,
    mix: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of the learnt cosine in the index's score "
                                       "(the rest is the frozen cosine; 1 = the head alone).")] = 0.5,
    dim: Annotated[int, typer.Option(min=8, help="Output size of the projection.")] = 256,
    steps: Annotated[int, typer.Option(min=1, help="Training steps (balanced batches).")] = 400,
    margin: Annotated[float, typer.Option(min=0.0, help="Additive cosine margin of the loss.")] = 0.1,
    titles: Annotated[bool, typer.Option("--titles/--no-titles", help="Embed the title column for text "
                                         "search.")] = True,
    replace: Annotated[bool, typer.Option("--replace", help="Rebuild an index already built in --index.")] = False,
    ocr: Annotated[bool, typer.Option("--ocr", help="Also read the catalogue photos' package text (OCR, cached; "
                                      "~0.35 s a photo on CPU) for `vsearch query --ocr` (needs the ocr "
                                      "extra).")] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Metric-learn a product-identity head on camera views (and real photos), then build the index with it."""
    with user_errors(as_json):
        from vsearch.catalog.reader import load_catalog
        from vsearch.models import create_embedder, create_text_embedder
        from vsearch.retrieval.metric import MetricConfig
        from vsearch.retrieval.train import RetrievalConfig, read_real_photos, train_retrieval

        if ocr:
            from vsearch.retrieval.ocr import require_ocr

            require_ocr()
        cat = load_catalog(catalog, labels, id_from=id_from)  # type: ignore[arg-type]
        real = read_real_photos(real_photos, real_where or ()) if real_photos else []
        embedder = create_embedder(model, device=device)
        text = create_text_embedder(device=device) if titles and cat.title_column else None
        cfg = RetrievalConfig(views=views, mix=mix,
                              metric=MetricConfig(dim=dim, steps=steps, margin=margin, seed=seed))
        with progress_bar(not as_json) as progress:
            result = train_retrieval(cat, resolve_index(index), embedder, text, cfg=cfg, real=real,
                                     replace=replace, progress=progress)
            if ocr:
                from vsearch.retrieval.rerank import write_catalog_text

                result["ocr_products"] = write_catalog_text(resolve_index(index), cat, progress)
    if as_json:
        print_json(result)
        return
    stdout.print(f"trained retrieval head {result['head_id']} on {result['products']} products "
                 f"({result['synthetic_views']} camera views, {result['real_photos']} real photos, "
                 f"{result['real_photos_skipped']} skipped) in {result['train_seconds']} s; index of "
                 f"{result['build']['vectors']} vectors (dim {result['dim']}) built in {result['index_dir']}",
                 highlight=False)
