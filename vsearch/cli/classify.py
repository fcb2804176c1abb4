"""`vsearch classify train|predict|report|promote|models`: category from title and photo, champion model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.common import JsonOpt, print_json, progress_bar, stdout, user_errors

app = typer.Typer(no_args_is_help=True, help="Category from title and photo: train, predict, report, promote.")

DEFAULT_HOME = Path("indexes") / "classify"
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Folder of the training set, models and champion "
                                              "(default: $VSEARCH_CLASSIFY_HOME or indexes/classify).")]
AuthorOpt = Annotated[str | None, typer.Option("--author", help="Who makes the change (default: login name).")]
ModelOpt = Annotated[int | None, typer.Option("--model", help="Model id (default: the champion).")]
LevelsOpt = Annotated[str | None, typer.Option("--levels", help="Level columns, root first, e.g. "
                                               "masterCategory,subCategory,articleType.")]
TitleColOpt = Annotated[str | None, typer.Option("--title-column", help="Title column (default: title, "
                                                 "productDisplayName, name).")]


def resolve_home(home: Path | None) -> Path:
    return home if home is not None else Path(os.environ.get("VSEARCH_CLASSIFY_HOME", DEFAULT_HOME))


@contextmanager
def errors(as_json: bool) -> Iterator[None]:
    """`user_errors`, plus `{"error": ...}` on stdout under --json."""
    from vsearch.core.errors import VsearchError

    with user_errors():
        try:
            yield
        except VsearchError as exc:
            if as_json:
                print_json({"error": str(exc)})
            raise


def load_labels(labels: Path | None, levels: str | None, title_column: str | None, home: Path) -> tuple[Any, str]:
    """Labels from a file (`--labels`, needs `--levels`) or the training set's current version."""
    from vsearch.classify.data import parse_levels, read_label_file
    from vsearch.classify.errors import ClassifyError
    from vsearch.classify.trainset import TrainingSet

    if labels is not None:
        if not levels:
            raise ClassifyError("--labels needs --levels, e.g. masterCategory,subCategory,articleType")
        return read_label_file(labels, parse_levels(levels), title_column), str(labels)
    with TrainingSet(home / "trainset.sqlite", create=False) as ts:
        data = ts.label_set()
        if levels and parse_levels(levels) != data.levels:
            raise ClassifyError(f"the training set has levels {','.join(data.levels)}, not {levels}")
        return data, f"trainset v{ts.head()}"


