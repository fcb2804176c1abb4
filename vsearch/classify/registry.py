"""Champion and challengers: every trained model is kept; one is the champion that `predict` uses.

A challenger replaces the champion only when its leaf-level accuracy on a frozen evaluation set
(the test-split rows of the first training data, stored once and never changed) beats the
champion's by a margin. With no champion yet, the bar is the majority-class accuracy on that set, so
a model that learnt nothing (e.g. from shuffled labels) is never promoted. Every decision is kept.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.classify.data import LabelSet
from vsearch.classify.errors import ClassifyError
from vsearch.classify.model import CategoryModel, load_model, photo_inputs, save_model
from vsearch.classify.trainset import default_author

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (id INTEGER PRIMARY KEY, time TEXT NOT NULL, author TEXT NOT NULL,
    file TEXT NOT NULL, source TEXT, levels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, author TEXT NOT NULL,
    challenger INTEGER NOT NULL, champion INTEGER, challenger_score REAL, bar REAL, margin REAL,
    promoted INTEGER NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS frozen (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS frozen_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        (self.home / "models").mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.home / "registry.sqlite", isolation_level=None, timeout=30)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- models -------------------------------------------------------------------------------------
    def add(self, model: CategoryModel, source: str, author: str | None = None) -> int:
        """Store a trained model as a challenger; returns its id."""
        next_id = int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM models").fetchone()[0]) + 1
        file = f"models/model-{next_id:04d}.joblib"
        model.meta["model_id"] = next_id
        save_model(model, self.home / file)
        self.db.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?)",
                        (next_id, _now(), author or default_author(), file, source, json.dumps(model.levels)))
        return next_id

    def latest(self) -> int:
        row = self.db.execute("SELECT MAX(id) FROM models").fetchone()
        if row[0] is None:
            raise ClassifyError(f"no trained model in {self.home}; run `vsearch classify train` first")
        return int(row[0])

    def load(self, model_id: int) -> CategoryModel:
        row = self.db.execute("SELECT file FROM models WHERE id=?", (model_id,)).fetchone()
        if not row:
            raise ClassifyError(f"unknown model {model_id}; `vsearch classify models` lists them")
        return load_model(self.home / row[0])

    def champion(self) -> int | None:
        row = self.db.execute("SELECT challenger FROM decisions WHERE promoted=1 ORDER BY seq DESC LIMIT 1")
        found = row.fetchone()
        return None if found is None else int(found[0])

    def load_champion(self) -> CategoryModel:
        champ = self.champion()
        if champ is None:
            raise ClassifyError(f"no champion model in {self.home}; train one and `vsearch classify promote` it")
        return self.load(champ)

    def models(self) -> list[dict[str, Any]]:
        champ = self.champion()
        cur = self.db.execute("SELECT id, time, author, file, source FROM models ORDER BY id")
        return [{"id": i, "time": t, "author": a, "file": f, "source": s, "champion": i == champ}
                for i, t, a, f, s in cur]

    def history(self) -> list[dict[str, Any]]:
        cols = ("seq", "time", "author", "challenger", "champion", "challenger_score", "bar", "margin", "promoted",
                "reason")
        return [dict(zip(cols, r)) | {"promoted": bool(r[8])}
                for r in self.db.execute(f"SELECT {', '.join(cols)} FROM decisions ORDER BY seq")]

    # -- the frozen evaluation set ------------------------------------------------------------------
    def freeze(self, data: LabelSet, positions: list[int]) -> bool:
        """Store these rows as the evaluation set, once; False (nothing done) when one is already frozen."""
        if self.db.execute("SELECT 1 FROM frozen LIMIT 1").fetchone() or not positions:
            return False
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT INTO frozen VALUES (?, ?)", [(data.ids[i], json.dumps(data.row(i)))
                                                                 for i in positions])
        self.db.execute("INSERT OR REPLACE INTO frozen_meta VALUES ('levels', ?)", (json.dumps(data.levels),))
        self.db.execute("INSERT OR REPLACE INTO frozen_meta VALUES ('time', ?)", (_now(),))
        self.db.execute("COMMIT")
        return True

    def frozen(self) -> LabelSet:
        row = self.db.execute("SELECT value FROM frozen_meta WHERE key='levels'").fetchone()
        if row is None:
            raise ClassifyError("no frozen evaluation set yet (the first `vsearch classify train` makes it)")
        levels = json.loads(row[0])
        out = LabelSet(levels, labels={lv: [] for lv in levels})
        for _, data in self.db.execute("SELECT id, data FROM frozen ORDER BY id"):
            r = json.loads(data)
            out.ids.append(r["id"])
            out.titles.append(r["title"])
            out.images.append(r.get("image", ""))
            for lv in levels:
                out.labels[lv].append(r["labels"][lv])
        return out

    # -- promotion ----------------------------------------------------------------------------------
    def promote(self, challenger: int, margin: float = 0.005, author: str | None = None,
                reason: str = "", vectors: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        """Compare `challenger` with the champion on the frozen set; promote when better by `margin`."""
        frozen = self.frozen()
        model = self.load(challenger)
        if model.levels != frozen.levels:
            raise ClassifyError(f"model {challenger} has levels {','.join(model.levels)}, the frozen set "
                                f"{','.join(frozen.levels)}")
        score = frozen_score(model, frozen, vectors or {})
        champ = self.champion()
        if champ == challenger:
            raise ClassifyError(f"model {challenger} is already the champion")
        if champ is None:
            bar, against = majority_accuracy(frozen), "majority class"
        else:
            bar, against = frozen_score(self.load(champ), frozen, vectors or {}), f"champion {champ}"
        promoted = score >= bar + margin
        self.db.execute("INSERT INTO decisions (time, author, challenger, champion, challenger_score, bar, margin, "
                        "promoted, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (_now(), author or default_author(), challenger, champ, score, bar, margin, int(promoted),
                         reason))
        return {"challenger": challenger, "champion": champ, "against": against, "challenger_score": score,
                "bar": bar, "margin": margin, "promoted": promoted, "frozen_rows": len(frozen),
                "new_champion": challenger if promoted else champ}


def frozen_score(model: CategoryModel, data: LabelSet, vectors: dict[str, np.ndarray]) -> float:
    """Leaf-level accuracy of `model` on `data` (photos used where the model has a head and a vector)."""
    pred = model.predict(data.titles, *photo_inputs(model, data.ids, vectors))
    leaf = data.levels[-1]
    return float(np.mean([a == b for a, b in zip(pred.labels[leaf], data.labels[leaf])]))


def majority_accuracy(data: LabelSet) -> float:
    leaf = data.labels[data.levels[-1]]
    return Counter(leaf).most_common(1)[0][1] / len(leaf)
