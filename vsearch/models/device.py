"""Pick the compute device at run time: CUDA when torch sees one, else CPU."""

from __future__ import annotations


def resolve_device(device: str | None) -> str:
    """`None` or "auto" -> "cuda" if available else "cpu"; any explicit torch device string is kept."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
