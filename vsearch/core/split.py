"""The one deterministic train/val/test split by product id, shared by training and evaluation.

A product's split depends only on its id (a salted hash), never on row order or catalogue size, so
adding products never moves an old one between splits and no test product is ever trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

Split = Literal["train", "val", "test"]

SPLIT_SALT = "vsearch-split-v1"
FRACTIONS: dict[Split, float] = {"train": 0.7, "val": 0.1, "test": 0.2}


def split_of(product_id: str, salt: str = SPLIT_SALT) -> Split:
    """"train", "val" or "test" for a product id: 70 / 10 / 20 by a hash of the id."""
    digest = hashlib.sha256(f"{salt}:{product_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < FRACTIONS["test"]:
        return "test"
    if u < FRACTIONS["test"] + FRACTIONS["val"]:
        return "val"
    return "train"


def split_ids(product_ids: Iterable[str], salt: str = SPLIT_SALT) -> dict[Split, list[str]]:
    """Group ids by split, keeping their input order."""
    out: dict[Split, list[str]] = {"train": [], "val": [], "test": []}
    for pid in product_ids:
        out[split_of(pid, salt)].append(pid)
    return out
