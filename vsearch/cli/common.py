"""What every command shares: one-line errors, JSON output, progress bars, default paths.

Nothing heavy is imported here: `vsearch --help` must not load torch or faiss.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from vsearch.core.log import Progress, no_progress

DEFAULT_INDEX = Path("indexes") / "default"

IndexOpt = Annotated[Path, typer.Option("--index", "-i", help="Index folder (default: $VSEARCH_INDEX or "
                                        "indexes/default).", envvar="VSEARCH_INDEX")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")]

stderr = Console(stderr=True)
stdout = Console()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr and return the Exit to raise."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's `VsearchError`s (and Ctrl-C) into a one-line message and a non-zero exit."""
    from vsearch.core.errors import VsearchError

    try:
        yield
    except VsearchError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def print_json(obj: Any) -> None:
    """One JSON document (or line) on stdout, unicode kept readable."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress bar on stderr driven by (stage, done, total) callbacks, one task per stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not enabled:
        yield no_progress
        return
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=False) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def resolve_index(index: Path | None) -> Path:
    return index if index is not None else Path(os.environ.get("VSEARCH_INDEX", DEFAULT_INDEX))


def read_batch_file(batch: Path) -> list[Path]:
    """Photo paths listed one per line (blank lines and `#` comments skipped); relative ones resolve
    from the current folder, else from the list's folder."""
    from vsearch.core.errors import BadQueryError

    if not batch.is_file():
        raise BadQueryError(f"batch file not found: {batch}")
    lines = [line.strip() for line in batch.read_text(encoding="utf-8").splitlines()]
    return [Path(line) if Path(line).is_absolute() or Path(line).exists() else batch.parent / line
            for line in lines if line and not line.startswith("#")]

