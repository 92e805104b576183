"""Error types for every user-facing failure.

Every error a user can cause (a bad file, a bad record, a bad config, a model file that is not ours)
is raised as a :class:`ChemAccelError` subclass whose ``str()`` is one line that names the file, the
record and the reason. The CLI prints that line and exits with status 1; the GUI shows it in a message
box. Anything else escaping is a bug.
"""

from __future__ import annotations

from pathlib import Path


class ChemAccelError(Exception):
    """Base class: a user error with a one-line message."""


class InputError(ChemAccelError):
    """A file or one record in it could not be read.

    Args:
        path: the file (or a label such as ``"<stdin>"``).
        reason: why, in a few words.
        record: 1-based record number within the file, or None for the whole file.
    """

    def __init__(self, path: str | Path, reason: str, record: int | None = None) -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # always one line
        self.record = record
        where = self.path if record is None else f"{self.path}: record {record}"
        super().__init__(f"{where}: {self.reason}")


class StoreError(ChemAccelError):
    """An HDF5 molecule store is missing, truncated, not ours, or of an unknown format version."""


class ModelFileError(ChemAccelError):
    """A model folder is missing, incomplete, unsafe (pickle) or of an unknown format."""


class ConfigError(ChemAccelError):
    """A configuration value is invalid or unknown."""


class DeviceError(ChemAccelError):
    """A requested device (e.g. ``cuda:1``) is not available."""


class NotAvailableError(ChemAccelError):
    """A feature that has not been built yet, or needs an optional dependency that is missing."""


class Cancelled(ChemAccelError):
    """Raised inside long work when the reporter asked to stop (engines usually return instead)."""
