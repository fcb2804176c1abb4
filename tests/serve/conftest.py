"""A real `vsearch serve` process (uvicorn on 127.0.0.1) over a small real index, for the HTTP and browser tests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import write_subset


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def serve_index(products_224: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 real products (photos + titles) indexed with the real default model, in a folder of its own."""
    root = tmp_path_factory.mktemp("serve")
    catalog = write_subset(products_224, root / "catalog", 120, every=61).parent
    index = root / "index"
    subprocess.run([sys.executable, "-m", "vsearch", "index", "build", str(catalog), "--index", str(index),
                    "--json"], check=True, capture_output=True, text=True)
    return index


@pytest.fixture(scope="module")
def server(serve_index: Path) -> Iterator[str]:
    """Base URL of a running server; stopped after the module."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vsearch", "serve", "--index", str(serve_index), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if get_json(base + "/api/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("server did not answer /api/health within 90 s")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
