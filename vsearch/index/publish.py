"""Publishing FAISS files and the manifest as one step, tied to the store by its generation.

A writer (holding the writer lock) stages each new FAISS file as `<name>.pending`, written in full
and fsynced, then the manifest as `manifest.json.pending` (it records the store generation the files
hold and each file's size and CRC). Writing the journal `publish.json` (temp + fsync + rename) is the
commit point; after it the pending files are renamed over the live ones, manifest last, and the
journal is removed. On the next writer open, `recover` finishes a publish whose journal exists and
deletes pending files without one (rolled back). Readers never rename anything: while a journal
exists they read the pending file where it is still there (`live_path`).

`VSEARCH_CRASH_AT=<point>` makes the process `os._exit` at a named point, so tests can stop a write
exactly inside the FAISS write, the manifest write, or between renames (see `CRASH_POINTS`).
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.index.manifest import IMAGE_INDEX, MANIFEST, TEXT_INDEX

if TYPE_CHECKING:
    import faiss

JOURNAL = "publish.json"
PENDING = ".pending"
CRASH_ENV = "VSEARCH_CRASH_AT"
CRASH_EXIT = 86
FAISS_FILES = (IMAGE_INDEX, TEXT_INDEX)
CRASH_POINTS = ("after-store-batch", "after-store-commit", "after-title-commit",
                "inside-image-faiss-write", "after-image-faiss-write", "inside-text-faiss-write",
                "after-text-faiss-write", "inside-manifest-write", "after-manifest-write", "after-journal",
                "mid-rename", "before-journal-delete")


def crash_point(name: str) -> None:
    """Exit at once (no cleanup, like a power cut or kill -9) when $VSEARCH_CRASH_AT names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes, point: str) -> None:
    """Write `data` to `path` in two halves (crash point `inside-<point>` between them), then fsync."""
    half = len(data) // 2
    with path.open("wb") as fh:
        fh.write(data[:half])
        fh.flush()
        crash_point(f"inside-{point}")
        fh.write(data[half:])
        fh.flush()
        os.fsync(fh.fileno())
    crash_point(f"after-{point}")


def stage_index(index_dir: Path, name: str, index: faiss.Index) -> None:
    """Write one FAISS index as `<name>.pending` (published by the next `commit`)."""
    import faiss as _faiss

    from vsearch.index.faiss_index import is_gpu_index

    if is_gpu_index(index):
        index = _faiss.index_gpu_to_cpu(index)
    data = _faiss.serialize_index(index).tobytes()
    _write_synced(index_dir / (name + PENDING), data, f"{name.split('.')[0]}-faiss-write")


def file_record(path: Path) -> dict[str, int]:
    """Size and CRC-32 of a file, as the manifest records it."""
    crc = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return {"bytes": path.stat().st_size, "crc32": crc}


def commit(index_dir: Path, manifest_json: dict[str, object], drop: tuple[str, ...] = ()) -> None:
    """Publish the staged FAISS files and this manifest together; `drop` names live files to delete.

    `manifest_json["files"]` is filled with the size and CRC of every FAISS file it goes with.
    """
    records = {}
    for name in FAISS_FILES:
        if name in drop:
            continue
        staged, live = index_dir / (name + PENDING), index_dir / name
        if staged.is_file():
            records[name] = file_record(staged)
        elif live.is_file():
            old = manifest_json.get("files") or {}
            records[name] = old.get(name) if isinstance(old, dict) and old.get(name) else file_record(live)
    manifest_json["files"] = records
    text = json.dumps(manifest_json, indent=2, ensure_ascii=False).encode()
    _write_synced(index_dir / (MANIFEST + PENDING), text, "manifest-write")
    move = [n for n in FAISS_FILES if (index_dir / (n + PENDING)).is_file()] + [MANIFEST]
    journal = {"generation": manifest_json.get("build", {}).get("synced_generation"),  # type: ignore[union-attr]
               "move": move, "drop": list(drop)}
    tmp = index_dir / (JOURNAL + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(json.dumps(journal).encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / JOURNAL)
    _fsync_dir(index_dir)
    crash_point("after-journal")
    finish(index_dir)


def read_journal(index_dir: Path) -> dict[str, list[str]] | None:
    """The journal of a publish in progress (or interrupted), None when there is none or it is unreadable."""
    try:
        raw = json.loads((index_dir / JOURNAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("move"), list):
        return None
    allowed = {*FAISS_FILES, MANIFEST}
    return {"move": [n for n in raw["move"] if n in allowed],
            "drop": [n for n in raw.get("drop") or [] if n in FAISS_FILES]}


def finish(index_dir: Path) -> None:
    """Rename the journal's pending files over the live ones (manifest last), drop files, remove the journal."""
    journal = read_journal(index_dir)
    if journal is None:
        return
    for i, name in enumerate(journal["move"]):
        staged = index_dir / (name + PENDING)
        if staged.is_file():
            os.replace(staged, index_dir / name)
        if i == 0:
            crash_point("mid-rename")
    for name in journal["drop"]:
        (index_dir / name).unlink(missing_ok=True)
    _fsync_dir(index_dir)
    crash_point("before-journal-delete")
    (index_dir / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(index_dir)


def recover(index_dir: Path) -> str | None:
    """Finish an interrupted publish (journal present) or roll it back (pending files only).

    Call with the writer lock held. Returns "finished", "rolled back" or None when there was nothing.
    """
    if not index_dir.is_dir():
        return None
    done = None
    if (index_dir / JOURNAL).exists():
        if read_journal(index_dir) is not None:
            finish(index_dir)
            done = "finished"
        else:
            (index_dir / JOURNAL).unlink()
            done = "rolled back"
    for leftover in [*index_dir.glob("*" + PENDING), index_dir / (JOURNAL + ".tmp")]:
        if leftover.exists():
            leftover.unlink()
            done = done or "rolled back"
    return done


def live_path(index_dir: Path, name: str) -> Path:
    """Where a reader finds `name` now: its pending copy while a committed publish is being finished."""
    if (index_dir / JOURNAL).exists():
        journal = read_journal(index_dir)
        staged = index_dir / (name + PENDING)
        if journal is not None and name in journal["move"] and staged.is_file():
            return staged
    return index_dir / name
