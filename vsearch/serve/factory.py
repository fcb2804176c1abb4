"""The app as uvicorn's worker processes build it: settings come from the environment `vsearch serve` set."""

from __future__ import annotations

import os
from typing import Any


def set_model_threads(threads: int) -> None:
    """Threads torch and FAISS use inside one request. Requests already run in parallel on the server's thread
    pool, so one thread each keeps every core busy without the threads of concurrent requests fighting (on 2
    cores: text p50 16 ms with 1 thread vs 25 ms with 2, 16-client photo throughput 31 vs 24 per s,
    eval/bench/README.md)."""
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def app_from_env() -> Any:
    """`create_app` with VSEARCH_SERVE_INDEX / _DEVICE / _CORS / _THREADS (uvicorn `factory=True`, once per
    worker process)."""
    from vsearch.serve.app import create_app

    set_model_threads(int(os.environ.get("VSEARCH_SERVE_THREADS", "1")))
    device = os.environ.get("VSEARCH_SERVE_DEVICE", "auto")
    cors = [o for o in os.environ.get("VSEARCH_SERVE_CORS", "").split(",") if o]
    return create_app(os.environ["VSEARCH_SERVE_INDEX"], device=None if device == "auto" else device,
                      cors_origins=cors or None)
