"""Live updates: keep the FAISS indexes in step with the lmdb store (add, upsert, remove by product id).

The invariant that makes every step safe to kill (-9) at any moment:

1. lmdb is the source of truth. Each change (a batch of vectors, a removal) is one lmdb transaction,
   and each transaction that changes vectors bumps the store's `generation`.
2. A FAISS file is only ever replaced whole (temp file + rename), and it carries its own search
   parameters (nprobe / efSearch are serialised with it). The manifest, written after it, records the
   generation the files were synced at.
3. Syncing is a diff, not a replay: rows in the store but not in FAISS are added, rows in FAISS but
   not in the store are removed. So it is idempotent: re-running `build`/`add` after a crash finishes
   the job, and a `Searcher` that finds the manifest behind the store syncs its in-memory copy.

A product's photos are keyed by source path, so re-embedding a photo replaces its row: a product is
never duplicated, whatever point a run died at.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from vsearch.index.autoindex import IndexChoice, build_tuned, needs_retrain
from vsearch.index.faiss_index import build_index, load_index
from vsearch.index.manifest import IMAGE_INDEX, TEXT_INDEX, Manifest, now_iso, read_manifest
from vsearch.index.publish import commit, crash_point, stage_index
from vsearch.index.store import Store

_logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What a sync changed in one FAISS index."""

    kind: str
    added: int = 0
    removed: int = 0
    rebuilt: bool = False
    total: int = 0


@dataclass
class UpdateReport:
    """What `add_products` / `remove_products` did, for the CLI's text and JSON output."""

    index_dir: str
    products_added: int = 0
    products_updated: int = 0
    products_removed: int = 0
    photos_embedded: int = 0
    photos_reused: int = 0
    rows_removed: int = 0
    titles_embedded: int = 0
    vectors: int = 0
    seconds: float = 0.0
    needs_retrain: str | None = None
    missing_ids: list[str] = field(default_factory=list)
    bad: list[dict[str, str]] = field(default_factory=list)
    sync: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def index_ids(index: faiss.Index) -> np.ndarray:
    """The FAISS ids (store rows) an `IndexIDMap` holds, int64 `[ntotal]`."""
    return faiss.vector_to_array(index.id_map).astype(np.int64) if index.ntotal else np.zeros(0, np.int64)


def reconcile(index: faiss.Index, store: Store, kind: str, factory: str = "Flat") -> tuple[faiss.Index, SyncReport]:
    """Make `index` hold exactly the store's rows of `kind`; returns the (maybe rebuilt) index and a report.

    Structures without `remove_ids` (HNSW) are rebuilt from the store when rows must go.
    """
    rows, _, _ = store.row_table(kind)
    have = index_ids(index)
    to_remove = np.setdiff1d(have, rows, assume_unique=True)
    to_add = np.setdiff1d(rows, have, assume_unique=True)
    report = SyncReport(kind)
    if len(to_remove):
        try:
            report.removed = int(index.remove_ids(faiss.IDSelectorBatch(to_remove)))
        except RuntimeError:
            _logger.warning("%s cannot remove ids: rebuilding it from the store", factory)
            vectors = store.get_vectors(rows)
            index = _rebuild_like(index, vectors, rows)
            report.rebuilt, report.removed, to_add = True, len(to_remove), np.zeros(0, np.int64)
    if len(to_add):
        index.add_with_ids(store.get_vectors(to_add), to_add)
        report.added = len(to_add)
    report.total = int(index.ntotal)
    return index, report


def _rebuild_like(index: faiss.Index, vectors: np.ndarray, rows: np.ndarray) -> faiss.Index:
    """A fresh index with the same structure and search knobs, holding `vectors`."""
    from vsearch.index.tuning import inner_index

    inner = inner_index(index)
    fresh = faiss.clone_index(inner)
    fresh.reset()
    out = faiss.IndexIDMap2(fresh)
    if len(rows):
        out.add_with_ids(np.ascontiguousarray(vectors, np.float32), rows)
    return out


def choice_of(manifest: Manifest) -> IndexChoice:
    raw = manifest.build.get("index")
    return IndexChoice.from_dict(raw) if isinstance(raw, dict) else IndexChoice(manifest.index_type, ["legacy"])


def rebuild_indexes(index_dir: Path, store: Store, choice: IndexChoice, target: float) -> tuple[int, int]:
    """Train and fill the image index (as `choice` says) and the title index from the store; stage both
    for the next `write_state`, which publishes them with the manifest.

    Returns (image vectors, title vectors).
    """
    rows, vectors = store.load_vectors("image")
    index = build_tuned(vectors, rows, choice, target=target)
    stage_index(index_dir, IMAGE_INDEX, index)
    del vectors, index
    text_rows, text_vectors = store.load_vectors("title")
    if len(text_rows):
        stage_index(index_dir, TEXT_INDEX, build_index(text_vectors, text_rows, "Flat"))
    return len(rows), len(text_rows)


