"""Exceptions the library raises. Only the CLI turns them into a one-line message and an exit code."""

from __future__ import annotations


class VsearchError(Exception):
    """Base of every error a user can cause and fix (bad input, wrong model, missing index)."""


class UnknownModelError(VsearchError):
    """A model name that no backend knows."""


class WeightsUnavailableError(VsearchError):
    """Pretrained weights that cannot be had here (no network, no local checkpoint)."""


class BadImageError(VsearchError):
    """A file that cannot be decoded as a usable image."""


class CatalogError(VsearchError):
    """A catalogue that is missing, empty or has an unreadable labels file."""


class IndexMissingError(VsearchError):
    """No built index where one was expected."""


class IndexMismatchError(VsearchError):
    """An index used with another model or dimension than it was built with."""


class BadQueryError(VsearchError):
    """A query that cannot be answered as asked (unknown id, no text index, bad option)."""


class UnknownProductError(BadQueryError):
    """A product id the index does not hold (HTTP 404 in `vsearch serve`)."""


class IndexBusyError(VsearchError):
    """Another process holds an index's writer lock (one writer at a time)."""


class IndexDamagedError(VsearchError):
    """An index whose files are missing, truncated or unreadable; nothing is written to it."""


class IndexReadOnlyError(VsearchError):
    """An index on a read-only filesystem (or without write permission) asked to change."""
