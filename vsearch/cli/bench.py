"""`vsearch bench`: speed and recall measured on this machine, as JSON + Markdown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vsearch.cli.common import JsonOpt, print_json, stderr, stdout, user_errors


def _default_catalog() -> Path:
    data = os.environ.get("VSEARCH_SHARED_DATA")
    return Path(data) / "products-224" if data else Path("../shared/data/products-224")


def bench_command(
    quick: Annotated[bool, typer.Option("--quick", help="CI-sized run (about two minutes): 128 photos, 20k "
                                        "vectors.")] = False,
    catalog: Annotated[Path | None, typer.Option(help="Real photos to embed (default: "
                                                      "../shared/data/products-224).")] = None,
    source_index: Annotated[Path | None, typer.Option(help="Built index whose real embeddings seed the synthetic "
                                                           "vectors and serve the latency test (default: the one "
                                                           "the bench builds).")] = None,
    sizes: Annotated[str | None, typer.Option(help="Vector counts, comma-separated (default 100000,1000000; "
                                                   "quick 20000).")] = None,
    max_memory: Annotated[str, typer.Option(help="Memory budget given to the auto index.")] = "4GB",
    model: Annotated[str, typer.Option("--model", "-m", help="Backbone to time.")] = "timm:tf_efficientnet_lite0",
    photos: Annotated[int | None, typer.Option(min=8, help="Photos for the forward/build rates.")] = None,
    calibration: Annotated[Path | None, typer.Option(help="calibration.json whose generator knobs to reuse "
                                                          "instead of calibrating (minutes) in this run.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for bench[-quick].json and .md.")] = Path("eval/bench"),
    as_json: JsonOpt = False,
) -> None:
    """Measure embedding rate, index QPS/recall/memory and query latency; write JSON and a Markdown table."""
    with user_errors():
        from vsearch.bench.run import BenchConfig, run_bench, write_results
        from vsearch.core.errors import BadQueryError
        from vsearch.index.autoindex import parse_memory

        root = catalog or _default_catalog()
        kw = {"model": model, "max_memory": parse_memory(max_memory), "source_index": source_index}
        cfg = BenchConfig.quick_config(root, **kw) if quick else BenchConfig(root, **kw)  # type: ignore[arg-type]
        if calibration:
            import json

            from vsearch.bench.synthetic import Knobs

            if not calibration.is_file():
                raise BadQueryError(f"calibration file not found: {calibration}")
            cfg.knobs = Knobs(**json.loads(calibration.read_text(encoding="utf-8"))["vectors"]["knobs"])
        if photos:
            cfg.photos = photos
        if sizes:
            try:
                cfg.sizes = [int(s) for s in sizes.split(",") if s.strip()]
            except ValueError:
                raise BadQueryError(f"--sizes must be integers separated by commas, not '{sizes}'") from None
        doc = run_bench(cfg, progress=lambda step: None if as_json else stderr.print(f"bench: {step}"))
        json_path, md_path = write_results(doc, out, "bench-quick" if quick else "bench")
    if as_json:
        print_json(doc)
        return
    stdout.print(md_path.read_text(encoding="utf-8"), highlight=False, markup=False)
    stdout.print(f"written: {json_path}, {md_path}", highlight=False)
