"""`vsearch query`: photos, text or an indexed id in, similar products out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vsearch.cli.common import (
    DeviceOpt,
    IndexOpt,
    JsonOpt,
    check_photos,
    fail,
    print_json,
    progress_bar,
    read_batch_file,
    resolve_index,
    stderr,
    stdout,
    user_errors,
)

if TYPE_CHECKING:
    from vsearch.index.search import Hit, Searcher

TITLE_KEYS = ("title", "productDisplayName", "name", "product_name")
CATEGORY_KEYS = ("articleType", "category", "type", "subCategory")


def query_command(
    photos: Annotated[list[Path] | None, typer.Argument(help="Photo(s) of one product; several are combined "
                                                           "into one query.")] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", help="Products to return (at least 1).")] = 10,
    text: Annotated[str | None, typer.Option("--text", "-t", help="Text query instead of photos.")] = None,
    like: Annotated[str | None, typer.Option("--like", help="Id of an indexed product: find similar ones.")] = None,
    title_weight: Annotated[float, typer.Option("--title-weight", help="--like: weight of title similarity "
                                                "against photo similarity (0 = photos only; 0.6 chosen on "
                                                "val).")] = 0.6,
    batch: Annotated[Path | None, typer.Option("--batch", help="File with one photo path per line ('-': stdin): one "
                                                  "query each, JSON lines with --json.")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", "-w", help="Metadata filter, repeatable (ANDed): "
                                                    "col=v, col!=v, 'col in (a,b)', col>=n, col=n..m.")] = None,
    index: IndexOpt = None,  # type: ignore[assignment]
    model: Annotated[str | None, typer.Option("--model", "-m", help="Must match the index's model.")] = None,
    weights: Annotated[str | None, typer.Option(help="Local checkpoint of the index's model.")] = None,
    device: DeviceOpt = "auto",
    ocr: Annotated[bool, typer.Option("--ocr", help="Re-rank the top 50 by package text read from the photos "
                                      "(needs `vsearch train retrieval --ocr` and the ocr extra).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Find the products most similar to photos, a text or an indexed product."""
    modes = sum(x is not None and x != [] for x in (photos, text, like, batch))
    if modes != 1:
        raise fail("give exactly one of: PHOTO..., --text, --like, --batch", as_json=as_json)
    if k < 1:
        raise fail(f"-k must be at least 1, got {k}", as_json=as_json)
    if not 0.0 <= title_weight <= 1.0:
        raise fail(f"--title-weight must be in 0..1, got {title_weight}", as_json=as_json)
    if ocr and not photos:
        raise fail("--ocr re-ranks photo queries: give PHOTO...", as_json=as_json)
    if text is not None and not text.strip():
        raise fail("--text is empty: give the words to search for", as_json=as_json)
    with user_errors(as_json):
        from vsearch.index.search import Searcher

        paths = read_batch_file(batch) if batch is not None else None  # inputs checked before any model loads
        check_photos(photos or [])
        with Searcher(resolve_index(index), model=model, weights=weights, device=device, where=where,
                      one_shot=paths is None) as searcher:
            if paths is not None:
                _run_batch(searcher, paths, k, as_json)
                return
            if photos:
                label, hits = " + ".join(map(str, photos)), searcher.search_photos(photos, max(k, 50) if ocr else k)
                if ocr:
                    from vsearch.retrieval.rerank import OcrReranker

                    hits = OcrReranker(searcher.index_dir).rerank(photos, hits, k)
            elif text is not None:
                label, hits = text, searcher.search_text(text, k)
            else:
                label, hits = f"like:{like}", searcher.search_like(str(like), k, title_weight=title_weight)
    _emit(label, hits, as_json)


def _run_batch(searcher: Searcher, paths: list[Path], k: int, as_json: bool) -> None:
    from vsearch.core.errors import BadImageError, BadQueryError

    failed = 0
    with progress_bar(len(paths) > 1) as progress:  # on stderr: stdout stays the results
        for done, path in enumerate(paths, 1):
            try:
                hits = searcher.search_photos([path], k)
            except (BadImageError, BadQueryError) as exc:
                failed += 1
                if as_json:
                    print_json({"query": str(path), "error": str(exc), "results": []})
                else:
                    stderr.print(f"[yellow]skipped[/] {exc}", highlight=False)
            else:
                _emit(str(path), hits, as_json)
            progress("queries", done, len(paths))
    if failed:
        stderr.print(f"{failed} of {len(paths)} queries failed")
        if failed == len(paths):
            raise typer.Exit(1)


def _emit(label: str, hits: list[Hit], as_json: bool) -> None:
    if as_json:
        print_json({"query": label, "results": [h.to_dict() for h in hits]})
        return
    from rich.table import Table

    table = Table(title=f"query: {label}", title_justify="left")
    for col, kw in (("rank", {"justify": "right"}), ("id", {}), ("score", {"justify": "right"}), ("title", {}),
                    ("category", {})):
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for hit in hits:
        title = next((str(hit.metadata[key]) for key in TITLE_KEYS if hit.metadata.get(key)), "")
        category = next((str(hit.metadata[key]) for key in CATEGORY_KEYS if hit.metadata.get(key)), "")
        table.add_row(str(hit.rank), hit.id, f"{hit.score:.3f}", title, category)
    stdout.print(table)
