"""`vsearch index build` and `vsearch index add`: catalogue -> embeddings in lmdb -> FAISS index + manifest.

Each batch of vectors is committed to lmdb as it is made, so an interrupted run keeps its work and a
re-run embeds only what is missing or changed (photos are matched by path, size and mtime). The FAISS
files and the manifest are written last, each atomically; see `vsearch.index.update` for the invariant.
`build` retrains the index structure (auto-chosen by size and memory); `add` upserts products into
the existing structure without retraining.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch import __version__
from vsearch.catalog.reader import Catalog, Photo
from vsearch.core.errors import CatalogError, IndexMismatchError
from vsearch.core.log import Progress, no_progress
from vsearch.index.manifest import Manifest, now_iso, read_manifest
from vsearch.index.publish import crash_point
from vsearch.models.base import ImageEmbedder, TextEmbedder

if TYPE_CHECKING:
    from vsearch.index.store import Store
    from vsearch.index.update import UpdateReport

_logger = logging.getLogger(__name__)

@dataclass
class BuildReport:
    """What a build did; `bad` names every photo that could not be used, with the reason."""

    index_dir: str
    model: str
    photos_total: int
    photos_embedded: int
    photos_reused: int
    products: int
    titles_embedded: int
    vectors: int
    seconds: float
    embed_seconds: float
    images_per_s: float
    bad: list[dict[str, str]] = field(default_factory=list)
    index: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Ingested:
    embedded: int = 0
    reused: int = 0
    titles: int = 0
    stale_rows: int = 0
    embed_seconds: float = 0.0
    bad: list[dict[str, str]] = field(default_factory=list)


def photo_signature(path: Path) -> str:
    """Size and mtime: a changed file at the same path is embedded again."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def photos_to_embed(store: Store, catalog: Catalog) -> tuple[list[Photo], list[str]]:
    """The catalogue's photos not yet in the store, with their signatures: the resume rule (same path, size
    and mtime is embedded already) shared by the local and the Ray build."""
    _, _, sigs = store.row_table("image")
    todo, todo_sigs = [], []
    for photo in catalog.photos:
        sig = photo_signature(photo.path)
        if str(photo.path) in sigs and sigs[str(photo.path)] in (sig, ""):
            continue
        todo.append(photo)
        todo_sigs.append(sig)
    return todo, todo_sigs


def _check_stamp(store: Store, key: str, emb: ImageEmbedder | TextEmbedder, index_dir: Path) -> None:
    stamp = {"model": emb.name, "weights_id": emb.weights_id, "dim": emb.dim}
    previous = store.get_info(key)
    if previous is not None and previous != stamp:
        raise IndexMismatchError(f"{index_dir} holds vectors of {previous['model']} "  # type: ignore[index]
                                 f"({previous['weights_id']}); use another --index or the same model")  # type: ignore[index]
    if previous is None:
        store.set_info(key, stamp)


def _ingest(store: Store, catalog: Catalog, index_dir: Path, embedder: ImageEmbedder,
            text_embedder: TextEmbedder | None, batch_size: int, workers: int | None, progress: Progress,
            merge_metadata: bool) -> _Ingested:
    """Upsert the catalogue's products into the store: metadata, new/changed photos, stale rows, titles."""
    from vsearch.models.embed import embed_photos

    out = _Ingested(bad=[{"path": src, "reason": reason} for src, reason in catalog.missing])
    _check_stamp(store, "model", embedder, index_dir)
    products = catalog.products
    if merge_metadata:  # `add` without a labels file must not wipe what a product already had
        products = {pid: {**(old or {}), **meta} for (pid, meta), old in
                    zip(products.items(), store.get_products(list(products)))}
    store.put_products(products)

    todo, todo_sigs = photos_to_embed(store, catalog)
    out.reused = len(catalog.photos) - len(todo)
    progress("embed photos", 0, len(todo))
    t0 = time.perf_counter()
    failed = 0
    for batch in embed_photos(embedder, [p.path for p in todo], batch_size=batch_size, workers=workers):
        photos = [todo[i] for i in batch.positions]
        store.add_vectors("image", [p.product_id for p in photos], [str(p.path) for p in photos], batch.vectors,
                          [todo_sigs[i] for i in batch.positions])
        out.bad.extend({"path": str(todo[i].path), "reason": reason.split(": ", 1)[-1]} for i, reason in batch.failures)
        failed += len(batch.failures)
        out.embedded += len(photos)
        crash_point("after-store-batch")
        progress("embed photos", out.embedded + failed, len(todo))
    out.embed_seconds = time.perf_counter() - t0
    out.stale_rows = _drop_stale_photos(store, catalog)
    if text_embedder is not None and catalog.title_column:
        out.titles = _embed_titles(store, catalog, index_dir, text_embedder, progress)
        crash_point("after-title-commit")
    crash_point("after-store-commit")
    return out


