"""The one error type the data package raises for bad files, folders and arguments."""

from __future__ import annotations


class DataError(ValueError):
    """A data file, folder or task name is missing or malformed; the message names which."""
