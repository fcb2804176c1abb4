"""An index on a read-only filesystem answers queries, and every writer refuses it with one line, changing nothing.

The read-only filesystem is real: a read-only bind mount inside a private mount namespace (`unshare -m`), which
needs root; the suite runs as root here and in CI. Without write permission (another user's index) writers refuse
the same way; that case runs the commands as `nobody` through `setpriv`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def ro_world(tiny_index: Path, subset_catalog: Path) -> tuple[Path, Path]:
    """A copy of the tiny index and its catalogue under a world-readable temporary folder."""
    base = Path(tempfile.mkdtemp(prefix="vsearch-ro-"))
    base.chmod(0o755)
    shutil.copytree(tiny_index, base / "idx")
    shutil.copytree(subset_catalog, base / "cat")
    for path in base.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield base / "idx", base / "cat"
    shutil.rmtree(base, ignore_errors=True)


def _writers(index: Path, catalog: Path) -> list[list[str]]:
    some_id = (catalog / "labels.csv").read_text().splitlines()[1].split(",")[0]
    return [["index", "add", str(catalog), "--index", str(index)],
            ["index", "remove", some_id, "--index", str(index)],
            ["index", "build", str(catalog), "--index", str(index), "-m", "tiny", "--workers", "0"],
            ["index", "repair", "--index", str(index)]]


@pytest.mark.skipif(not _can_unshare(), reason="a read-only bind mount needs root and unshare")
def test_read_only_filesystem_serves_queries_and_refuses_writers(ro_world: tuple[Path, Path]) -> None:
    index, catalog = ro_world
    before = _digest(index)
    photo = sorted((catalog / "images").glob("*.jpg"))[0]
    commands = [["query", str(photo), "--index", str(index), "-k", "3", "--json"], *_writers(index, catalog)]
    py = sys.executable
    script = [f"mount --bind {index} {index} && mount -o remount,bind,ro {index} || exit 99"]
    for i, args in enumerate(commands):
        quoted = " ".join(f"'{a}'" for a in args)
        script.append(f"{py} -m vsearch {quoted} > {index.parent}/out{i} 2> {index.parent}/err{i}; "
                      f"echo $? > {index.parent}/rc{i}")
    run = subprocess.run(["unshare", "-m", "sh", "-c", "\n".join(script)], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    out = [(int((index.parent / f"rc{i}").read_text()), (index.parent / f"out{i}").read_text(),
            (index.parent / f"err{i}").read_text()) for i in range(len(commands))]
    rc, stdout, _ = out[0]
    assert rc == 0 and f'"id": "{photo.stem}"' in stdout.split("},")[0]  # the photo finds its own product first
    for args, (rc, _, err) in zip(commands[1:], out[1:]):
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and lines[0].startswith("error:") and "read-only" in lines[0], (args, err)
    assert _digest(index) == before  # not a byte changed


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="runs the writers as nobody")
def test_index_without_write_permission_refuses_writers(ro_world: tuple[Path, Path]) -> None:
    index, catalog = ro_world
    before = _digest(index)
    home = index.parent / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    for args in _writers(index, catalog):
        run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                              "vsearch", *args], cwd=ROOT, capture_output=True, text=True, check=False,
                             env={**os.environ, "HOME": str(home)})
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 1 and len(lines) == 1 and "read-only" in lines[0], (args, run.stderr)
    assert _digest(index) == before
