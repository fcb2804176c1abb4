"""Embeddings and product metadata in lmdb: the source of truth an index is built from.

Each vector gets an integer row, the id FAISS returns. Tables (lmdb named databases):
  products  product id -> JSON metadata
  rows      row -> JSON {"id", "kind", "source"}    (kind: "image" or "title"; source: photo path)
  vectors   row -> float16 bytes                    (fp16 halves the file; one 4 KiB page per 1280-d vector)
  sources   kind + "\\0" + source -> row            (what is already embedded, so builds resume)
  owned     id + "\\0" + kind + "\\0" + row -> ""      (a product's rows, found by prefix)
  info      key -> JSON                             (model stamp, next row, generation)
Every `add_*` call is one transaction: an interrupted build keeps every batch it committed.
`generation` grows by one in every transaction that adds or deletes vectors; a FAISS index records
the generation it was synced at, so a stale index is detected in O(1) (see `vsearch.index.update`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import lmdb
import numpy as np

from vsearch.index.lmdb_open import MAP_SIZE, close_env, open_env

__all__ = ["MAP_SIZE", "Store"]
_ROW = struct.Struct(">Q")
_TABLES = (b"products", b"rows", b"vectors", b"sources", b"owned", b"info")


def _row_key(row: int) -> bytes:
    return _ROW.pack(row)


def _source_key(kind: str, source: str) -> bytes:
    return f"{kind}\0{source}".encode()


def _owned_key(product_id: str, kind: str, row_key: bytes) -> bytes:
    return f"{product_id}\0{kind}\0".encode() + row_key


class Store:
    """lmdb store of one index. Use as a context manager.

    Opened writable it holds the index's writer lock (`vsearch.index.lock`, the folder above the
    store) until `close`, waiting up to `wait` seconds for another writer to finish.
    """

    def __init__(self, path: str | Path, readonly: bool = False, wait: float | None = None) -> None:
        from vsearch.index import lock

        self.path = Path(path)
        self._lock: str | None = None if readonly else lock.acquire(self.path.parent, wait)
        self.env: lmdb.Environment | None = None
        try:
            if not readonly:
                self.path.mkdir(parents=True, exist_ok=True)
            self.env, dbs = open_env(self.path, readonly, _TABLES)
        except BaseException:
            self.close()
            raise
        self._products, self._rows, self._vectors, self._sources, self._owned, self._info = dbs

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.env is not None:
            close_env(self.env)
            self.env = None  # type: ignore[assignment]
        self._release()

    def _release(self) -> None:
        from vsearch.index import lock

        if self._lock is not None:
            lock.release(self._lock)
            self._lock = None

    # -- info ---------------------------------------------------------------------------------------
    def get_info(self, key: str) -> object | None:
        with self.env.begin(db=self._info) as txn:
            raw = txn.get(key.encode())
        return None if raw is None else json.loads(raw)

    def set_info(self, key: str, value: object) -> None:
        with self.env.begin(db=self._info, write=True) as txn:
            txn.put(key.encode(), json.dumps(value).encode())

    # -- products -----------------------------------------------------------------------------------
    def put_products(self, products: dict[str, dict[str, str]]) -> None:
        """Insert or replace the metadata of many products in one transaction."""
        with self.env.begin(db=self._products, write=True) as txn:
            for pid, meta in products.items():
                txn.put(pid.encode(), json.dumps(meta, ensure_ascii=False).encode())

    def get_product(self, product_id: str) -> dict[str, str] | None:
        with self.env.begin(db=self._products) as txn:
            raw = txn.get(product_id.encode())
        return None if raw is None else json.loads(raw)

    def get_products(self, product_ids: Iterable[str]) -> list[dict[str, str] | None]:
        with self.env.begin(db=self._products) as txn:
            return [None if (raw := txn.get(pid.encode())) is None else json.loads(raw) for pid in product_ids]

    def product_count(self) -> int:
        with self.env.begin(db=self._products) as txn:
            return int(txn.stat(self._products)["entries"])

    def iter_products(self) -> Iterator[tuple[str, dict[str, str]]]:
        with self.env.begin(db=self._products) as txn:
            for key, raw in txn.cursor():
                yield key.decode(), json.loads(raw)

    # -- vectors ------------------------------------------------------------------------------------
    def has_source(self, kind: str, source: str) -> bool:
        with self.env.begin(db=self._sources) as txn:
            return txn.get(_source_key(kind, source)) is not None

    def embedded_sources(self, kind: str) -> set[str]:
        """Sources of `kind` that already have a vector (to skip them when a build resumes)."""
        prefix = f"{kind}\0".encode()
        out = set()
        with self.env.begin(db=self._sources) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key in cursor.iternext(values=False):
                    if not key.startswith(prefix):
                        break
                    out.add(key[len(prefix):].decode())
        return out

    def generation(self) -> int:
        """Count of committed transactions that changed vectors (0 for a store from before generations)."""
        return int(self.get_info("generation") or 0)

    def _bump_generation(self, txn: lmdb.Transaction) -> None:
        gen = int(json.loads(txn.get(b"generation", db=self._info) or b"0"))
        txn.put(b"generation", str(gen + 1).encode(), db=self._info)

    def add_vectors(self, kind: str, product_ids: list[str], sources: list[str], vectors: np.ndarray,
                    signatures: list[str] | None = None) -> list[int]:
        """Store `[n, dim]` vectors for (product, source) pairs in one transaction; returns their rows.

        A source already present is replaced: its old row is deleted and a new row is assigned.
        `signatures` (e.g. file size + mtime) let a later run tell an unchanged photo from an edited one.
        """
        if not (len(product_ids) == len(sources) == len(vectors)):
            raise ValueError("product_ids, sources and vectors differ in length")
        sigs = signatures if signatures is not None else [""] * len(sources)
        half = np.ascontiguousarray(vectors, dtype=np.float16)
        with self.env.begin(write=True) as txn:
            next_row = int(json.loads(txn.get(b"next_row", db=self._info) or b"0"))
            rows = []
            for pid, source, vec, sig in zip(product_ids, sources, half, sigs):
                skey = _source_key(kind, source)
                old = txn.get(skey, db=self._sources)
                if old is not None:
                    self._delete_row(txn, old)
                key = _row_key(next_row)
                meta = {"id": pid, "kind": kind, "source": source, **({"sig": sig} if sig else {})}
                txn.put(key, json.dumps(meta).encode(), db=self._rows)
                txn.put(key, vec.tobytes(), db=self._vectors)
                txn.put(skey, key, db=self._sources)
                txn.put(_owned_key(pid, kind, key), b"", db=self._owned)
                rows.append(next_row)
                next_row += 1
            txn.put(b"next_row", str(next_row).encode(), db=self._info)
            self._bump_generation(txn)
        return rows

    def row_table(self, kind: str) -> tuple[np.ndarray, list[str], dict[str, str]]:
        """Rows of `kind` in order (int64 `[n]`), the product of each row, and source -> signature."""
        rows, pids, sigs = [], [], {}
        with self.env.begin(db=self._rows) as txn:
            for key, raw in txn.cursor():
                meta = json.loads(raw)
                if meta["kind"] != kind:
                    continue
                rows.append(_ROW.unpack(key)[0])
                pids.append(meta["id"])
                sigs[meta["source"]] = meta.get("sig", "")
        return np.asarray(rows, np.int64), pids, sigs

    def row_entries(self, kind: str) -> list[tuple[int, str, str]]:
        """(row, product id, source) of every row of `kind`, in row order (that of `load_vectors`)."""
        out = []
        with self.env.begin(db=self._rows) as txn:
            for key, raw in txn.cursor():
                meta = json.loads(raw)
                if meta["kind"] == kind:
                    out.append((_ROW.unpack(key)[0], meta["id"], meta["source"]))
        return out

    def get_vectors(self, rows: Iterable[int]) -> np.ndarray:
        """float32 `[n, dim]` vectors of existing `rows` (raises KeyError for a missing row)."""
        with self.env.begin(db=self._vectors) as txn:
            chunks = []
            for r in rows:
                raw = txn.get(_row_key(int(r)))
                if raw is None:
                    raise KeyError(f"row {r} not in store")
                chunks.append(np.frombuffer(raw, np.float16))
        return np.stack(chunks).astype(np.float32) if chunks else np.zeros((0, 0), np.float32)

    def row_products(self, rows: Iterable[int]) -> list[str | None]:
        """Product id of each row (None for a row that no longer exists, or FAISS's -1 padding)."""
        with self.env.begin(db=self._rows) as txn:
            return [None if r < 0 or (raw := txn.get(_row_key(int(r)))) is None else json.loads(raw)["id"]
                    for r in rows]

    def load_vectors(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """All vectors of `kind`: (rows int64 `[n]`, vectors float32 `[n, dim]`), in row order."""
        rows, chunks = [], []
        with self.env.begin() as txn:
            vec_cursor = txn.cursor(db=self._vectors)
            for key, raw in txn.cursor(db=self._rows):
                if json.loads(raw)["kind"] != kind:
                    continue
                rows.append(_ROW.unpack(key)[0])
                chunks.append(np.frombuffer(vec_cursor.get(key) if vec_cursor.set_key(key) else b"", np.float16))
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(rows, np.int64), np.stack(chunks).astype(np.float32)

    def _delete_row(self, txn: lmdb.Transaction, row_key: bytes) -> None:
        raw = txn.get(row_key, db=self._rows)
        if raw is None:
            return
        meta = json.loads(raw)
        txn.delete(row_key, db=self._rows)
        txn.delete(row_key, db=self._vectors)
        txn.delete(_owned_key(meta["id"], meta["kind"], row_key), db=self._owned)
        if txn.get(_source_key(meta["kind"], meta["source"]), db=self._sources) == row_key:
            txn.delete(_source_key(meta["kind"], meta["source"]), db=self._sources)

    def _owned_rows(self, txn: lmdb.Transaction, product_id: str, kind: str | None) -> list[bytes]:
        prefix = f"{product_id}\0{kind}\0".encode() if kind else f"{product_id}\0".encode()
        cursor = txn.cursor(db=self._owned)
        keys: list[bytes] = []
        if cursor.set_range(prefix):
            for key in cursor.iternext(values=False):
                if not key.startswith(prefix):
                    break
                keys.append(key[-_ROW.size:])
        return keys

    def product_rows(self, product_id: str, kind: str | None = None) -> list[int]:
        """Rows of one product (of one kind, or all)."""
        with self.env.begin() as txn:
            return [_ROW.unpack(k)[0] for k in self._owned_rows(txn, product_id, kind)]

    def product_vectors(self, product_id: str, kind: str = "image") -> np.ndarray:
        """float32 `[n, dim]` vectors of one product; `[0, 0]` when it has none."""
        with self.env.begin() as txn:
            vecs = [np.frombuffer(txn.get(key, db=self._vectors), np.float16)
                    for key in self._owned_rows(txn, product_id, kind)]
        return np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, 0), np.float32)

    def remove_products(self, product_ids: Iterable[str]) -> list[int]:
        """Delete products with all their rows in one transaction; returns the removed rows."""
        removed: list[int] = []
        with self.env.begin(write=True) as txn:
            for pid in product_ids:
                for key in self._owned_rows(txn, pid, None):
                    self._delete_row(txn, key)
                    removed.append(_ROW.unpack(key)[0])
                txn.delete(pid.encode(), db=self._products)
            self._bump_generation(txn)
        return removed

    def remove_rows(self, rows: Iterable[int]) -> int:
        """Delete single rows (stale photos of an upserted product) in one transaction; returns how many."""
        count = 0
        with self.env.begin(write=True) as txn:
            for r in rows:
                key = _row_key(int(r))
                if txn.get(key, db=self._rows) is not None:
                    self._delete_row(txn, key)
                    count += 1
            self._bump_generation(txn)
        return count

    def row_sources(self, rows: Iterable[int]) -> list[str | None]:
        """Source (photo path or product id for titles) of each row; None for a row that no longer exists."""
        with self.env.begin(db=self._rows) as txn:
            return [None if (raw := txn.get(_row_key(int(r)))) is None else json.loads(raw)["source"] for r in rows]

    def count(self, kind: str) -> int:
        with self.env.begin(db=self._rows) as txn:
            return sum(1 for _, raw in txn.cursor() if json.loads(raw)["kind"] == kind)
