"""The exceptions d2mlib raises on bad input: one line that names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class D2MError(Exception):
    """Base class of every error d2mlib raises on purpose."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class AudioError(D2MError):
    """An audio file is missing, unreadable, empty, silent or otherwise unusable."""


class DataError(D2MError):
    """A dataset file is missing, malformed, truncated or holds bad values."""


class ConfigError(D2MError):
    """A configuration value is unknown, of the wrong type or out of range."""


class CheckpointError(D2MError):
    """A checkpoint or run directory is missing, incomplete or incompatible."""


class TrainingError(D2MError):
    """Training cannot go on (a non-finite loss, a diverged run)."""


class MetricError(D2MError):
    """A metric was given inputs it cannot score (empty, mismatched, non-finite)."""
