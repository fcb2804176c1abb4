"""Backbones named by strings and created by one factory (see `registry`)."""

from vsearch.models.registry import (
    DEFAULT_MODEL,
    DEFAULT_TEXT_MODEL,
    create_embedder,
    create_text_embedder,
    list_embedders,
)

__all__ = ["DEFAULT_MODEL", "DEFAULT_TEXT_MODEL", "create_embedder", "create_text_embedder", "list_embedders"]
