"""The manifest beside every index: which model built it, so a wrong model is refused on load."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.core.atomic import atomic_write_text
from vsearch.core.errors import IndexMismatchError, IndexMissingError

if TYPE_CHECKING:
    from vsearch.models.base import ResizeMode

MANIFEST = "manifest.json"
IMAGE_INDEX = "image.faiss"
TEXT_INDEX = "text.faiss"
STORE = "store.lmdb"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Manifest:
    """What an index is: model and weights, vector space, sizes, provenance."""

    model: str
    weights_id: str
    dim: int
    preprocess: dict[str, Any]
    metric: str = "cosine (inner product of unit vectors)"
    index_type: str = "Flat"
    count: int = 0
    products: int = 0
    text_model: str | None = None
    text_weights_id: str | None = None
    text_dim: int | None = None
    text_count: int = 0
    vsearch_version: str = ""
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)
    build: dict[str, Any] = field(default_factory=dict)

    @property
    def resize(self) -> ResizeMode:
        """How the index's photos were made square; indexes from before the option was recorded squashed."""
        return self.preprocess.get("resize", "squash")  # type: ignore[no-any-return]

    def check_model(self, model: str | None, weights_id: str | None = None, dim: int | None = None) -> None:
        """Raise `IndexMismatchError` when a model other than the one that built the index is used."""
        if model is not None and model != self.model:
            raise IndexMismatchError(f"index was built with model {self.model}, not {model}; query with "
                                     f"--model {self.model} or rebuild the index")
        if weights_id is not None and weights_id != self.weights_id:
            raise IndexMismatchError(f"index was built with weights {self.weights_id}, not {weights_id}")
        if dim is not None and dim != self.dim:
            raise IndexMismatchError(f"index has dim {self.dim}, the model gives {dim}")


def write_manifest(index_dir: str | Path, manifest: Manifest) -> None:
    atomic_write_text(Path(index_dir) / MANIFEST, json.dumps(asdict(manifest), indent=2, ensure_ascii=False))


def read_manifest(index_dir: str | Path) -> Manifest:
    """Raises `IndexMissingError` when `index_dir` holds no built index."""
    path = Path(index_dir) / MANIFEST
    if not path.is_file():
        raise IndexMissingError(f"no index at {index_dir}: build one with `vsearch index build CATALOG`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexMissingError(f"unreadable manifest {path}: {exc}") from None
    known = {f.name for f in fields(Manifest)}
    return Manifest(**{k: v for k, v in raw.items() if k in known})
