"""`vsearch --help` must not import torch or faiss (a new process, then a look at sys.modules)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "faiss", "timm", "open_clip", "torchvision", "lmdb", "numpy")

PROBE = """
import json, sys
from vsearch.cli import app
try:
    app(sys.argv[1:], prog_name="vsearch")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in HEAVY if m in sys.modules)}))
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"], ["index", "build", "--help"],
                                  ["index", "add", "--help"], ["index", "remove", "--help"],
                                  ["index", "verify", "--help"], ["index", "repair", "--help"], ["query", "--help"],
                                  ["bench", "--help"], ["classify", "--help"], ["classify", "train", "--help"],
                                  ["classify", "predict", "--help"], ["trainset", "--help"],
                                  ["trainset", "review", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["code"] in (0, None)
    assert last["loaded"] == [], f"`vsearch {' '.join(args)}` imported {last['loaded']}"
    assert "Usage" in out.stdout
