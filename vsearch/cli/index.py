"""`vsearch index build|add|remove|info`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vsearch.cli.common import (
    DeviceOpt,
    IndexOpt,
    JsonOpt,
    WaitOpt,
    print_json,
    progress_bar,
    resolve_index,
    stderr,
    stdout,
    user_errors,
)

if TYPE_CHECKING:
    from vsearch.index.verify import Verdict

app = typer.Typer(no_args_is_help=True, help="Build and inspect indexes.")


@app.command("build")
def build_command(
    catalog: Annotated[Path, typer.Argument(help="Folder of photos, or a labels file (CSV/JSONL/Parquet).")],
    labels: Annotated[Path | None, typer.Option(help="Labels file with id,image,... columns "
                                                   "(default: labels.csv|jsonl|parquet in CATALOG).")] = None,
    index: IndexOpt = None,  # type: ignore[assignment]
    model: Annotated[str, typer.Option("--model", "-m", help="Image model, e.g. timm:tf_efficientnet_lite0, "
                                       "open_clip:ViT-B-32/laion2b_s34b_b79k, tiny.")] = "timm:tf_efficientnet_lite0",
    weights: Annotated[str | None, typer.Option(help="Local checkpoint for the model (instead of bundled or "
                                                   "hub weights).")] = None,
    titles: Annotated[bool, typer.Option("--titles/--no-titles", help="Embed the title column for text "
                                         "search.")] = True,
    title_column: Annotated[str | None, typer.Option(help="Column with product titles (default: title, "
                                                        "productDisplayName, name).")] = None,
    id_from: Annotated[str, typer.Option(help="Without labels: ids from file 'stem', 'folder' (<id>/<view>.jpg) "
                                         "or 'auto'.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per forward pass.")] = 64,
    workers: Annotated[int | None, typer.Option(min=0, help="Decode workers (default: cores - 1).")] = None,
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16.")] = "auto",
    index_type: Annotated[str, typer.Option("--index-type", help="auto, flat, hnsw, ivf, ivf-sq8, ivf-pq or a FAISS "
                                            "factory string (e.g. 'IVF256,SQ8').")] = "auto",
    max_memory: Annotated[str | None, typer.Option("--max-memory", help="Memory budget of the image index for "
                                                   "--index-type auto, e.g. 4GB.")] = None,
    target_recall: Annotated[float, typer.Option(min=0.0, max=1.0, help="recall@10 that nprobe/efSearch are "
                                                 "tuned to reach.")] = 0.95,
    allow_outside_paths: Annotated[bool, typer.Option("--allow-outside-paths", help="Read image paths that lead "
                                                      "outside the catalogue folder (absolute, ../).")] = False,
    wait: WaitOpt = None,
    device: DeviceOpt = "auto",
    engine: Annotated[str, typer.Option(help="local (this process) or ray (embedding actors on a Ray "
                                        "cluster).")] = "local",
    address: Annotated[str, typer.Option(help="--engine ray: cluster to join, auto, HOST:PORT or local "
                                         "(start one here).")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Embed every photo (and title) of CATALOG and build its FAISS index. Re-running resumes."""
    with user_errors(as_json):
        from vsearch.catalog.reader import load_catalog
        from vsearch.core.errors import BadQueryError
        from vsearch.index.build import build_catalog_index
        from vsearch.models import create_text_embedder

        cat = load_catalog(catalog, labels, id_from=id_from, title_column=title_column,  # type: ignore[arg-type]
                           allow_outside_paths=allow_outside_paths)
        from vsearch.models.retrieval_head import index_photo_embedder

        embedder = index_photo_embedder(resolve_index(index), model, weights=weights, device=device,
                                        precision=precision)
        text = create_text_embedder(device=device) if titles and cat.title_column else None
        if engine not in ("local", "ray"):
            raise BadQueryError(f"--engine must be local or ray, not {engine!r}")
        with progress_bar(not as_json) as progress:
            if engine == "ray":
                from vsearch.distributed.ray_build import EmbedSpec, build_on_ray

                spec = EmbedSpec(model, weights, precision, batch_size=batch_size,
                                 head=getattr(embedder, "head", None))  # the actors apply the same retrieval head
                report, _ = build_on_ray(cat, resolve_index(index), embedder, spec, text, address=address,
                                         progress=progress, batch_size=batch_size, workers=workers,
                                         factory=index_type, max_memory=max_memory, target_recall=target_recall,
                                         wait=wait)
            else:
                report = build_catalog_index(cat, resolve_index(index), embedder, text, batch_size=batch_size,
                                             workers=workers, factory=index_type, max_memory=max_memory,
                                             target_recall=target_recall, progress=progress, wait=wait)
    if as_json:
        print_json(report.to_dict())
        return
    stdout.print(f"indexed {report.photos_embedded + report.photos_reused} photos of {report.products} products "
                 f"into {report.index_dir} ({report.photos_reused} reused, {report.titles_embedded} titles) "
                 f"in {report.seconds:.1f}s; {report.images_per_s:.1f} images/s with {report.model}")
    choice = report.index
    stdout.print(f"index {choice.get('factory')} {choice.get('params') or ''} recall@10 {choice.get('recall_at_10')}: "
                 + "; ".join(map(str, choice.get("reasons", []))), highlight=False, soft_wrap=True)  # type: ignore[call-overload]
    _warn_bad(report.bad)


