"""`vsearch trainset import|add|remove|relabel|versions|diff|rollback|review|export`: the versioned training set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.classify import AuthorOpt, HomeOpt, TitleColOpt, errors, resolve_home
from vsearch.cli.common import JsonOpt, print_json, progress_bar, stdout

app = typer.Typer(no_args_is_help=True, help="The managed training set: every change a version with author and "
                  "reason; diff, rollback, review of likely mislabelled rows.")

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept with the version).")]
LevelsReq = Annotated[str | None, typer.Option("--levels", help="Level columns, root first (default: the set's "
                                               "levels).")]


def _open(home: Path | None, create: bool = False) -> Any:
    from vsearch.classify.trainset import TrainingSet

    return TrainingSet(resolve_home(home) / "trainset.sqlite", create=create)


def _done(entry: dict[str, Any] | None, as_json: bool) -> None:
    if as_json:
        print_json(entry or {"version": None, "changed": 0, "note": "no change, no new version"})
    elif entry is None:
        stdout.print("no change: no new version")
    else:
        stdout.print(f"version {entry['version']} ({entry['op']}, {entry['author']}): +{entry['added']} "
                     f"-{entry['removed']} ~{entry['changed']}, {entry['rows']} rows", highlight=False)


def _read(labels: Path, levels: str | None, title_column: str | None, home: Path | None) -> Any:
    from vsearch.classify.data import parse_levels, read_label_file
    from vsearch.classify.errors import ClassifyError

    if not levels:
        with _open(home, create=True) as ts:
            have = ts.levels
        if not have:
            raise ClassifyError("the first import needs --levels, e.g. masterCategory,subCategory,articleType")
        return read_label_file(labels, have, title_column)
    return read_label_file(labels, parse_levels(levels), title_column)


@app.command("import")
def import_command(labels: Annotated[Path, typer.Argument(help="CSV/JSONL/Parquet with id, title, levels.")],
                   levels: LevelsReq = None, title_column: TitleColOpt = None, reason: ReasonOpt = "import",
                   home: HomeOpt = None, author: AuthorOpt = None, as_json: JsonOpt = False) -> None:
    """Make the set equal to LABELS (one new version: rows added, changed and removed)."""
    with errors(as_json):
        data = _read(labels, levels, title_column, home)
        with _open(home, create=True) as ts:
            _done(ts.import_rows(data, reason, author), as_json)


@app.command("add")
def add_command(labels: Annotated[Path, typer.Argument(help="Rows to add (ids must be new).")],
                title_column: TitleColOpt = None, reason: ReasonOpt = "add", home: HomeOpt = None,
                author: AuthorOpt = None, as_json: JsonOpt = False) -> None:
    """Add new rows (an id already in the set is an error)."""
    with errors(as_json):
        data = _read(labels, None, title_column, home)
        with _open(home) as ts:
            _done(ts.add_rows(data, reason, author), as_json)


@app.command("remove")
def remove_command(ids: Annotated[list[str], typer.Argument(help="Product ids to remove.")],
                   reason: ReasonOpt = "remove", home: HomeOpt = None, author: AuthorOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Remove rows by id."""
    with errors(as_json), _open(home) as ts:
        _done(ts.remove_rows(ids, reason, author), as_json)


@app.command("relabel")
def relabel_command(pid: Annotated[str, typer.Argument(metavar="ID", help="Product id.")],
                    label: Annotated[str, typer.Argument(help="New label.")],
                    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
                    level: Annotated[str | None, typer.Option("--level", help="Level to change (default: the "
                                                              "leaf).")] = None,
                    home: HomeOpt = None, author: AuthorOpt = None, as_json: JsonOpt = False) -> None:
    """Change one row's label at one level."""
    with errors(as_json), _open(home) as ts:
        _done(ts.relabel(pid, label, reason, level, author), as_json)


