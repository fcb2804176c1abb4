"""Open an index for writing: take the writer lock, refuse a damaged index, finish an interrupted publish.

Every command that changes an index goes through `open_writable`, so none of them can make a
damaged index smaller: a folder whose manifest says it was built but whose store is missing or
truncated is refused (the store is the only copy of the vectors), never silently started over.
"""

from __future__ import annotations

from pathlib import Path

from vsearch.core.errors import IndexDamagedError, IndexMissingError
from vsearch.index import lock
from vsearch.index.manifest import MANIFEST, STORE
from vsearch.index.store import Store


def open_writable(index_dir: str | Path, wait: float | None = None, *, must_exist: bool = True) -> Store:
    """The index's store opened writable, holding the writer lock until the store is closed.

    Args:
        wait: seconds to wait for another writer (default $VSEARCH_LOCK_WAIT or 5).
        must_exist: the index must already be built (add, remove, repair); False for build.

    Raises:
        IndexBusyError, IndexReadOnlyError: from the lock.
        IndexMissingError: `must_exist` and there is no index.
        IndexDamagedError: a built index (manifest present) without a whole store.
    """
    from vsearch.index.publish import recover

    index_dir = Path(index_dir)
    if must_exist and not (index_dir / MANIFEST).is_file():
        raise IndexMissingError(f"no index at {index_dir}: build one with `vsearch index build CATALOG`")
    key = lock.acquire(index_dir, wait)
    try:
        recover(index_dir)
        built = (index_dir / MANIFEST).is_file()
        if (must_exist or built) and not (index_dir / STORE / "data.mdb").is_file():
            raise IndexDamagedError(f"index {index_dir} is damaged: its store ({STORE}/data.mdb) is missing, and it "
                                    "is the only copy of the vectors; refusing to write (restore it, or build "
                                    "into an empty folder)")
        return Store(index_dir / STORE, wait=wait)
    finally:
        lock.release(key)
