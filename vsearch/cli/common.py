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


WaitOpt = Annotated[float | None, typer.Option("--wait", min=0, help="Seconds to wait for another process writing "
                                               "the index (default: $VSEARCH_LOCK_WAIT or 5).")]


def fail(message: str, code: int = 1, as_json: bool = False) -> typer.Exit:
    """Print `error: message` on stderr (and `{"error": ...}` on stdout with --json); return the Exit to raise."""
    message = " ".join(str(message).split())  # always one line
    if as_json:
        print_json({"error": message})
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def user_errors(as_json: bool = False) -> Iterator[None]:
    """Turn the library's `VsearchError`s (and Ctrl-C) into a one-line message and a non-zero exit.

    Errors of damaged files that reach here from lmdb, or a read-only filesystem, get one line too.
    """
    from vsearch.core.errors import VsearchError

    try:
        yield
    except VsearchError as exc:
        raise fail(str(exc), as_json=as_json) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130, as_json=as_json) from None
    except OSError as exc:
        import errno

        if exc.errno not in (errno.EROFS, errno.EACCES, errno.ENOSPC, errno.EIO):
            raise
        raise fail(f"{exc.filename or 'file'}: {exc.strerror}", as_json=as_json) from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "lmdb":
            raise
        raise fail(f"the index store is damaged or unreadable: {exc}", as_json=as_json) from None


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
    bar = Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=stderr, transient=False)

    def update(stage: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()  # only once there is progress to show: an early error stays one line
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def resolve_index(index: Path | None) -> Path:
    return index if index is not None else Path(os.environ.get("VSEARCH_INDEX", DEFAULT_INDEX))


def read_batch_file(batch: Path) -> list[Path]:
    """Photo paths listed one per line (blank lines and `#` comments skipped); relative ones resolve
    from the current folder, else from the list's folder. `-` reads the list from stdin.

    Raises:
        BadQueryError: no such file, not UTF-8, or no photo path in it.
    """
    from vsearch.core.errors import BadQueryError

    stdin = str(batch) == "-"
    if not stdin and not batch.is_file():
        raise BadQueryError(f"batch file not found: {batch}" + (" (it is a folder)" if batch.is_dir() else ""))
    try:
        text = sys.stdin.buffer.read().decode("utf-8") if stdin else batch.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadQueryError(f"batch file {batch} is not UTF-8 text (byte {exc.start})") from None
    lines = [line.strip() for line in text.splitlines()]
    base = Path.cwd() if stdin else batch.parent
    paths = [Path(line) if Path(line).is_absolute() or Path(line).exists() else base / line
             for line in lines if line and not line.startswith("#")]
    if not paths:
        raise BadQueryError(f"batch file {'(stdin)' if stdin else batch} lists no photo paths")
    return paths


def check_photos(photos: list[Path]) -> None:
    """Refuse missing files and folders before any model loads (a model takes seconds to load)."""
    from vsearch.core.errors import BadImageError

    for photo in photos:
        if photo.is_dir():
            raise BadImageError(f"{photo}: a folder, not a photo")
        if not photo.is_file():
            raise BadImageError(f"{photo}: no such file")

