"""The one exception class of grouping: bad offers files, bad options, unknown groups."""

from __future__ import annotations

from vsearch.core.errors import VsearchError


class GroupError(VsearchError):
    """A grouping request that cannot be done as asked (missing column, empty title, repeated id...)."""
