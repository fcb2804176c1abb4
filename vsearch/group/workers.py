"""How many threads the grouping's batch work uses, and a map over batches on them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from vsearch.core.cpus import usable_cpus

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """`OMP_NUM_THREADS` when set, else the CPUs this process may run on (so `taskset` is respected)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cpus()


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """`[fn(x) for x in items]`, on `workers` threads when > 1 (numpy and scipy release the GIL in the heavy
    parts: sparse products, sorts, gathers)."""
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))
