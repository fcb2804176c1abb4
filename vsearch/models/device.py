"""Pick the compute device at run time: CUDA when torch sees one, else CPU."""

from __future__ import annotations

import sys
from pathlib import Path


def nvidia_driver_absent() -> bool:
    """True on a Linux machine with no NVIDIA driver loaded, where CUDA cannot be available: the CPU is then
    known without importing torch (~2 s of a cold text query)."""
    return sys.platform.startswith("linux") and not Path("/proc/driver/nvidia").exists() \
        and not any(Path("/dev").glob("nvidia[0-9]*"))


def resolve_device(device: str | None) -> str:
    """`None` or "auto" -> "cuda" if available else "cpu"; any explicit torch device string is kept."""
    if device in (None, "", "auto"):
        if nvidia_driver_absent():
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
