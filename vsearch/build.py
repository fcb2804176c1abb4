"""`vsearch index build`: catalogue -> embeddings in lmdb -> FAISS index + manifest.

Each batch of vectors is committed to lmdb as it is made, so an interrupted build keeps its work
and a re-run embeds only what is missing. The FAISS index and manifest are written last, each
atomically: a reader sees the old index or the new one, never half of one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch import __version__
from vsearch.catalog import Catalog
from vsearch.errors import CatalogError, IndexMismatchError
from vsearch.manifest import IMAGE_INDEX, STORE, TEXT_INDEX, Manifest, now_iso, read_manifest, write_manifest
from vsearch.models.base import ImageEmbedder, TextEmbedder

if TYPE_CHECKING:
    from vsearch.store import Store

_logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total) while a long step runs."""


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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def build_catalog_index(catalog: Catalog, index_dir: str | Path, embedder: ImageEmbedder,
                        text_embedder: TextEmbedder | None = None, *, batch_size: int = 64,
                        workers: int | None = None, factory: str = "Flat",
                        progress: Progress = _no_progress) -> BuildReport:
    """Embed every photo (and title) of `catalog` into `index_dir` and build its FAISS index.

    Raises:
        CatalogError: the catalogue has no photos.
        IndexMismatchError: `index_dir` holds an index of another model (resume needs the same one).
    """
    from vsearch.embed import embed_photos
    from vsearch.index import build_index, save_index
    from vsearch.store import Store

    if not catalog.photos:
        raise CatalogError(f"no photos in catalogue {catalog.root}")
    index_dir = Path(index_dir)
    start = time.perf_counter()
    stamp = {"model": embedder.name, "weights_id": embedder.weights_id, "dim": embedder.dim}
    bad = [{"path": src, "reason": reason} for src, reason in catalog.missing]
    with Store(index_dir / STORE) as store:
        previous = store.get_info("model")
        if previous is not None and previous != stamp:
            raise IndexMismatchError(f"{index_dir} holds vectors of {previous['model']} "
                                     f"({previous['weights_id']}); use another --index or the same model")
        store.set_info("model", stamp)
        store.put_products(catalog.products)

        done = store.embedded_sources("image")
        todo = [p for p in catalog.photos if str(p.path) not in done]
        reused = len(catalog.photos) - len(todo)
        embedded = 0
        progress("embed photos", 0, len(todo))
        t0 = time.perf_counter()
        for batch in embed_photos(embedder, [p.path for p in todo], batch_size=batch_size, workers=workers):
            photos = [todo[i] for i in batch.positions]
            store.add_vectors("image", [p.product_id for p in photos], [str(p.path) for p in photos], batch.vectors)
            bad.extend({"path": str(todo[i].path), "reason": reason.split(": ", 1)[-1]} for i, reason in batch.failures)
            embedded += len(photos)
            progress("embed photos", embedded + len(bad) - len(catalog.missing), len(todo))
        embed_seconds = time.perf_counter() - t0

        titles = 0
        if text_embedder is not None and catalog.title_column:
            titles = _embed_titles(store, catalog, text_embedder, progress)

        progress("build index", 0, 1)
        rows, vectors = store.load_vectors("image")
        if len(rows) == 0:
            raise CatalogError(f"none of the {len(catalog.photos)} photos in {catalog.root} could be read")
        save_index(build_index(vectors, rows, factory), index_dir / IMAGE_INDEX)
        text_rows, text_vectors = store.load_vectors("title")
        if len(text_rows):
            save_index(build_index(text_vectors, text_rows, "Flat"), index_dir / TEXT_INDEX)
        product_count = store.product_count()
        progress("build index", 1, 1)

    seconds = time.perf_counter() - start
    report = BuildReport(str(index_dir), embedder.name, len(catalog.photos), embedded, reused, product_count, titles,
                         int(len(rows)), round(seconds, 2), round(embed_seconds, 2),
                         round(embedded / embed_seconds, 1) if embedded and embed_seconds > 0 else 0.0, bad)
    _write_build_manifest(index_dir, embedder, text_embedder if len(text_rows) else None, factory, report,
                          int(len(text_rows)))
    return report


def _embed_titles(store: Store, catalog: Catalog, text_embedder: TextEmbedder, progress: Progress) -> int:
    stamp = {"model": text_embedder.name, "weights_id": text_embedder.weights_id, "dim": text_embedder.dim}
    previous = store.get_info("text_model")
    if previous is not None and previous != stamp:
        raise IndexMismatchError(f"titles were embedded with {previous['model']}, not {text_embedder.name}")
    store.set_info("text_model", stamp)
    done = store.embedded_sources("title")
    todo = [(pid, catalog.title(pid)) for pid in catalog.products if pid not in done and catalog.title(pid).strip()]
    progress("embed titles", 0, len(todo))
    for start in range(0, len(todo), 512):
        chunk = todo[start:start + 512]
        vectors = text_embedder.encode_texts([title for _, title in chunk])
        ids = [pid for pid, _ in chunk]
        store.add_vectors("title", ids, ids, vectors)
        progress("embed titles", start + len(chunk), len(todo))
    return len(todo)


def _write_build_manifest(index_dir: Path, embedder: ImageEmbedder, text_embedder: TextEmbedder | None,
                          factory: str, report: BuildReport, text_count: int) -> None:
    cfg = getattr(embedder, "cfg", None)
    try:
        created = read_manifest(index_dir).created
    except Exception:
        created = now_iso()
    manifest = Manifest(
        model=embedder.name, weights_id=embedder.weights_id, dim=embedder.dim,
        preprocess=asdict(cfg) if cfg is not None else {}, index_type=factory, count=report.vectors,
        products=report.products, text_model=text_embedder.name if text_embedder else None,
        text_weights_id=text_embedder.weights_id if text_embedder else None,
        text_dim=text_embedder.dim if text_embedder else None, text_count=text_count,
        vsearch_version=__version__, created=created,
        build={"images_per_s": report.images_per_s, "seconds": report.seconds, "bad_photos": len(report.bad),
               "precision": getattr(embedder, "precision", None)})
    write_manifest(index_dir, manifest)
    _logger.info("index written to %s (%d vectors)", index_dir, report.vectors)
