"""`vsearch serve`: the HTTP API and web page over one index."""

from __future__ import annotations

from typing import Annotated

import typer

from vsearch.cli.common import DeviceOpt, IndexOpt, JsonOpt, print_json, resolve_index, stderr, user_errors


def serve_command(
    index: IndexOpt = None,  # type: ignore[assignment]
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (each loads the model once).")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Model threads per request (requests run in parallel, so 1 "
                                         "keeps all cores busy under load).")] = 1,
    cors: Annotated[list[str] | None, typer.Option("--cors", help="Allowed CORS origin, repeatable (off by "
                                                  "default).")] = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Serve the JSON API (/api, OpenAPI at /docs) and the search page (/) until Ctrl-C."""
    import os

    with user_errors(as_json):
        from vsearch.index.manifest import read_manifest

        index_dir = resolve_index(index)
        read_manifest(index_dir)  # a missing or damaged index fails here, before the server starts
        import uvicorn

        os.environ["VSEARCH_SERVE_INDEX"] = str(index_dir)
        os.environ["VSEARCH_SERVE_DEVICE"] = device
        os.environ["VSEARCH_SERVE_THREADS"] = str(threads)
        if cors:
            os.environ["VSEARCH_SERVE_CORS"] = ",".join(cors)
        if as_json:
            print_json({"url": f"http://{host}:{port}/", "index": str(index_dir), "workers": workers,
                        "threads": threads})
        else:
            stderr.print(f"serving {index_dir} on http://{host}:{port}/ (API docs at /docs)")
        uvicorn.run("vsearch.serve.factory:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
