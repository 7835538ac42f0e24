"""The error every exporter raises when the target cannot represent a model."""

from __future__ import annotations


class ExportError(ValueError):
    """A model (or option) the export target cannot represent; the message names the field."""
