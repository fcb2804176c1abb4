"""`vsearch index verify` and `repair`: store <-> FAISS <-> manifest, and a rebuild from the store.

`verify_index` never writes. `problems` is damage (unreadable or torn files, counts that disagree at the
same generation); `behind` is a published index older than its store (a write interrupted or running:
readers answer from the store meanwhile, the next write or `repair` publishes). `repair` rebuilds the
FAISS files from the stored vectors without embedding anything, and refuses when the store itself is
damaged: the store is the only copy of the vectors, so nothing may be rebuilt from a broken one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from vsearch.core.errors import IndexDamagedError, IndexMissingError, VsearchError
from vsearch.index.manifest import IMAGE_INDEX, STORE, TEXT_INDEX, Manifest, live_file, read_manifest


@dataclass
class Verdict:
    """What `verify_index` found."""

    index_dir: str
    problems: list[str] = field(default_factory=list)
    behind: list[str] = field(default_factory=list)
    counts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.behind

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def _store_problems(store: object, dim: int | None, deep: bool) -> list[str]:
    """Row tables that disagree inside the store (deep: every vector read and sized)."""
    out: list[str] = []
    for kind in ("image", "title"):
        entries = store.row_entries(kind)  # type: ignore[attr-defined]
        if len({src for _, _, src in entries}) != len(entries):
            out.append(f"store: a {kind} source has several rows")
        if deep and entries:
            vecs = store.get_vectors([r for r, _, _ in entries])  # type: ignore[attr-defined]
            if kind == "image" and dim is not None and vecs.shape[1] != dim:
                out.append(f"store: image vectors have dim {vecs.shape[1]}, the manifest says {dim}")
    return out


def _faiss_check(index_dir: Path, name: str, manifest: Manifest | None, rows: object, deep: bool,
                 verdict: Verdict, same_generation: bool) -> None:
    import numpy as np

    from vsearch.index.faiss_index import load_index
    from vsearch.index.publish import file_record
    from vsearch.index.update import index_ids

    path = live_file(index_dir, name)
    if not path.is_file():
        if len(rows):  # type: ignore[arg-type]
            (verdict.problems if same_generation else verdict.behind).append(f"{name} is missing")
        return
    record = (manifest.files if manifest else {}).get(name)
    if record:
        got = file_record(path) if deep else {"bytes": path.stat().st_size, "crc32": record.get("crc32")}
        if got["bytes"] != record.get("bytes"):
            verdict.problems.append(f"{name} has {got['bytes']} bytes, the manifest says {record.get('bytes')}")
            return
        if got["crc32"] != record.get("crc32"):
            verdict.problems.append(f"{name} fails its checksum (CRC-32 {got['crc32']}, manifest {record['crc32']})")
            return
    if not deep and record:
        return
    try:
        index = load_index(path, use_gpu=False)
    except VsearchError as exc:
        verdict.problems.append(str(exc))
        return
    want_dim = (manifest.dim if name == IMAGE_INDEX else manifest.text_dim) if manifest else None
    if want_dim and index.d != want_dim:
        verdict.problems.append(f"{name} has dim {index.d}, the manifest says {want_dim}")
    ids = index_ids(index)
    if len(np.unique(ids)) != len(ids):
        verdict.problems.append(f"{name} holds duplicate rows")
    missing, extra = len(np.setdiff1d(rows, ids)), len(np.setdiff1d(ids, rows))
    if missing or extra:
        text = f"{name} differs from the store: {missing} rows missing, {extra} extra"
        (verdict.problems if same_generation else verdict.behind).append(text)


def verify_index(index_dir: str | Path, deep: bool = True) -> Verdict:
    """Check an index without writing; `deep=False` runs only the cheap checks (sizes, counts, headers)."""
    from vsearch.index.publish import JOURNAL
    from vsearch.index.store import Store

    index_dir = Path(index_dir)
    verdict = Verdict(str(index_dir))
    manifest: Manifest | None = None
    try:
        manifest = read_manifest(index_dir)
    except IndexMissingError as exc:  # a first build that has not published yet: not damage
        (verdict.behind if (index_dir / STORE).is_dir() else verdict.problems).append(
            "never published: re-run the interrupted build" if (index_dir / STORE).is_dir() else str(exc))
    except VsearchError as exc:
        verdict.problems.append(str(exc))
    if (index_dir / JOURNAL).exists():
        verdict.behind.append("a publish was interrupted: the next write (or `vsearch index repair`) finishes it")
    try:
        store = Store(index_dir / STORE, readonly=True)
    except VsearchError as exc:
        verdict.problems.append(str(exc))
        return verdict
    try:
        verdict.problems.extend(_store_problems(store, manifest.dim if manifest else None, deep))
        generation = store.generation()
        synced = manifest.build.get("synced_generation") if manifest else None
        same = synced == generation
        image_rows, _, _ = store.row_table("image")
        title_rows, _, _ = store.row_table("title")
        verdict.counts = {"generation": generation, "synced_generation": synced, "products": store.product_count(),
                          "image_rows": len(image_rows), "title_rows": len(title_rows)}
        if isinstance(synced, int) and synced > generation:
            verdict.problems.append(f"manifest is at generation {synced}, its store only at {generation} "
                                    "(the store was replaced or rolled back)")
        elif manifest is not None and not same:
            verdict.behind.append(f"published generation {synced}, store generation {generation}")
        elif manifest is not None:
            for label, have, want in (("vectors", manifest.count, len(image_rows)),
                                      ("products", manifest.products, store.product_count()),
                                      ("title vectors", manifest.text_count, len(title_rows))):
                if have != want:
                    verdict.problems.append(f"manifest counts {have} {label}, the store holds {want}")
        _faiss_check(index_dir, IMAGE_INDEX, manifest, image_rows, deep, verdict, same)
        _faiss_check(index_dir, TEXT_INDEX, manifest, title_rows, deep, verdict, same)
    except VsearchError as exc:
        verdict.problems.append(str(exc))
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "lmdb":
            raise
        verdict.problems.append(f"store is damaged: {exc}")
    finally:
        store.close()
    return verdict


def repair_index(index_dir: str | Path, wait: float | None = None, target_recall: float = 0.95) -> Verdict:
    """Rebuild the FAISS files from the store (no re-embedding) and publish them; returns the new verdict.

    Raises:
        IndexDamagedError: the store or the manifest is damaged (nothing is written).
        IndexBusyError: another process is writing the index.
    """
    from vsearch.index.update import choice_of, rebuild_indexes, write_state
    from vsearch.index.writable import open_writable

    index_dir = Path(index_dir)
    with open_writable(index_dir, wait) as store:
        manifest = read_manifest(index_dir)
        damaged = _store_problems(store, manifest.dim, deep=True)
        if damaged:
            raise IndexDamagedError(f"cannot repair {index_dir}: {damaged[0]}; rebuild it with `vsearch index build`")
        if not store.count("image"):
            raise IndexDamagedError(f"cannot repair {index_dir}: its store holds no image vectors")
        choice = choice_of(manifest)
        rebuild_indexes(index_dir, store, choice, target_recall)
        write_state(index_dir, store, manifest)
    return verify_index(index_dir)
