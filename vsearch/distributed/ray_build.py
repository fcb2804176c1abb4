"""`vsearch index build --engine ray`: photos embedded by Ray actors, written by the driver alone.

Plain Ray actors over shards of the photo list (not Ray Data): the catalogue is already a list of paths,
each actor loads the model once and runs the same `embed_photos` loop as the single-process build, and the
driver is the single lmdb writer. Once every photo is in the store, `build_catalog_index` runs as usual:
it finds every photo reused, embeds titles, trains FAISS on the store and writes the manifest, so the
store format, the index and resumability (photos already stored are skipped) are the single-process ones.
Photos an actor could not read are left out of the store; the local pass retries and reports them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.core.errors import BadQueryError, CatalogError
from vsearch.core.log import Progress, no_progress

if TYPE_CHECKING:
    from vsearch.catalog.reader import Catalog
    from vsearch.index.build import BuildReport
    from vsearch.index.store import Store
    from vsearch.models.base import ImageEmbedder, TextEmbedder
    from vsearch.models.retrieval_head import RetrievalHead

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedSpec:
    """What an actor needs to make the driver's embedder again (models are built there, not pickled)."""

    model: str
    weights: str | None = None
    precision: str = "auto"
    resize: str = "squash"
    batch_size: int = 64
    decode_workers: int | None = None  # None: 0 on a 1-CPU actor, its spare CPUs on a GPU actor
    head: RetrievalHead | None = None  # the index's retrieval head, shipped by value: nodes may not see its file


@dataclass
class RayStats:
    """What the Ray pass did: counts, actors and rates (per actor and overall)."""

    actors: int = 0
    gpus_per_actor: float = 0.0
    shards: int = 0
    embedded: int = 0
    failed: int = 0
    reused: int = 0
    seconds: float = 0.0
    images_per_s: float = 0.0
    per_actor_images_per_s: list[float] | None = None
    per_actor_peak_rss_mb: list[float] | None = None


