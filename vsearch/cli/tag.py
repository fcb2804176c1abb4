"""`vsearch tag`: attributes and tags of photos, or of every indexed product (--write)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.common import (
    DeviceOpt,
    JsonOpt,
    fail,
    print_json,
    read_batch_file,
    resolve_index,
    stderr,
    stdout,
    user_errors,
)


def tag_command(
    photos: Annotated[list[Path] | None, typer.Argument(help="Photos to tag (need not be in the index).")] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help="File with one photo path per line.")] = None,
    index: Annotated[Path | None, typer.Option("--index", "-i", help="Index whose heads/ to use (default: "
                                               "$VSEARCH_INDEX or indexes/default).", envvar="VSEARCH_INDEX")] = None,
    heads: Annotated[Path | None, typer.Option("--heads", help="Heads folder or .pt file instead of "
                                               "INDEX/heads.")] = None,
    write: Annotated[bool, typer.Option("--write", help="Tag every indexed product and store the tags as "
                                        "metadata.")] = False,
    zero_shot: Annotated[bool, typer.Option("--zero-shot/--no-zero-shot", help="Add zero-shot style tags "
                                            "(needs `vsearch train align`).")] = True,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Print attributes with probabilities and tags above their thresholds for each photo."""
    if sum(bool(x) for x in (photos, batch, write)) != 1:
        raise fail("give exactly one of: PHOTO..., --batch, --write")
    with user_errors():
        from vsearch.tags.tagger import Tagger, write_tags

        index_dir = resolve_index(index) if index is not None or heads is None or write else None
        tagger = Tagger(index_dir, heads, device=None if device == "auto" else device, zero_shot=zero_shot)
        if write:
            summary = write_tags(tagger, index_dir)
            if as_json:
                print_json(summary)
            else:
                stdout.print(f"tagged {summary['products']} products in {summary['index']} "
                             f"({', '.join(summary['attributes'])}, tags)", highlight=False)
            return
        if batch is not None:
            _run_batch(tagger, batch, as_json)
            return
        for result in tagger.tag_photos(list(photos or [])):
            _emit(result, as_json)


def _run_batch(tagger: Any, batch: Path, as_json: bool) -> None:
    from vsearch.core.errors import BadImageError

    paths = read_batch_file(batch)
    failed = 0
    for path in paths:
        try:
            _emit(tagger.tag_photos([path])[0], as_json)
        except BadImageError as exc:
            failed += 1
            if as_json:
                print_json({"photo": str(path), "error": str(exc), "attributes": {}, "tags": []})
            else:
                stderr.print(f"[yellow]skipped[/] {exc}", highlight=False)
    if failed:
        stderr.print(f"{failed} of {len(paths)} photos failed")
        if failed == len(paths):
            raise typer.Exit(1)


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    stdout.print(f"[bold]{result['photo']}[/]", highlight=False)
    for name, attr in result["attributes"].items():
        stdout.print(f"  {name:<14} {attr['label']:<20} {attr['prob']:.2f}", highlight=False)
    tags = ", ".join(f"{t['tag']} {t['prob']:.2f}" + (" (zero-shot)" if t["zero_shot"] else "")
                     for t in result["tags"])
    stdout.print(f"  {'tags':<14} {tags or '-'}", highlight=False)
