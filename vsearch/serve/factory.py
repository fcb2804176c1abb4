"""The app as uvicorn's worker processes build it: settings come from the environment `vsearch serve` set."""

from __future__ import annotations

import os
from typing import Any


def app_from_env() -> Any:
    """`create_app` with VSEARCH_SERVE_INDEX / _DEVICE / _CORS (uvicorn `factory=True`, once per worker)."""
    from vsearch.serve.app import create_app

    device = os.environ.get("VSEARCH_SERVE_DEVICE", "auto")
    cors = [o for o in os.environ.get("VSEARCH_SERVE_CORS", "").split(",") if o]
    return create_app(os.environ["VSEARCH_SERVE_INDEX"], device=None if device == "auto" else device,
                      cors_origins=cors or None)