class ShardEmbedder:
    """The actor body: holds one embedder, embeds one shard of paths per call."""

    def __init__(self, spec: EmbedSpec, device: str, cpus: int = 1) -> None:
        import torch

        from vsearch.models import create_embedder

        torch.set_num_threads(1)
        self.spec = spec
        self.decode_workers = spec.decode_workers if spec.decode_workers is not None else max(0, cpus - 1)
        self.embedder = create_embedder(spec.model, weights=spec.weights, device=device,
                                        precision=spec.precision, resize=spec.resize)  # type: ignore[arg-type]
        if spec.head is not None:
            from vsearch.models.retrieval_head import HeadedEmbedder

            self.embedder = HeadedEmbedder(self.embedder, spec.head)  # type: ignore[assignment]
        self.busy = 0.0
        self.done = 0

    def embed(self, shard: int, paths: list[str]) -> tuple[int, list[int], Any, list[tuple[int, str]], float]:
        """(shard, positions, vectors [n, dim], failures, seconds) for one shard."""
        import numpy as np

        from vsearch.models.embed import embed_photos

        t0 = time.perf_counter()
        positions: list[int] = []
        chunks = []
        failures: list[tuple[int, str]] = []
        for batch in embed_photos(self.embedder, paths, self.spec.batch_size, self.decode_workers):
            positions.extend(batch.positions)
            chunks.append(batch.vectors)
            failures.extend(batch.failures)
        vectors = np.concatenate(chunks) if chunks else np.zeros((0, self.embedder.dim), np.float32)
        seconds = time.perf_counter() - t0
        self.busy += seconds
        self.done += len(positions)
        return shard, positions, vectors, failures, seconds

    def rate(self) -> float:
        """Photos per second of embedding (model load and idle time excluded)."""
        return round(self.done / self.busy, 2) if self.busy else 0.0

    def peak_rss_mb(self) -> float:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def connect(address: str = "auto", num_cpus: int | None = None) -> None:
    """Join the cluster at `address` ("auto", "HOST:PORT") or start one in-process ("local")."""
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
    if address == "local":
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)
    else:
        if address != "auto":
            _check_reachable(address)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BadQueryError(f"cannot reach a Ray cluster at {address!r}: {exc}") from exc


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a wrong HOST:PORT (Ray itself retries the head for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise BadQueryError(f"--address must be auto, local or HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise BadQueryError(f"no Ray head at {address}: {exc}") from exc


def actor_plan(resources: dict[str, float], max_actors: int | None = None) -> tuple[int, float, int]:
    """(actors, GPUs per actor, CPUs per actor) from the cluster's resources: one actor per GPU if any."""
    gpus = int(resources.get("GPU", 0))
    cpus = int(resources.get("CPU", 1))
    if gpus:
        count, per_gpu, per_cpu = gpus, 1.0, max(1, cpus // gpus)
    else:
        count, per_gpu, per_cpu = max(1, cpus), 0.0, 1
    if max_actors:
        count = min(count, max_actors)
    return count, per_gpu, per_cpu


def _shards(n: int, size: int) -> Iterator[tuple[int, int, int]]:
    for shard, start in enumerate(range(0, n, size)):
        yield shard, start, min(n, start + size)


def embed_on_ray(store: Store, catalog: Catalog, spec: EmbedSpec, *, shard_size: int = 256,
                 max_actors: int | None = None, progress: Progress = no_progress) -> RayStats:
    """Embed the catalogue's missing photos on the connected cluster; the driver writes each shard."""
    import ray

    from vsearch.index.build import photos_to_embed

    todo, todo_sigs = photos_to_embed(store, catalog)
    stats = RayStats(reused=len(catalog.photos) - len(todo))
    if not todo:
        return stats
    count, gpus, cpus = actor_plan(ray.cluster_resources(), max_actors)
    stats.actors, stats.gpus_per_actor = count, gpus
    device = "cuda" if gpus else "cpu"
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus)(ShardEmbedder)
    actors = [remote.remote(spec, device, cpus) for _ in range(count)]  # type: ignore[attr-defined]
    pending = list(_shards(len(todo), shard_size))
    stats.shards = len(pending)
    in_flight: dict[Any, int] = {}
    t0 = time.perf_counter()
    progress("embed photos (ray)", 0, len(todo))

    def submit(actor_no: int) -> None:
        shard, start, end = pending.pop(0)
        ref = actors[actor_no].embed.remote(shard, [str(p.path) for p in todo[start:end]])
        in_flight[ref] = actor_no

    for actor_no in list(range(count)) * 2:  # two shards queued per actor: no idle gap between shards
        if pending:
            submit(actor_no)
    while in_flight:
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        actor_no = in_flight.pop(ref)
        shard, positions, vectors, failures, _ = ray.get(ref)
        start = shard * shard_size
        photos = [todo[start + i] for i in positions]
        store.add_vectors("image", [p.product_id for p in photos], [str(p.path) for p in photos], vectors,
                          [todo_sigs[start + i] for i in positions])
        stats.embedded += len(photos)
        stats.failed += len(failures)
        progress("embed photos (ray)", stats.embedded + stats.failed, len(todo))
        if pending:
            submit(actor_no)
    stats.seconds = round(time.perf_counter() - t0, 2)
    stats.images_per_s = round(stats.embedded / stats.seconds, 1) if stats.seconds else 0.0
    stats.per_actor_images_per_s = ray.get([a.rate.remote() for a in actors])
    stats.per_actor_peak_rss_mb = ray.get([a.peak_rss_mb.remote() for a in actors])
    for actor in actors:
        ray.kill(actor)
    return stats


def build_on_ray(catalog: Catalog, index_dir: str | Path, embedder: ImageEmbedder, spec: EmbedSpec,
                 text_embedder: TextEmbedder | None = None, *, address: str = "auto", shard_size: int = 256,
                 max_actors: int | None = None, progress: Progress = no_progress,
                 **build_kwargs: Any) -> tuple[BuildReport, RayStats]:
    """`build_catalog_index` with the photo embedding done on Ray; same store, index and manifest.

    Raises:
        CatalogError: no photos. BadQueryError: no cluster at `address`.
        IndexMismatchError: `index_dir` holds another model's vectors.
    """
    from vsearch.index.build import build_catalog_index
    from vsearch.index.writable import open_writable

    if not catalog.photos:
        raise CatalogError(f"no photos in catalogue {catalog.root}")
    index_dir = Path(index_dir)
    start = time.perf_counter()
    connect(address)
    with open_writable(index_dir, build_kwargs.get("wait"), must_exist=False) as store:
        _check_model(store, embedder, index_dir)
        stats = embed_on_ray(store, catalog, spec, shard_size=shard_size, max_actors=max_actors, progress=progress)
    report = build_catalog_index(catalog, index_dir, embedder, text_embedder, progress=progress, **build_kwargs)
    report.seconds = round(time.perf_counter() - start, 2)
    report.photos_embedded += stats.embedded
    report.photos_reused = max(0, report.photos_reused - stats.embedded)
    report.embed_seconds = round(report.embed_seconds + stats.seconds, 2)
    if report.photos_embedded and report.embed_seconds:
        report.images_per_s = round(report.photos_embedded / report.embed_seconds, 1)
    report.index["ray"] = {"actors": stats.actors, "gpus_per_actor": stats.gpus_per_actor, "shards": stats.shards,
                           "images_per_s": stats.images_per_s,
                           "per_actor_images_per_s": stats.per_actor_images_per_s,
                           "per_actor_peak_rss_mb": stats.per_actor_peak_rss_mb}
    return report, stats


def _check_model(store: Store, embedder: ImageEmbedder, index_dir: Path) -> None:
    """Stamp the store with the model before actors write to it (resume needs the same model)."""
    from vsearch.index.build import _check_stamp

    _check_stamp(store, "model", embedder, index_dir)