@app.command("versions")
def versions_command(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every version with time, author, reason and counts."""
    with errors(as_json), _open(home) as ts:
        rows = ts.versions()
        if as_json:
            print_json({"versions": rows, "head": ts.head()})
            return
        for v in rows:
            stdout.print(f"{v['version']:>4}  {v['time']}  {v['author']:<10} {v['op']:<20} +{v['added']} "
                         f"-{v['removed']} ~{v['changed']} ({v['rows']} rows)  {v['reason']}", highlight=False)


@app.command("diff")
def diff_command(a: Annotated[int, typer.Argument(help="Older version.")],
                 b: Annotated[int, typer.Argument(help="Newer version.")],
                 home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Rows added, removed and changed between two versions."""
    with errors(as_json), _open(home) as ts:
        d = ts.diff(a, b)
        if as_json:
            print_json(d)
            return
        stdout.print(f"{a} -> {b}: {len(d['added'])} added, {len(d['removed'])} removed, "
                     f"{len(d['changed'])} changed", highlight=False)
        for c in d["changed"][:50]:
            stdout.print(f"  ~ {c['id']}: " + "; ".join(f"{k}: {o} -> {n}" for k, (o, n) in c["fields"].items()),
                         highlight=False)


@app.command("rollback")
def rollback_command(version: Annotated[int, typer.Argument(help="Version to return to.")],
                     reason: ReasonOpt = "", home: HomeOpt = None, author: AuthorOpt = None,
                     as_json: JsonOpt = False) -> None:
    """A new version equal to VERSION (history is kept)."""
    with errors(as_json), _open(home) as ts:
        _done(ts.rollback(version, reason, author), as_json)


@app.command("export")
def export_command(out: Annotated[Path, typer.Argument(help="CSV to write.")],
                   version: Annotated[int | None, typer.Option("--version", help="Version (default: current).")]
                   = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Write a version as CSV (id, title, image, levels)."""
    with errors(as_json), _open(home) as ts:
        import csv

        from vsearch.core.atomic import atomic_path

        data = ts.label_set(version)
        with atomic_path(out) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "title", "image", *data.levels])
            for i in range(len(data)):
                w.writerow([data.ids[i], data.titles[i], data.images[i], *(data.labels[lv][i] for lv in data.levels)])
        if as_json:
            print_json({"path": str(out), "rows": len(data)})
        else:
            stdout.print(f"wrote {len(data)} rows to {out}")


@app.command("review")
def review_command(top: Annotated[int, typer.Option(min=1, help="How many suspects to list.")] = 50,
                   level: Annotated[str | None, typer.Option("--level", help="Level to check (default: leaf).")]
                   = None,
                   folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
                   html: Annotated[Path | None, typer.Option("--html", help="Write an HTML report with "
                                                             "thumbnails here.")] = None,
                   catalog: Annotated[Path | None, typer.Option("--catalog", help="Catalogue whose photos fill "
                                                                "in rows without an image.")] = None,
                   home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Rows whose label the cross-validated model confidently disagrees with (likely mislabelled)."""
    with errors(as_json):
        from vsearch.classify.review import html_report, suspects
        from vsearch.core.atomic import atomic_write_text

        with _open(home) as ts:
            data, head = ts.label_set(), ts.head()
        if catalog is not None:
            from vsearch.catalog.reader import load_catalog

            photos = {p.product_id: str(p.path) for p in load_catalog(catalog).photos}
            data.images = [im or photos.get(pid, "") for pid, im in zip(data.ids, data.images)]
        with progress_bar(not as_json) as progress:
            found = suspects(data, level, folds, progress=progress)
        listed = found[:top]
        if html is not None:
            atomic_write_text(html, html_report(listed, f"Training set v{head}: likely mislabelled rows"))
        if as_json:
            print_json({"version": head, "rows": len(data), "disagreements": len(found), "suspects": listed,
                        "html": str(html) if html else None})
            return
        stdout.print(f"v{head}: {len(found)} of {len(data)} rows disagree with the cross-validated model; top "
                     f"{len(listed)}:", highlight=False)
        for e in listed:
            stdout.print(f"  {e['id']:<8} {e['label']} ({e['p_label']:.2f}) -> {e['predicted']} "
                         f"({e['p_predicted']:.2f})  {e['title']}", highlight=False)