def _drop_stale_photos(store: Store, catalog: Catalog) -> int:
    """Rows of the catalogue's products whose photo is no longer listed (an upsert replaces the photo set)."""
    listed: dict[str, set[str]] = {}
    for photo in catalog.photos:
        listed.setdefault(photo.product_id, set()).add(str(photo.path))
    rows, pids, _ = store.row_table("image")
    mine = [(int(r), pid) for r, pid in zip(rows, pids) if pid in listed]
    sources = store.row_sources([r for r, _ in mine])
    stale = [r for (r, pid), src in zip(mine, sources) if src is not None and src not in listed[pid]]
    return store.remove_rows(stale) if stale else 0


def _embed_titles(store: Store, catalog: Catalog, index_dir: Path, text_embedder: TextEmbedder,
                  progress: Progress) -> int:
    _check_stamp(store, "text_model", text_embedder, index_dir)
    _, _, sigs = store.row_table("title")
    todo = []
    for pid in catalog.products:
        title = catalog.title(pid).strip()
        sig = hashlib.sha1(title.encode()).hexdigest()[:16]
        if title and sigs.get(pid) != sig:
            todo.append((pid, title, sig))
    progress("embed titles", 0, len(todo))
    for start in range(0, len(todo), 512):
        chunk = todo[start:start + 512]
        vectors = text_embedder.encode_texts([title for _, title, _ in chunk])
        ids = [pid for pid, _, _ in chunk]
        store.add_vectors("title", ids, ids, vectors, [sig for _, _, sig in chunk])
        progress("embed titles", start + len(chunk), len(todo))
    return len(todo)


def build_catalog_index(catalog: Catalog, index_dir: str | Path, embedder: ImageEmbedder,
                        text_embedder: TextEmbedder | None = None, *, batch_size: int = 64,
                        workers: int | None = None, factory: str = "auto", max_memory: int | str | None = None,
                        target_recall: float = 0.95, progress: Progress = no_progress,
                        wait: float | None = None) -> BuildReport:
    """Embed every photo (and title) of `catalog` into `index_dir`, then train and tune its FAISS index.

    Args:
        factory: "auto", an alias (flat, hnsw, ivf, ivf-sq8, ivf-pq) or a FAISS factory string.
        max_memory: budget for the image index ("4GB" or bytes) that `auto` must fit.
        target_recall: recall@10 that nprobe/efSearch are tuned to reach.
        wait: seconds to wait for another writer of `index_dir` (default $VSEARCH_LOCK_WAIT or 5).

    Raises:
        IndexBusyError: another process is writing the index.
        IndexDamagedError: the folder holds a built index whose store is missing or damaged.
        CatalogError: the catalogue has no photos, or none could be read.
        IndexMismatchError: `index_dir` holds an index of another model (resume needs the same one).
        BadQueryError: an index type FAISS cannot build, or a bad memory size.
    """
    from vsearch.index.autoindex import choose_index, parse_memory
    from vsearch.index.update import rebuild_indexes, write_state
    from vsearch.index.writable import open_writable

    if not catalog.photos:
        raise CatalogError(f"no photos in catalogue {catalog.root}")
    index_dir = Path(index_dir)
    budget = parse_memory(max_memory)
    choose_index(1000, embedder.dim, budget, factory)  # a bad index type fails now, not after embedding
    start = time.perf_counter()
    with open_writable(index_dir, wait, must_exist=False) as store:
        got = _ingest(store, catalog, index_dir, embedder, text_embedder, batch_size, workers, progress, False)
        if store.count("image") == 0:
            raise CatalogError(f"none of the {len(catalog.photos)} photos in {catalog.root} could be read")
        progress("build index", 0, 1)
        choice = choose_index(store.count("image"), embedder.dim, budget, factory)
        vectors, text_count = rebuild_indexes(index_dir, store, choice, target_recall)
        product_count = store.product_count()
        progress("build index", 1, 1)
        seconds = time.perf_counter() - start
        report = BuildReport(str(index_dir), embedder.name, len(catalog.photos), got.embedded, got.reused,
                             product_count, got.titles, vectors, round(seconds, 2), round(got.embed_seconds, 2),
                             round(got.embedded / got.embed_seconds, 1) if got.embedded and got.embed_seconds > 0
                             else 0.0, got.bad, choice.to_dict())
        manifest = _build_manifest(index_dir, embedder, text_embedder if text_count else None, choice.factory,
                                   report)
        write_state(index_dir, store, manifest)
    _logger.info("index written to %s (%d vectors, %s)", index_dir, report.vectors, choice.factory)
    return report


