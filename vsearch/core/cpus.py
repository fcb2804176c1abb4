"""How many CPUs this process may run on: what thread and worker counts start from."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (so `taskset` and container CPU sets are respected), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