@app.command("add")
def add_command(
    catalog: Annotated[Path, typer.Argument(help="Folder of new photos, or a labels file.")],
    labels: Annotated[Path | None, typer.Option(help="Labels file with id,image,... columns.")] = None,
    index: IndexOpt = None,  # type: ignore[assignment]
    id_from: Annotated[str, typer.Option(help="Without labels: ids from file 'stem', 'folder' or 'auto'.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Photos per forward pass.")] = 64,
    workers: Annotated[int | None, typer.Option(min=0, help="Decode workers (default: cores - 1).")] = None,
    weights: Annotated[str | None, typer.Option(help="Local checkpoint of the index's model.")] = None,
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16.")] = "auto",
    allow_outside_paths: Annotated[bool, typer.Option("--allow-outside-paths", help="Read image paths that lead "
                                                      "outside the catalogue folder (absolute, ../).")] = False,
    wait: WaitOpt = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Add or update (upsert by id) products in a built index, without retraining it. Re-running resumes."""
    with user_errors(as_json):
        from vsearch.catalog.reader import load_catalog
        from vsearch.index.build import add_products
        from vsearch.index.manifest import read_manifest
        from vsearch.models import create_text_embedder

        path = resolve_index(index)
        manifest = read_manifest(path)
        cat = load_catalog(catalog, labels, id_from=id_from,  # type: ignore[arg-type]
                           allow_outside_paths=allow_outside_paths)
        from vsearch.models.retrieval_head import index_photo_embedder

        embedder = index_photo_embedder(path, manifest.model, weights_id=manifest.weights_id, weights=weights,
                                        device=device, precision=precision, resize=manifest.resize)
        text = (create_text_embedder(manifest.text_model, device=device)
                if manifest.text_model and cat.title_column else None)
        with progress_bar(not as_json) as progress:
            report = add_products(cat, path, embedder, text, batch_size=batch_size, workers=workers,
                                  progress=progress, wait=wait)
    if as_json:
        print_json(report.to_dict())
        return
    stdout.print(f"{report.products_added} added, {report.products_updated} updated: {report.photos_embedded} "
                 f"photos embedded ({report.photos_reused} unchanged), {report.rows_removed} old photos dropped; "
                 f"index holds {report.vectors} vectors ({report.seconds:.1f}s)", highlight=False)
    _warn_bad(report.bad)
    if report.needs_retrain:
        stderr.print(f"[yellow]retrain advised:[/] {report.needs_retrain}", highlight=False, soft_wrap=True)


@app.command("remove")
def remove_command(
    ids: Annotated[list[str], typer.Argument(help="Product ids to delete.")],
    index: IndexOpt = None,  # type: ignore[assignment]
    wait: WaitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete products (all their photos and titles) from an index. Unknown ids are reported, not fatal."""
    with user_errors(as_json):
        from vsearch.index.update import remove_products

        report = remove_products(resolve_index(index), ids, wait=wait)
    if as_json:
        print_json(report.to_dict())
        return
    stdout.print(f"removed {report.products_removed} products ({report.rows_removed} vectors); index holds "
                 f"{report.vectors} vectors", highlight=False)
    if report.missing_ids:
        stderr.print(f"[yellow]not in the index:[/] {' '.join(report.missing_ids)}", highlight=False)


def _warn_bad(bad: list[dict[str, str]]) -> None:
    if bad:
        stderr.print(f"[yellow]skipped {len(bad)} bad photo(s):[/]")
        for item in bad:
            stderr.print(f"  {item['path']}: {item['reason']}", highlight=False, soft_wrap=True)


@app.command("info")
def info_command(index: IndexOpt = None, as_json: JsonOpt = False) -> None:  # type: ignore[assignment]
    """Model, dimension, counts, metric, size on disk and build time of an index."""
    from dataclasses import asdict

    with user_errors(as_json):
        from vsearch.index.manifest import read_manifest
        from vsearch.index.verify import verify_index

        path = resolve_index(index)
        manifest = read_manifest(path)
        verdict = verify_index(path, deep=False)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    info = {"index": str(path), **asdict(manifest), "size_bytes": size, "health": verdict.to_dict()}
    if as_json:
        print_json(info)
        if verdict.problems:
            raise typer.Exit(1)
        return
    for key in ("index", "model", "weights_id", "dim", "metric", "index_type", "count", "products", "text_model",
                "text_count", "vsearch_version", "created", "updated"):
        stdout.print(f"[bold]{key:<16}[/] {info[key]}", highlight=False)
    stdout.print(f"[bold]{'size':<16}[/] {size / 1e6:.1f} MB", highlight=False)
    build = dict(info["build"])
    choice = build.pop("index", None) or {}
    if choice:
        stdout.print(f"[bold]{'search params':<16}[/] {choice.get('params') or '(exact)'}; recall@10 "
                     f"{choice.get('recall_at_10')} on {choice.get('recall_queries')} sampled queries", highlight=False)
        stdout.print(f"[bold]{'chosen because':<16}[/] {'; '.join(choice.get('reasons', []))}", highlight=False,
                     soft_wrap=True)
    if build.get("needs_retrain"):
        stdout.print(f"[bold]{'retrain':<16}[/] [yellow]{build['needs_retrain']}[/]", highlight=False, soft_wrap=True)
    stdout.print(f"[bold]{'build':<16}[/] {build}", highlight=False)
    _print_health(verdict)
    if verdict.problems:
        raise typer.Exit(1)


def _print_health(verdict: Verdict) -> None:
    state = "ok" if verdict.ok else ("DAMAGED" if verdict.problems else "behind its store")
    stdout.print(f"[bold]{'health':<16}[/] {state}", highlight=False)
    for problem in verdict.problems:
        stderr.print(f"[bold red]problem:[/] {problem}", highlight=False, soft_wrap=True)
    for note in verdict.behind:
        stderr.print(f"[yellow]behind:[/] {note}", highlight=False, soft_wrap=True)


@app.command("verify")
def verify_command(index: IndexOpt = None, as_json: JsonOpt = False) -> None:  # type: ignore[assignment]
    """Check store, FAISS files and manifest against each other (counts, generations, checksums); exit 1 when
    anything is wrong."""
    with user_errors(as_json):
        from vsearch.index.verify import verify_index

        verdict = verify_index(resolve_index(index))
    if as_json:
        print_json(verdict.to_dict())
    else:
        _print_health(verdict)
    if not verdict.ok:
        raise typer.Exit(1)


@app.command("repair")
def repair_command(index: IndexOpt = None, wait: WaitOpt = None,  # type: ignore[assignment]
                   as_json: JsonOpt = False) -> None:
    """Rebuild the FAISS files from the store without re-embedding; refuses when the store is damaged."""
    with user_errors(as_json):
        from vsearch.index.verify import repair_index

        verdict = repair_index(resolve_index(index), wait=wait)
    if as_json:
        print_json(verdict.to_dict())
    else:
        stdout.print(f"repaired {verdict.index_dir}: {verdict.counts.get('image_rows')} image vectors, "
                     f"{verdict.counts.get('title_rows')} title vectors republished from the store", highlight=False)
        _print_health(verdict)
    if not verdict.ok:
        raise typer.Exit(1)
