"""The managed training set: rows with labels in SQLite, every change a new version.

A row version lives from the version that wrote it (`v_from`) until the version that replaced or
removed it (`v_to`, NULL while current), so any version is a query away and nothing is ever lost.
Each change is one SQLite transaction (atomic: a crash leaves the previous version intact) and
records author, UTC time, reason and counts. A rollback is itself a new version.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vsearch.classify.data import LabelSet
from vsearch.classify.errors import ClassifyError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (version INTEGER PRIMARY KEY, time TEXT NOT NULL, author TEXT NOT NULL,
    reason TEXT NOT NULL, op TEXT NOT NULL, added INTEGER, removed INTEGER, changed INTEGER, rows INTEGER);
CREATE TABLE IF NOT EXISTS rows (id TEXT NOT NULL, data TEXT NOT NULL, v_from INTEGER NOT NULL, v_to INTEGER);
CREATE INDEX IF NOT EXISTS rows_current ON rows (id) WHERE v_to IS NULL;
CREATE INDEX IF NOT EXISTS rows_span ON rows (v_from, v_to);
"""


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): still record something
        return "unknown"


class TrainingSet:
    """One SQLite file. Rows are `{"title", "image", "labels": {level: label}}` keyed by product id."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ClassifyError(f"no training set at {self.path}; run `vsearch trainset import` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> TrainingSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -- reading ------------------------------------------------------------------------------------
    @property
    def levels(self) -> list[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key='levels'").fetchone()
        return json.loads(row[0]) if row else []

    def head(self) -> int:
        """The current version (0 for an empty, never imported set)."""
        return int(self.db.execute("SELECT COALESCE(MAX(version), 0) FROM versions").fetchone()[0])

    def check_version(self, version: int) -> int:
        if not self.db.execute("SELECT 1 FROM versions WHERE version=?", (version,)).fetchone():
            raise ClassifyError(f"unknown version {version}; `vsearch trainset versions` lists them "
                                f"(1..{self.head()})")
        return version

    def snapshot(self, version: int | None = None) -> dict[str, dict[str, Any]]:
        """id -> row at `version` (default: the current one)."""
        v = self.head() if version is None else self.check_version(version)
        cur = self.db.execute("SELECT id, data FROM rows WHERE v_from <= ? AND (v_to IS NULL OR v_to > ?)", (v, v))
        return {pid: json.loads(data) for pid, data in cur}

    def label_set(self, version: int | None = None) -> LabelSet:
        """A version as a `LabelSet` (rows sorted by id, so a version always trains the same way)."""
        snap = self.snapshot(version)
        if not snap:
            raise ClassifyError("the training set is empty")
        levels = self.levels
        out = LabelSet(levels, labels={lv: [] for lv in levels})
        for pid in sorted(snap):
            row = snap[pid]
            out.ids.append(pid)
            out.titles.append(row["title"])
            out.images.append(row.get("image", ""))
            for lv in levels:
                out.labels[lv].append(row["labels"][lv])
        return out

    def versions(self) -> list[dict[str, Any]]:
        cols = ("version", "time", "author", "reason", "op", "added", "removed", "changed", "rows")
        cur = self.db.execute(f"SELECT {', '.join(cols)} FROM versions ORDER BY version")
        return [dict(zip(cols, r)) for r in cur]

    def diff(self, a: int, b: int) -> dict[str, Any]:
        """Rows added, removed and changed (with each changed field's old and new value) from `a` to `b`."""
        old, new = self.snapshot(a), self.snapshot(b)
        changed = []
        for pid in sorted(old.keys() & new.keys()):
            if old[pid] != new[pid]:
                fields = {}
                for key in ("title", "image"):
                    if old[pid].get(key) != new[pid].get(key):
                        fields[key] = [old[pid].get(key), new[pid].get(key)]
                for lv in set(old[pid]["labels"]) | set(new[pid]["labels"]):
                    if old[pid]["labels"].get(lv) != new[pid]["labels"].get(lv):
                        fields[lv] = [old[pid]["labels"].get(lv), new[pid]["labels"].get(lv)]
                changed.append({"id": pid, "fields": fields})
        return {"from": a, "to": b, "added": sorted(new.keys() - old.keys()),
                "removed": sorted(old.keys() - new.keys()), "changed": changed}

    # -- writing ------------------------------------------------------------------------------------
    def commit(self, upserts: dict[str, dict[str, Any]], removes: set[str], op: str, reason: str,
               author: str | None = None) -> dict[str, Any] | None:
        """Apply the changes as one new version; None (no version) when they change nothing."""
        with self._txn() as db:
            current = {pid: json.loads(d) for pid, d in db.execute("SELECT id, data FROM rows WHERE v_to IS NULL")}
            version = int(db.execute("SELECT COALESCE(MAX(version), 0) FROM versions").fetchone()[0]) + 1
            gone = [pid for pid in removes if pid in current]
            added = [pid for pid in upserts if pid not in current]
            changed = [pid for pid in upserts if pid in current and current[pid] != upserts[pid]]
            if not (gone or added or changed):
                return None
            db.executemany("UPDATE rows SET v_to=? WHERE id=? AND v_to IS NULL",
                           [(version, pid) for pid in gone + changed])
            db.executemany("INSERT INTO rows (id, data, v_from) VALUES (?, ?, ?)",
                           [(pid, json.dumps(upserts[pid], ensure_ascii=False, sort_keys=True), version)
                            for pid in added + changed])
            n_rows = len(current) - len(gone) + len(added)
            entry = {"version": version, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "author": author or default_author(), "reason": reason, "op": op, "added": len(added),
                     "removed": len(gone), "changed": len(changed), "rows": n_rows}
            db.execute("INSERT INTO versions VALUES (:version, :time, :author, :reason, :op, :added, :removed, "
                       ":changed, :rows)", entry)
        return entry

    def set_levels(self, levels: list[str]) -> None:
        have = self.levels
        if have and have != levels:
            raise ClassifyError(f"the training set has levels {','.join(have)}, not {','.join(levels)}")
        if not have:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('levels', ?)", (json.dumps(levels),))

    # -- operations ---------------------------------------------------------------------------------
    def import_rows(self, data: LabelSet, reason: str, author: str | None = None) -> dict[str, Any] | None:
        """Make the set equal to `data` (rows not in it are removed) as one version."""
        self.set_levels(data.levels)
        current = self.db.execute("SELECT id FROM rows WHERE v_to IS NULL").fetchall()
        rows = rows_of(data)
        return self.commit(rows, {pid for (pid,) in current} - rows.keys(), "import", reason, author)

    def add_rows(self, data: LabelSet, reason: str, author: str | None = None) -> dict[str, Any] | None:
        """Add new rows; an id already in the set is an error (relabel it instead)."""
        self._require_levels(data.levels)
        rows = rows_of(data)
        present = [pid for pid in rows if self._current(pid) is not None]
        if present:
            raise ClassifyError(f"duplicate id {present[0]}: already in the training set ({len(present)} such rows)")
        return self.commit(rows, set(), "add", reason, author)

    def remove_rows(self, ids: list[str], reason: str, author: str | None = None) -> dict[str, Any] | None:
        for pid in ids:
            if self._current(pid) is None:
                raise ClassifyError(f"unknown id {pid}: not in the current training set")
        return self.commit({}, set(ids), "remove", reason, author)

    def relabel(self, pid: str, label: str, reason: str, level: str | None = None,
                author: str | None = None) -> dict[str, Any] | None:
        """Set one level's label of one row (default: the leaf level)."""
        levels = self.levels
        level = level or (levels[-1] if levels else "")
        if level not in levels:
            raise ClassifyError(f"unknown level '{level}': the training set has {','.join(levels)}")
        if not label.strip():
            raise ClassifyError("empty label")
        if not reason.strip():
            raise ClassifyError("a relabel needs --reason")
        row = self._current(pid)
        if row is None:
            raise ClassifyError(f"unknown id {pid}: not in the current training set")
        new = {**row, "labels": {**row["labels"], level: label.strip()}}
        return self.commit({pid: new}, set(), f"relabel {level}", reason, author)

    def rollback(self, version: int, reason: str, author: str | None = None) -> dict[str, Any] | None:
        """A new version whose rows equal those of `version`."""
        target = self.snapshot(self.check_version(version))
        current = self.snapshot()
        return self.commit(target, current.keys() - target.keys(), f"rollback to {version}",
                           reason or f"rollback to version {version}", author)

    def _current(self, pid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM rows WHERE id=? AND v_to IS NULL", (pid,)).fetchone()
        return json.loads(row[0]) if row else None

    def _require_levels(self, levels: list[str]) -> None:
        if not self.levels:
            raise ClassifyError("the training set is empty; run `vsearch trainset import` first")
        self.set_levels(levels)


def rows_of(data: LabelSet) -> dict[str, dict[str, Any]]:
    """A `LabelSet` as training-set rows."""
    return {data.ids[i]: {"title": data.titles[i], "image": data.images[i],
                          "labels": {lv: data.labels[lv][i] for lv in data.levels}} for i in range(len(data))}
