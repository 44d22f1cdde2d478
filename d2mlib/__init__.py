"""d2mlib: the package behind the Dancing to Music book (Lee et al., NeurIPS 2019)."""

from d2mlib.errors import (
    AudioError,
    CheckpointError,
    ConfigError,
    D2MError,
    DataError,
    MetricError,
    TrainingError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "CheckpointError",
    "ConfigError",
    "D2MError",
    "DataError",
    "MetricError",
    "TrainingError",
    "__version__",
]
