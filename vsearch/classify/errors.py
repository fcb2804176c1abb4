"""The one exception class of classification: bad labels, unknown levels, versions or models."""

from __future__ import annotations

from vsearch.core.errors import VsearchError


class ClassifyError(VsearchError):
    """A classification or training-set request that cannot be done as asked."""