def sync_saved(index_dir: Path, store: Store) -> list[SyncReport]:
    """Bring the saved FAISS files in line with the store (after adds/removes or a crash); publish them.

    Raises:
        IndexDamagedError: a FAISS file that cannot be read (`vsearch index repair` rebuilds it).
    """
    manifest = read_manifest(index_dir)
    choice = choice_of(manifest)
    reports = []
    for kind, name, factory in (("image", IMAGE_INDEX, choice.factory), ("title", TEXT_INDEX, "Flat")):
        path = index_dir / name
        if not path.is_file():
            rows, vectors = store.load_vectors(kind)
            if not len(rows):
                continue
            stage_index(index_dir, name, build_index(vectors, rows, "Flat" if kind == "title" else factory))
            reports.append(SyncReport(kind, added=len(rows), rebuilt=True, total=len(rows)))
            continue
        index, report = reconcile(load_index(path, use_gpu=False), store, kind, factory)
        if report.added or report.removed or report.rebuilt:
            stage_index(index_dir, name, index)
        reports.append(report)
    write_state(index_dir, store, manifest)
    return reports


def write_state(index_dir: Path, store: Store, manifest: Manifest) -> Manifest:
    """Publish the staged FAISS files with the manifest's counts, retrain advice and synced generation."""
    image_rows, _, _ = store.row_table("image")
    title_rows, _, _ = store.row_table("title")
    manifest.count, manifest.text_count = len(image_rows), len(title_rows)
    manifest.products = store.product_count()
    manifest.updated = now_iso()
    choice = choice_of(manifest)
    manifest.build["synced_generation"] = store.generation()
    manifest.build["needs_retrain"] = needs_retrain(choice, len(image_rows), manifest.dim)
    drop = (TEXT_INDEX,) if not len(title_rows) and (index_dir / TEXT_INDEX).is_file() else ()
    state = asdict(manifest)
    commit(index_dir, state, drop)
    manifest.files = state["files"]
    return manifest


def remove_products(index_dir: str | Path, product_ids: list[str], wait: float | None = None) -> UpdateReport:
    """Delete products (all their photos and titles) from the store and the FAISS indexes.

    Ids that are not in the index are reported in `missing_ids`, not raised: removal is idempotent,
    so re-running an interrupted removal succeeds.
    """
    from vsearch.index.writable import open_writable

    index_dir = Path(index_dir)
    start = time.perf_counter()
    report = UpdateReport(str(index_dir))
    with open_writable(index_dir, wait) as store:
        for name in (IMAGE_INDEX, TEXT_INDEX):  # a damaged FAISS file refuses the removal before the store changes
            if (index_dir / name).is_file():
                load_index(index_dir / name, use_gpu=False)
        present = [pid for pid in product_ids if store.get_product(pid) is not None or store.product_rows(pid)]
        report.missing_ids = [pid for pid in product_ids if pid not in present]
        report.rows_removed = len(store.remove_products(present)) if present else 0
        report.products_removed = len(present)
        crash_point("after-store-commit")
        report.sync = [asdict(r) for r in sync_saved(index_dir, store)]
        manifest = read_manifest(index_dir)
    report.vectors, report.needs_retrain = manifest.count, manifest.build.get("needs_retrain")
    report.seconds = round(time.perf_counter() - start, 2)
    return report



def check_consistency(index_dir: str | Path) -> dict[str, object]:
    """Audit an index folder: store integrity, FAISS ids vs store rows, manifest vs store generation.

    Returns {"problems": [...], "behind": {kind: (missing, extra)}, ...}. `problems` must be empty
    whatever moment a build or update was killed; `behind` is allowed (a re-run or a Searcher syncs it).
    """
    from vsearch.index.manifest import STORE

    index_dir = Path(index_dir)
    problems: list[str] = []
    behind: dict[str, tuple[int, int]] = {}
    out: dict[str, object] = {"problems": problems, "behind": behind}
    if not (index_dir / STORE).is_dir():
        return out
    with Store(index_dir / STORE, readonly=True) as store:
        for kind in ("image", "title"):
            rows, pids, sigs = store.row_table(kind)
            sources = store.row_sources(rows)
            if len(set(sources)) != len(sources):
                problems.append(f"{kind}: a source has several rows")
            if len(sigs) != len(rows):
                problems.append(f"{kind}: {len(rows)} rows but {len(sigs)} distinct sources")
            for pid in set(pids):
                if not set(store.product_rows(pid, kind)) <= set(rows.tolist()):
                    problems.append(f"{kind}: product {pid} owns a row that does not exist")
            path = index_dir / (IMAGE_INDEX if kind == "image" else TEXT_INDEX)
            if path.is_file():
                try:
                    ids = index_ids(load_index(path, use_gpu=False))
                except Exception as exc:  # a torn FAISS file is exactly what this audit looks for
                    problems.append(f"{path.name} unreadable: {exc}")
                    continue
                if len(np.unique(ids)) != len(ids):
                    problems.append(f"{path.name}: duplicate ids")
                behind[kind] = (len(np.setdiff1d(rows, ids)), len(np.setdiff1d(ids, rows)))
        out["generation"] = store.generation()
        out["products"] = store.product_count()
        out["image_rows"] = int(len(store.row_table("image")[0]))
    try:
        manifest = read_manifest(index_dir)
        out["synced_generation"] = manifest.build.get("synced_generation")
    except Exception as exc:  # an unreadable manifest is a problem to report, not to raise
        if (index_dir / "manifest.json").exists():
            problems.append(f"manifest unreadable: {exc}")
    return out