@app.command("train")
def train_command(
    labels: Annotated[Path | None, typer.Option("--labels", help="Labels file with id, title and level columns "
                                                "(default: the managed training set's current version).")] = None,
    levels: LevelsOpt = None,
    title_column: TitleColOpt = None,
    index: Annotated[Path | None, typer.Option("--index", "-i", help="Index whose image embeddings feed the "
                                               "photo head (products matched by id).")] = None,
    c: Annotated[float, typer.Option("--C", min=1e-4, help="Inverse regularisation of the title SVMs.")] = 1.0,
    target_error: Annotated[float, typer.Option(min=0.0, max=1.0, help="Error rate the unflagged predictions "
                                                "may have on validation (sets the review threshold).")] = 0.0125,
    home: HomeOpt = None,
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a title model (+ photo head with --index); kept as a challenger until promoted."""
    with errors(as_json):
        from vsearch.classify.registry import Registry
        from vsearch.classify.train import train_model
        from vsearch.core.split import split_of

        home = resolve_home(home)
        data, source = load_labels(labels, levels, title_column, home)
        with progress_bar(not as_json) as progress:
            model, report = train_model(data, index, C=c, target_error=target_error, progress=progress)
        with Registry(home) as reg:
            model.meta["source"] = source
            model_id = reg.add(model, source, author)
            froze = reg.freeze(data, [i for i, pid in enumerate(data.ids) if split_of(pid) == "test"])
        report = {"model": model_id, "source": source, "froze_evaluation_set": froze, **report}
        if as_json:
            print_json(report)
            return
        stdout.print(f"model {model_id} trained on {source}: {report['rows']}", highlight=False)
        for name, part in [("title", report["test"]["title"])] + list(report["test"].get("with_photo", {}).items()):
            stdout.print(f"  test {name:<12} n={part['samples']:<6} " + "  ".join(
                f"{lv} {part[f'{lv}_accuracy']:.4f}" for lv in data.levels) +
                f"  review {part['review']['flagged']:.1%} catches {part['review']['errors_caught']:.1%}",
                highlight=False)
        stdout.print(f"promote it with: vsearch classify promote {model_id}")


@app.command("predict")
def predict_command(
    titles: Annotated[list[str] | None, typer.Argument(help="Titles to classify.")] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help="CSV with id,title,image (image optional).")] = None,
    photo: Annotated[list[Path] | None, typer.Option("--photo", help="Photo of the product (repeat, one per "
                                                     "title, or alone).")] = None,
    model_id: ModelOpt = None,
    index_photos: Annotated[bool, typer.Option("--index-photos", help="Use the stored photo of ids already in "
                                               "the model's index.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Category of each product; `review` is true when the confidence is below the calibrated threshold."""
    with errors(as_json):
        from vsearch.classify.predict import predict_rows, read_predict_batch, rows_from_args
        from vsearch.classify.registry import Registry

        rows = read_predict_batch(batch) if batch is not None else rows_from_args(titles or [], photo or [])
        with Registry(resolve_home(home)) as reg:
            model = reg.load(model_id) if model_id is not None else reg.load_champion()
        for record in predict_rows(model, rows, index_photos=index_photos):
            if as_json:
                print_json(record)
            else:
                levels = " > ".join(f"{v['label']} ({v['prob']:.2f})" for v in record["levels"].values())
                stdout.print(f"{record['id']}: {levels}{'  REVIEW' if record['review'] else ''}", highlight=False)


@app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for report.json, report.md, confusion_*.png.")] =
    Path("eval/reports/classify"),
    model_id: ModelOpt = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Evaluate on this file's test split instead "
                                                "of the frozen evaluation set.")] = None,
    title_column: TitleColOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Confusion matrix and per-class precision/recall of a model on the frozen evaluation set."""
    with errors(as_json):
        from vsearch.classify.data import read_label_file
        from vsearch.classify.photo import product_vectors
        from vsearch.classify.registry import Registry
        from vsearch.classify.report import evaluate, write_report
        from vsearch.core.split import split_of

        with Registry(resolve_home(home)) as reg:
            model = reg.load(model_id) if model_id is not None else reg.load_champion()
            if labels is not None:
                data = read_label_file(labels, model.levels, title_column)
                data = data.subset([i for i, pid in enumerate(data.ids) if split_of(pid) == "test"])
            else:
                data = reg.frozen()
        vectors = product_vectors(model.meta["index"]) if model.photo is not None else {}
        report = evaluate(model, data, vectors)
        paths = write_report(report, out)
        if as_json:
            print_json({"paths": paths, **{k: v for k, v in report.items() if k != "levels"},
                        "accuracy": {lv: m["accuracy"] for lv, m in report["levels"].items()}})
            return
        for lv, m in report["levels"].items():
            stdout.print(f"{lv:<16} accuracy {m['accuracy']:.4f}  macro-F1 {m['f1_macro']:.4f}", highlight=False)
        stdout.print(f"wrote {', '.join(paths.values())}", highlight=False)


@app.command("promote")
def promote_command(
    model_id: Annotated[int | None, typer.Argument(help="Challenger model id (default: the latest).")] = None,
    margin: Annotated[float, typer.Option(min=0.0, help="Accuracy the challenger must gain on the frozen set.")]
    = 0.005,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")] = "",
    home: HomeOpt = None,
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a challenger the champion, only when it beats the champion on the frozen evaluation set."""
    with errors(as_json):
        from vsearch.classify.photo import product_vectors
        from vsearch.classify.registry import Registry

        with Registry(resolve_home(home)) as reg:
            challenger = model_id if model_id is not None else reg.latest()
            model = reg.load(challenger)
            vectors = product_vectors(model.meta["index"]) if model.photo is not None else {}
            decision = reg.promote(challenger, margin, author, reason, vectors)
        if as_json:
            print_json(decision)
            return
        verdict = "promoted: new champion" if decision["promoted"] else "not promoted"
        stdout.print(f"model {challenger}: {decision['challenger_score']:.4f} vs {decision['against']} "
                     f"{decision['bar']:.4f} (+{margin} needed): {verdict}", highlight=False)


@app.command("models")
def models_command(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Trained models, the champion and every promotion decision."""
    with errors(as_json):
        from vsearch.classify.registry import Registry

        with Registry(resolve_home(home)) as reg:
            out = {"models": reg.models(), "champion": reg.champion(), "history": reg.history()}
        if as_json:
            print_json(out)
            return
        for m in out["models"]:
            stdout.print(f"{'*' if m['champion'] else ' '} {m['id']:>4}  {m['time']}  {m['author']}  {m['source']}",
                         highlight=False)
        for d in out["history"]:
            stdout.print(f"  {d['time']} model {d['challenger']} {d['challenger_score']:.4f} vs {d['bar']:.4f}: "
                         f"{'promoted' if d['promoted'] else 'kept champion'}", highlight=False)

