"""groups.csv (`id,group,score`) and its state file beside it (`<name>.state.pkl`): the offers, scored pairs,
matcher and settings that `assign`, `review`, `show` and `eval group` continue from."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

from vsearch.core.atomic import atomic_path
from vsearch.group.build import Grouping
from vsearch.group.errors import GroupError

STATE_VERSION = 5


def state_path(groups_csv: Path) -> Path:
    return groups_csv.with_name(groups_csv.stem + ".state.pkl")


def save_grouping(grouping: Grouping, groups_csv: Path) -> list[Path]:
    """Write groups.csv and its state file atomically; return both paths."""
    names = grouping.group_names()
    with atomic_path(groups_csv) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "group", "score"])
        for oid, name, label in zip(grouping.offers.ids, names, grouping.labels.tolist()):
            writer.writerow([oid, name, f"{grouping.score_of(label):.4f}"])
    state = state_path(groups_csv)
    with atomic_path(state) as tmp, tmp.open("wb") as fh:
        pickle.dump({"version": STATE_VERSION, "grouping": grouping}, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return [groups_csv, state]


def load_grouping(groups_csv: Path) -> Grouping:
    """The grouping behind a groups.csv written by `vsearch group build` (its state file must be beside it).

    Raises:
        GroupError: no groups file, no state file, or a state file of another version.
    """
    if not groups_csv.is_file():
        raise GroupError(f"groups file not found: {groups_csv}")
    state = state_path(groups_csv)
    if not state.is_file():
        raise GroupError(f"{groups_csv} has no state file {state.name} beside it; rebuild with vsearch group build")
    try:
        with state.open("rb") as fh:
            data = pickle.load(fh)
    except Exception as exc:  # a truncated or foreign file: one line, not a traceback
        raise GroupError(f"{state} is damaged or not a grouping state: {type(exc).__name__}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise GroupError(f"{state} was written by another version; rebuild with vsearch group build")
    return data["grouping"]
