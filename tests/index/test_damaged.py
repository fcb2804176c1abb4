"""A corpus of damaged indexes and inputs: every command answers one `error:` line and exit 1.

Each case damages a copy of a real (tiny-model) index the way the issue found it; each command is
run through the real CLI app. No traceback, no signal death; with --json the error is a JSON object
on stdout. And no command makes a damaged index smaller.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import write_subset
from vsearch.catalog.reader import load_catalog
from vsearch.cli import app
from vsearch.index.build import build_catalog_index
from vsearch.models import create_embedder

runner = CliRunner()
SCRATCH = {"write.lock", "lock.mdb"}  # lock files, not index content


def _truncate(path: Path, keep: float) -> None:
    with path.open("r+b") as fh:
        fh.truncate(int(path.stat().st_size * keep))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "image.faiss truncated": lambda i: _truncate(i / "image.faiss", 0.5),
    "image.faiss empty": lambda i: _truncate(i / "image.faiss", 0.0),
    "manifest a JSON list": lambda i: (i / "manifest.json").write_text("[1, 2]"),
    "manifest without model": lambda i: (i / "manifest.json").write_text(json.dumps(
        {k: v for k, v in json.loads((i / "manifest.json").read_text()).items() if k != "model"})),
    "manifest not JSON": lambda i: (i / "manifest.json").write_bytes(b"\xff\xfe{"),
    "data.mdb deleted": lambda i: (i / "store.lmdb" / "data.mdb").unlink(),
    "data.mdb garbage": lambda i: (i / "store.lmdb" / "data.mdb").write_bytes(b"garbage" * 5000),
    "data.mdb truncated": lambda i: _truncate(i / "store.lmdb" / "data.mdb", 0.5),
    "store folder deleted": lambda i: shutil.rmtree(i / "store.lmdb"),
}


@pytest.fixture(scope="module")
def corpus(products_224: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("damaged")
    a = write_subset(products_224, work / "a", 20, every=41)
    b = write_subset(products_224, work / "b", 5, every=53)
    build_catalog_index(load_catalog(a), work / "good", create_embedder("tiny", device="cpu"), None, workers=0)
    return {"good": work / "good", "a": a, "b": b, "photo": products_224 / "images" / "10001.jpg"}


def _commands(corpus: dict[str, Path], index: Path) -> dict[str, list[str]]:
    i = ["--index", str(index)]
    return {"query": ["query", str(corpus["photo"]), *i], "like": ["query", "--like", "10001", *i],
            "add": ["index", "add", str(corpus["b"]), "--workers", "0", *i],
            "remove": ["index", "remove", "10001", *i], "info": ["index", "info", *i],
            "verify": ["index", "verify", *i], "repair": ["index", "repair", *i],
            "build": ["index", "build", str(corpus["a"]), "-m", "tiny", "--no-titles", "--workers", "0", *i]}


def _one_line_error(args: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, args)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        f"{args}: traceback {result.exception!r}"
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_index_gives_one_line_errors(corpus: dict[str, Path], tmp_path: Path, case: str) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus["good"], index)
    DAMAGE[case](index)
    sizes = {str(p): p.stat().st_size for p in index.rglob("*") if p.is_file() and p.name not in SCRATCH}
    store_intact = "data.mdb" not in case and "store" not in case
    commands = _commands(corpus, index)
    fixers = {"build"} | ({"repair"} if "faiss" in case else set()) if store_intact else set()
    faults = []
    for name, args in commands.items():
        if name in fixers:
            continue
        code, out, err = _one_line_error(args)
        problem_lines = [ln for ln in err.splitlines() if ln.startswith(("error:", "problem:"))]
        if name in ("info", "verify") and "problem:" in err:  # a report of what is wrong, one line per problem
            ok = code == 1 and problem_lines and not err.startswith("Traceback")
        else:
            ok = code == 1 and err.startswith("error:") and err.count("\n") == 1
        if name in ("add", "remove", "build") and ok:  # the --json form: {"error"} on stdout
            code_j, out_j, _ = _one_line_error([*args, "--json"])
            ok = code_j == 1 and "error" in json.loads(out_j.splitlines()[-1])
        if not ok:
            faults.append(f"{name}: exit {code}, stderr {err[-200:]!r}")
    assert not faults, faults
    for name in sorted(fixers, reverse=True):  # repair, then build: a healthy store rebuilds what was damaged
        code, _, err = _one_line_error(commands[name])
        assert code == 0, (name, err[-300:])
        verdict = runner.invoke(app, ["index", "verify", "--index", str(index), "--json"])
        assert verdict.exit_code == 0 and json.loads(verdict.stdout)["counts"]["products"] == 20
    after = {str(p): p.stat().st_size for p in index.rglob("*") if p.is_file() and p.name not in SCRATCH}
    if not fixers:  # refused everywhere: not one byte of the damaged index changed
        assert after == sizes, "a command wrote to a damaged index"


def test_bad_inputs_give_one_line_errors(corpus: dict[str, Path], tmp_path: Path) -> None:
    jsonl = tmp_path / "cat" / "labels.jsonl"
    jsonl.parent.mkdir()
    cases = {"jsonl row not an object": ('{"id": "1", "image": "a.jpg"}\n[1, 2]\n', "line 2: a JSON list"),
             "jsonl row without id": ('{"id": "1", "image": "a.jpg"}\n{"image": "b.jpg"}\n', "line 2: no 'id'")}
    for case, (text, want) in cases.items():
        jsonl.write_text(text)
        code, _, err = _one_line_error(["index", "build", str(jsonl.parent), "-m", "tiny", "--index",
                                        str(tmp_path / "i")])
        assert code == 1 and err.count("\n") == 1 and want in err, (case, err)
    batch = tmp_path / "batch.txt"
    batch.write_bytes(b"\xff\xfe not utf-8\n")
    code, out, err = _one_line_error(["query", "--batch", str(batch), "--index", str(corpus["good"]), "--json"])
    assert code == 1 and "not UTF-8" in err and "not UTF-8" in json.loads(out)["error"]
