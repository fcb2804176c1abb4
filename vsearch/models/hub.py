"""Fail fast, with advice, when hub weights are asked for and the hub cannot be reached."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from vsearch.core.errors import WeightsUnavailableError

PROBE_TIMEOUT_S = 3.0


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when the Hugging Face hub endpoint accepts a TCP connection within `timeout` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def require_hub(what: str) -> None:
    """Raise `WeightsUnavailableError` unless the hub can be reached (downloads would hang for a minute)."""
    if not hub_reachable():
        raise WeightsUnavailableError(
            f"{what} needs pretrained weights from the model hub, which cannot be reached from here; "
            "pass --weights PATH to a local checkpoint, or use the bundled offline default timm:tf_efficientnet_lite0")
