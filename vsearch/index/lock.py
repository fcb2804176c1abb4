"""One writer per index: an exclusive `flock` on `<index>/write.lock`, held for a whole write.

Every path that changes an index (build, add, remove, repair, head training, `tag --write`) opens
the store writable, and a writable `Store` takes this lock, so no entry point can skip it. Readers
never take it. The holder writes its pid into the file so a refused writer can name it. The lock is
re-entrant within one process (nested writable opens share it) and dies with its process, so a
crashed writer never leaves a stale lock.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vsearch.core.errors import IndexBusyError, IndexReadOnlyError

LOCK_FILE = "write.lock"
DEFAULT_WAIT = 5.0
WAIT_ENV = "VSEARCH_LOCK_WAIT"

_held: dict[str, list[int]] = {}  # lock path + thread -> [fd, depth] of the locks this process holds
_guard = threading.Lock()


def default_wait() -> float:
    """Seconds a writer waits for the lock: $VSEARCH_LOCK_WAIT, else 5."""
    try:
        return float(os.environ.get(WAIT_ENV, DEFAULT_WAIT))
    except ValueError:
        return DEFAULT_WAIT


def _holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 64, 0).decode(errors="replace").strip()
    except OSError:
        raw = ""
    return f"pid {raw}" if raw.isdigit() else "another process"


def acquire(index_dir: str | Path, wait: float | None = None) -> str:
    """Take the writer lock of `index_dir` (waiting up to `wait` s); returns the key to `release`.

    Raises:
        IndexBusyError: another process still holds it after `wait` seconds (the message names its pid).
        IndexReadOnlyError: the lock file cannot be created (read-only filesystem, no permission).
    """
    import fcntl

    index_dir = Path(index_dir)
    path = str((index_dir / LOCK_FILE).absolute())
    key = f"{path}\0{threading.get_ident()}"  # re-entrant per thread: two threads are two writers
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return key
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise IndexReadOnlyError(f"index {index_dir} is read-only ({exc.strerror}): it cannot be changed") from None
        raise
    wait = default_wait() if wait is None else max(0.0, float(wait))
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise IndexBusyError(f"index {index_dir} is being written by {holder}; waited {wait:g}s "
                                     f"(retry, or give more time with --wait SECONDS)") from None
            time.sleep(0.05)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    with _guard:
        _held[key] = [fd, 1]
    return key


def _forget_after_fork() -> None:
    _held.clear()  # the child's copies of the fds are closed by its exit; it takes its own locks


os.register_at_fork(after_in_child=_forget_after_fork)


def release(key: str) -> None:
    """Drop one level of the lock taken by `acquire`; the last one unlocks the file."""
    import fcntl

    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[key]
    fd = entry[0]
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def holds(index_dir: str | Path) -> bool:
    """True when this process holds the writer lock of `index_dir`."""
    return f"{(Path(index_dir) / LOCK_FILE).absolute()}\0{threading.get_ident()}" in _held


@contextmanager
def writer_lock(index_dir: str | Path, wait: float | None = None) -> Iterator[None]:
    """Hold the writer lock of `index_dir` for the block (see `acquire`)."""
    key = acquire(index_dir, wait)
    try:
        yield
    finally:
        release(key)
