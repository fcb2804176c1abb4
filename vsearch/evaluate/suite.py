"""An evaluation suite as data: a TOML file -> frozen dataclasses, checked before anything runs.

Paths in a suite are relative to its `data` folder, itself relative to the suite file (or taken from
$VSEARCH_SHARED_DATA), so the same suite runs on a laptop and in CI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from vsearch.core.errors import VsearchError
from vsearch.core.split import SPLIT_SALT

ATTRIBUTES = ("articleType", "baseColour", "usage", "gender", "season")
Filter = tuple[tuple[str, tuple[str, ...]], ...]
"""Column -> accepted values; a photo matches when every column holds one of its values."""


class SuiteError(VsearchError):
    """A suite file that is missing, malformed or names data that is not there."""


@dataclass(frozen=True)
class SimilarCfg:
    """Protocol 1: test products query the other products; relevant = same `relevance` columns."""

    queries: str = "test"
    max_queries: int = 0
    relevance: tuple[str, ...] = ("articleType",)
    strict: tuple[str, ...] = ("articleType", "baseColour")
    title_weight: float = 0.6  # `vsearch query --like`'s fusion of title with photo cosine (its `type_with_titles`)


@dataclass(frozen=True)
class SyntheticCfg:
    """Protocol 2: seeded phone-camera views of catalogue photos query the catalogue."""

    kinds: tuple[str, ...] = ()
    products: int = 200
    views: int = 1
    compare: str = ""
    compare_views: int = 4


@dataclass(frozen=True)
class RenditionCfg:
    """Protocol 3: another rendition of the same photos (e.g. products-small) queries the catalogue."""

    catalog: Path


@dataclass(frozen=True)
class TextCfg:
    """Protocol 4: product titles as text queries."""

    queries: str = "test"
    max_queries: int = 0
    relevance: tuple[str, ...] = ("articleType",)


@dataclass(frozen=True)
class MultiviewCfg:
    """Protocol 5 (any catalogue with several photos per id): query photos vs gallery photos."""

    name: str
    catalog: Path
    query: Filter = ()
    gallery: tuple[Filter, ...] = ()
    max_queries: int = 0


@dataclass(frozen=True)
class TagsCfg:
    """Tag metrics: a logistic-regression probe per attribute on frozen embeddings."""

    attributes: tuple[str, ...] = ATTRIBUTES
    train: str = "train"
    test: str = "test"
    C: float = 0.1
    max_iter: int = 300


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    data: Path
    catalog: Path
    model: str | None = None
    ks: tuple[int, ...] = (1, 5, 10)
    seed: int = 0
    split_salt: str = SPLIT_SALT
    description: str = ""
    similar: SimilarCfg | None = None
    synthetic: SyntheticCfg | None = None
    rendition: RenditionCfg | None = None
    text: TextCfg | None = None
    multiview: tuple[MultiviewCfg, ...] = ()
    tags: TagsCfg | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file.

    Raises:
        SuiteError: unreadable TOML, unknown keys, bad values or missing data folders.
    """
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite {path}: {exc}") from None
    doc = dict(raw)
    env = os.environ.get("VSEARCH_SHARED_DATA")
    data = Path(env) if env else (path.parent / str(doc.pop("data", "."))).resolve()
    doc.pop("data", None)
    ks = tuple(sorted(set(_ints(doc.pop("ks", [1, 5, 10]), "ks"))))
    if not ks or ks[0] < 1:
        raise SuiteError(f"{path}: ks must be positive integers")
    suite = Suite(
        name=_str(doc.pop("name", path.stem), "name"), path=path, data=data,
        catalog=_existing(data, doc.pop("catalog", None), "catalog", path),
        model=doc.pop("model", None), ks=ks, seed=int(doc.pop("seed", 0)),
        split_salt=_str(doc.pop("split_salt", SPLIT_SALT), "split_salt"),
        description=_str(doc.pop("description", ""), "description"),
        similar=_section(doc.pop("similar", None), SimilarCfg, path, "similar"),
        synthetic=_section(doc.pop("synthetic", None), SyntheticCfg, path, "synthetic"),
        rendition=_rendition(doc.pop("rendition", None), data, path),
        text=_section(doc.pop("text", None), TextCfg, path, "text"),
        multiview=tuple(_multiview(item, data, path) for item in doc.pop("multiview", [])),
        tags=_section(doc.pop("tags", None), TagsCfg, path, "tags"),
        raw=raw,
    )
    if doc:
        raise SuiteError(f"{path}: unknown keys {', '.join(sorted(doc))}")
    names = [m.name for m in suite.multiview]
    if len(set(names)) != len(names):
        raise SuiteError(f"{path}: multiview names repeat: {names}")
    if suite.synthetic and suite.synthetic.compare and suite.synthetic.compare not in names:
        raise SuiteError(f"{path}: synthetic.compare '{suite.synthetic.compare}' names no multiview; have {names}")
    if suite.synthetic:
        from vsearch.evaluate.distort import KINDS

        unknown = set(suite.synthetic.kinds) - set(KINDS)
        if unknown:
            raise SuiteError(f"{path}: unknown distortion kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
    return suite


def _str(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise SuiteError(f"suite key '{key}' must be a string, got {value!r}")
    return value


def _ints(value: object, key: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise SuiteError(f"suite key '{key}' must be a list of integers, got {value!r}")
    return value


def _existing(data: Path, rel: object, key: str, path: Path) -> Path:
    if not isinstance(rel, str) or not rel:
        raise SuiteError(f"{path}: '{key}' must name a folder or labels file under {data}")
    target = data / rel
    if not target.exists():
        raise SuiteError(f"{path}: {key} {target} does not exist (set $VSEARCH_SHARED_DATA or fix 'data')")
    return target


def _section(value: object, cls: type, path: Path, name: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SuiteError(f"{path}: [{name}] must be a table")
    known = set(cls.__dataclass_fields__)
    unknown = set(value) - known
    if unknown:
        raise SuiteError(f"{path}: unknown keys in [{name}]: {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(sorted(known))}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SuiteError(f"{path}: [{name}]: {exc}") from None


def _rendition(value: object, data: Path, path: Path) -> RenditionCfg | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"catalog"}:
        raise SuiteError(f"{path}: [rendition] takes one key, catalog")
    return RenditionCfg(_existing(data, value["catalog"], "rendition.catalog", path))


def _filter(value: object, path: Path) -> Filter:
    if not isinstance(value, dict):
        raise SuiteError(f"{path}: a photo filter must be a table like {{ source = \"phone\" }}, got {value!r}")
    return tuple((str(k), tuple(map(str, v)) if isinstance(v, list) else (str(v),)) for k, v in sorted(value.items()))


def _multiview(value: object, data: Path, path: Path) -> MultiviewCfg:
    if not isinstance(value, dict) or "name" not in value or "catalog" not in value:
        raise SuiteError(f"{path}: each [[multiview]] needs name and catalog")
    unknown = set(value) - {"name", "catalog", "query", "gallery", "max_queries"}
    if unknown:
        raise SuiteError(f"{path}: unknown keys in [[multiview]] {value['name']}: {', '.join(sorted(unknown))}")
    gallery = value.get("gallery", [])
    gallery = [gallery] if isinstance(gallery, dict) else gallery
    return MultiviewCfg(name=_str(value["name"], "multiview.name"),
                        catalog=_existing(data, value["catalog"], "multiview.catalog", path),
                        query=_filter(value["query"], path) if "query" in value else (),
                        gallery=tuple(_filter(g, path) for g in gallery),
                        max_queries=int(value.get("max_queries", 0)))
