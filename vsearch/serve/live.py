"""The server's view of an index: one Searcher, swapped for a fresh one when another process publishes.

`vsearch index add/remove` publish by renaming a new manifest into place last, so the manifest's
identity (inode, size, mtime) changes exactly once per publish. Requests check it (one `stat`); the
model stays loaded across swaps, so a swap costs an lmdb open and the FAISS read, not a model load.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.index.manifest import MANIFEST

if TYPE_CHECKING:
    from vsearch.index.search import Searcher


def _stamp(index_dir: Path) -> tuple[int, int, int]:
    st = (index_dir / MANIFEST).stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


class LiveIndex:
    """The current Searcher of `index_dir`; earlier ones stay open until two publishes later (in-flight requests)."""

    def __init__(self, index_dir: str | Path, device: str | None = None) -> None:
        from vsearch.index.search import Searcher

        self.index_dir = Path(index_dir)
        self._device = device
        self._lock = threading.Lock()
        self._stamp = _stamp(self.index_dir)
        self._current: Searcher = Searcher(self.index_dir, device=device)
        self._retired: list[Searcher] = []

    def get(self) -> Searcher:
        """The Searcher of the last published state (reloaded when the manifest changed)."""
        try:
            stamp = _stamp(self.index_dir)
        except OSError:
            return self._current  # mid-rename: keep answering from the last published state
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._swap(stamp)
        return self._current

    def _swap(self, stamp: tuple[int, int, int]) -> None:
        from vsearch.index.search import Searcher

        fresh = Searcher(self.index_dir, device=self._device)
        old = self._current
        if fresh.manifest.model == old.manifest.model:
            fresh.reuse_models(old)
        self._current, self._stamp = fresh, stamp
        self._retired.append(old)
        while len(self._retired) > 2:
            self._retired.pop(0).close()

    def close(self) -> None:
        for searcher in [*self._retired, self._current]:
            searcher.close()
