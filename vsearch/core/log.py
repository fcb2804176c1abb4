"""Logging set-up (called once by the CLI), a timer for pipeline steps, and the progress callback type."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total) while a long step runs; the CLI drives a rich progress bar with it."""


def no_progress(stage: str, done: int, total: int) -> None:
    """The `Progress` callback of library calls that report to nobody."""
    return None


class _OneLine(logging.Formatter):
    """`warning: message` on one line, however long (rich's handler wrapped long messages at 80 columns)."""

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().split())
        return f"{record.levelname.lower()}: {text}"


def setup_logging(verbose: bool = False) -> None:
    """Route vsearch logs to stderr, one line each; INFO with --verbose, WARNING otherwise."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("vsearch").setLevel(logging.INFO if verbose else logging.WARNING)


@contextmanager
def timed(step: str) -> Iterator[dict[str, float]]:
    """Log how long `step` took; the yielded dict receives `seconds` when the block ends."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    _logger.info("%s ...", step)
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start
        _logger.info("%s done in %.2fs", step, out["seconds"])
