"""Business rules beside the model: pairs never to merge, which training labels to use."""

from __future__ import annotations

import csv
from pathlib import Path

from vsearch.core.split import split_of
from vsearch.group.errors import GroupError
from vsearch.group.evaluate import SPLITS


def read_never_pairs(path: Path) -> list[tuple[str, str]]:
    """Offer id pairs from the first two columns of a CSV. A header row is harmless: pairs naming no offer
    of the grouping are ignored."""
    if not path.is_file():
        raise GroupError(f"never-merge file not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError as exc:
        raise GroupError(f"never-merge file {path} is not UTF-8 text (byte {exc.start})") from None
    out = []
    for line, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise GroupError(f"{path} line {line}: a never-merge row needs two offer ids")
        out.append((row[0].strip(), row[1].strip()))
    return out


def train_labels(labels: dict[str, str], split: str) -> dict[str, str]:
    """The training labels whose group falls in `split` (by the shared hash of the group label)."""
    if split not in SPLITS:
        raise GroupError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    out = labels if split == "all" else {k: v for k, v in labels.items() if split_of(v) == split}
    if len(out) < 2:
        raise GroupError(f"--train-groups holds {len(out)} labelled offer(s) in split {split}")
    return out
