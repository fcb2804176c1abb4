"""Open an index's lmdb environment safely: check the file before mapping it, lock readers properly.

lmdb maps `data.mdb` into memory; touching a page past the end of a truncated file kills the
process with SIGBUS, which no `try` can catch. So the two meta pages are read with plain file I/O
first, and the file must be as long as the newest committed transaction says (`mm_last_pg`).
Readers use lmdb's lock table (the way LMDB supports readers beside a live writer); only on a
read-only filesystem, where no writer can run, do they open without it.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from pathlib import Path

import lmdb

from vsearch.core.errors import IndexDamagedError, IndexMissingError

MAP_SIZE = 1 << 38  # address space only; the file grows with the data
MAGIC = 0xBEEFC0DE
_PAGE_HEADER = 16  # mp_pgno, mp_pad, mp_flags, mp_lower, mp_upper
_META = struct.Struct("<IIQQ")  # magic, version, address, mapsize
_DB = 48  # one MDB_db record; two of them follow, then mm_last_pg and mm_txnid


def _read_meta(head: bytes, offset: int) -> tuple[int, int, int] | None:
    """(page size, last page, txn id) of the meta page at `offset`, or None when it is not one."""
    base = offset + _PAGE_HEADER
    if len(head) < base + _META.size + 2 * _DB + 16:
        return None
    magic, _version, _addr, _mapsize = _META.unpack_from(head, base)
    if magic != MAGIC:
        return None
    psize = struct.unpack_from("<I", head, base + _META.size)[0]  # md_pad of FREE_DBI holds the page size
    last_pg, txnid = struct.unpack_from("<QQ", head, base + _META.size + 2 * _DB)
    return psize, last_pg, txnid


def check_data_file(store_dir: Path) -> None:
    """Raise `IndexDamagedError` unless `store_dir/data.mdb` looks like a whole lmdb file."""
    data = store_dir / "data.mdb"
    try:
        with data.open("rb") as fh:
            head = fh.read(4096)
            first = _read_meta(head, 0)
            psize = first[0] if first and first[0] in (4096, 8192, 16384, 32768, 65536) else 4096
            fh.seek(psize)
            second = _read_meta(fh.read(_PAGE_HEADER + _META.size + 2 * _DB + 16), 0)
            # the size after the meta pages: a writer extends the file before it writes the meta page of its
            # commit, so a size taken first could predate a commit read just after (a live index called truncated)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        raise IndexDamagedError(f"store {store_dir} is damaged: data.mdb is missing") from None
    except OSError as exc:
        raise IndexDamagedError(f"store {store_dir} is unreadable: {exc.strerror}") from None
    metas = [m for m in (first, second) if m is not None]
    if size == 0 or not metas:
        raise IndexDamagedError(f"store {store_dir} is damaged: data.mdb ({size} bytes) is not an lmdb file")
    psize, last_pg, _ = max(metas, key=lambda m: m[2])
    need = (last_pg + 1) * psize
    if size < need:
        raise IndexDamagedError(f"store {store_dir} is damaged: data.mdb is truncated ({size} bytes, its last "
                                f"commit needs {need})")


_envs: dict[str, list[object]] = {}  # real path -> [environment, users]: LMDB allows one open per process
_guard = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child must not use its parent's environments (LMDB forbids it): it opens its own."""
    _envs.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def open_env(store_dir: Path, readonly: bool, tables: tuple[bytes, ...]) -> tuple[lmdb.Environment, list[object]]:
    """The lmdb environment of a store and its `tables`, shared by every `Store` of this process (close
    with `close_env`). Readers do not create missing tables (`IndexDamagedError`).

    `check_data_file` runs first whenever the file exists (always for readers). The environment is
    opened read-write with lmdb's lock table even for readers, so that a reader and a writer can live in
    one process (LMDB forbids opening one environment twice there); readers only ever begin read
    transactions. On a read-only filesystem it is opened read-only without the lock table.
    """
    if readonly:
        if not store_dir.is_dir():
            raise IndexMissingError(f"no store at {store_dir}")
        check_data_file(store_dir)
    elif (store_dir / "data.mdb").exists():
        check_data_file(store_dir)
    key = str(store_dir.resolve())
    with _guard:
        if key in _envs:
            _envs[key][1] += 1  # type: ignore[operator]
            return _envs[key][0], _envs[key][2]  # type: ignore[return-value]
        env = _open(store_dir, readonly)
        try:
            dbs = _open_tables(env, tables, create=not readonly)
        except BaseException:
            env.close()
            raise
        _envs[key] = [env, 1, dbs]
        return env, dbs


def _open_tables(env: lmdb.Environment, tables: tuple[bytes, ...], create: bool) -> list[object]:
    """Table handles, opened once per process (a read transaction cannot make a handle last)."""
    if env.flags()["readonly"]:
        txn = None
    else:
        txn = env.begin(write=True)  # an empty write transaction: it waits for a commit at most, writes nothing
    try:
        dbs = [env.open_db(name, txn=txn, create=create) for name in tables]
    except lmdb.NotFoundError:
        if txn is not None:
            txn.abort()
        raise IndexDamagedError(f"store {env.path()} is incomplete: its tables are missing") from None
    except BaseException:
        if txn is not None:
            txn.abort()
        raise
    if txn is not None:
        txn.commit()
    return dbs


def close_env(env: lmdb.Environment) -> None:
    """Drop one user of a shared environment; the last one closes it."""
    with _guard:
        for key, entry in list(_envs.items()):
            if entry[0] is env:
                entry[1] -= 1  # type: ignore[operator]
                if entry[1] <= 0:
                    del _envs[key]
                    env.close()
                return
    env.close()


def _open(store_dir: Path, readonly: bool) -> lmdb.Environment:
    kwargs = {"map_size": MAP_SIZE, "max_dbs": 8, "subdir": True, "readahead": False}
    try:
        return lmdb.open(str(store_dir), lock=True, readonly=False, **kwargs)
    except lmdb.Error as exc:
        if readonly and _read_only_fs(exc):
            return _open_unlocked(store_dir, kwargs)
        raise IndexDamagedError(f"store {store_dir} cannot be opened: {exc}") from None


def _read_only_fs(exc: lmdb.Error) -> bool:
    return "Read-only file system" in str(exc) or getattr(exc, "errno", None) == errno.EROFS


def _open_unlocked(store_dir: Path, kwargs: dict[str, object]) -> lmdb.Environment:
    """Read-only filesystem: no lock table can be made, and no writer can run, so read without it."""
    try:
        return lmdb.open(str(store_dir), lock=False, readonly=True, **kwargs)  # type: ignore[arg-type]
    except lmdb.Error as exc:
        raise IndexDamagedError(f"store {store_dir} cannot be opened: {exc}") from None
