"""The manifest beside every index: which model built it, so a wrong model is refused on load."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsearch.core.atomic import atomic_write_text
from vsearch.core.errors import IndexDamagedError, IndexMismatchError, IndexMissingError

if TYPE_CHECKING:
    from vsearch.models.base import ResizeMode

MANIFEST = "manifest.json"
IMAGE_INDEX = "image.faiss"
TEXT_INDEX = "text.faiss"
STORE = "store.lmdb"
HEADS_DIR = "heads"


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
    files: dict[str, Any] = field(default_factory=dict)
    """Size and CRC-32 of each FAISS file published with this manifest (`vsearch.index.publish`)."""

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


def heads_path(index_dir: str | Path, group: str) -> Path:
    """Where an index keeps head group `group` (`vsearch.index.heads` reads and writes it)."""
    return Path(index_dir) / HEADS_DIR / f"{group}.pt"


def write_manifest(index_dir: str | Path, manifest: Manifest) -> None:
    """Replace the manifest alone (atomic); changes to the FAISS files go through `vsearch.index.publish`."""
    atomic_write_text(Path(index_dir) / MANIFEST, json.dumps(asdict(manifest), indent=2, ensure_ascii=False))


def live_file(index_dir: Path, name: str) -> Path:
    """The published copy of `name`: its pending copy while a committed publish is being finished."""
    from vsearch.index.publish import live_path

    return live_path(index_dir, name)


def read_manifest(index_dir: str | Path) -> Manifest:
    """The published manifest. Raises `IndexMissingError` when `index_dir` holds no built index and
    `IndexDamagedError` when the manifest is unreadable or not a whole one."""
    index_dir = Path(index_dir)
    for attempt in range(3):  # a writer may rename the pending copy away between the check and the read
        path = live_file(index_dir, MANIFEST)
        try:
            text = path.read_text(encoding="utf-8")
            break
        except FileNotFoundError:
            if attempt == 2 or path.name == MANIFEST and not (index_dir / (MANIFEST + ".pending")).exists():
                raise IndexMissingError(f"no index at {index_dir}: build one with `vsearch index build "
                                        "CATALOG`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexDamagedError(f"unreadable manifest {path}: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IndexDamagedError(f"unreadable manifest {path}: {exc}") from None
    return manifest_from_dict(raw, path)


_REQUIRED = {"model": str, "weights_id": str, "dim": int, "preprocess": dict}


def manifest_from_dict(raw: object, path: Path) -> Manifest:
    """A `Manifest` from parsed JSON; `IndexDamagedError` for anything that is not a whole manifest."""
    if not isinstance(raw, dict):
        raise IndexDamagedError(f"damaged manifest {path}: a JSON {type(raw).__name__}, not an object")
    for key, kind in _REQUIRED.items():
        if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
            raise IndexDamagedError(f"damaged manifest {path}: '{key}' is missing or not a {kind.__name__}")
    if not isinstance(raw.get("build", {}), dict):
        raise IndexDamagedError(f"damaged manifest {path}: 'build' is not an object")
    known = {f.name for f in fields(Manifest)}
    return Manifest(**{k: v for k, v in raw.items() if k in known})