def add_products(catalog: Catalog, index_dir: str | Path, embedder: ImageEmbedder,
                 text_embedder: TextEmbedder | None = None, *, batch_size: int = 64, workers: int | None = None,
                 progress: Progress = no_progress, wait: float | None = None) -> UpdateReport:
    """Upsert the catalogue's products into a built index without retraining it.

    New ids are added; known ids get the listed photos (others of theirs are dropped) and merged
    metadata. The FAISS index takes the new rows and drops the old ones (`remove_ids`).

    Raises:
        IndexMissingError: no index at `index_dir` (build one first).
        IndexBusyError: another process is writing the index.
        IndexDamagedError: its store or FAISS files are missing or damaged (nothing is written).
        IndexMismatchError: `embedder` is not the model the index was built with.
    """
    from vsearch.index.update import UpdateReport, sync_saved
    from vsearch.index.writable import open_writable

    index_dir = Path(index_dir)
    start = time.perf_counter()
    report = UpdateReport(str(index_dir))
    with open_writable(index_dir, wait) as store:
        manifest = read_manifest(index_dir)
        manifest.check_model(embedder.name, embedder.weights_id, embedder.dim)
        known = _known_products(index_dir, store, set(catalog.products))
        got = _ingest(store, catalog, index_dir, embedder, text_embedder if manifest.text_model else None,
                      batch_size, workers, progress, True)
        progress("update index", 0, 1)
        report.sync = [asdict(r) for r in sync_saved(index_dir, store)]
        store.set_info(_ADD_KNOWN, None)
        progress("update index", 1, 1)
    manifest = read_manifest(index_dir)
    report.products_added = len(set(catalog.products) - known)
    report.products_updated = len(set(catalog.products) & known)
    report.photos_embedded, report.photos_reused, report.titles_embedded = got.embedded, got.reused, got.titles
    report.rows_removed, report.bad, report.vectors = got.stale_rows, got.bad, manifest.count
    report.needs_retrain = manifest.build.get("needs_retrain")
    report.seconds = round(time.perf_counter() - start, 2)
    return report


_ADD_KNOWN = "add_known_products"


def _known_products(index_dir: Path, store: Store, wanted: set[str]) -> set[str]:
    """Products of `wanted` the index held before this add began, recorded in the store on the first attempt so
    that a resumed add of the same catalogue counts added and updated products as the first attempt would have
    (by then the crashed run may already have replaced an upserted product's photo rows)."""
    import hashlib

    key = hashlib.sha256("\n".join(sorted(wanted)).encode()).hexdigest()
    saved = store.get_info(_ADD_KNOWN)
    if isinstance(saved, dict) and saved.get("catalog") == key:
        return set(saved["known"])
    known = _published_products(index_dir, store, wanted)
    store.set_info(_ADD_KNOWN, {"catalog": key, "known": sorted(known)})
    return known


def _published_products(index_dir: Path, store: Store, wanted: set[str]) -> set[str]:
    """Products of `wanted` that the published image index already holds (so a resumed add that
    stored a product before it crashed still reports it as added, not updated)."""
    from vsearch.index.faiss_index import load_index
    from vsearch.index.manifest import IMAGE_INDEX
    from vsearch.index.update import index_ids

    published = set(index_ids(load_index(index_dir / IMAGE_INDEX, use_gpu=False)).tolist())
    rows, pids, _ = store.row_table("image")
    return {pid for row, pid in zip(rows.tolist(), pids) if pid in wanted and row in published}


def _build_manifest(index_dir: Path, embedder: ImageEmbedder, text_embedder: TextEmbedder | None, factory: str,
                    report: BuildReport) -> Manifest:
    """The manifest of a fresh build (written by `write_state` once counts and generation are known)."""
    cfg = getattr(embedder, "cfg", None)
    try:
        created = read_manifest(index_dir).created
    except Exception:
        created = now_iso()
    manifest = Manifest(
        model=embedder.name, weights_id=embedder.weights_id, dim=embedder.dim,
        preprocess=asdict(cfg) if cfg is not None else {}, index_type=factory,
        count=report.vectors, products=report.products, text_model=text_embedder.name if text_embedder else None,
        text_weights_id=text_embedder.weights_id if text_embedder else None,
        text_dim=text_embedder.dim if text_embedder else None, vsearch_version=__version__, created=created,
        build={"images_per_s": report.images_per_s, "seconds": report.seconds, "bad_photos": len(report.bad),
               "precision": getattr(embedder, "precision", None), "index": report.index})
    return manifest
