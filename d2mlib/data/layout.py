"""The on-disk layout of a dataset: constants, list-file paths, the completion marker and the
dataset's identity (what a training run records to name the data it saw).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from d2mlib.config import STYLES
from d2mlib.errors import DataError
from d2mlib.synth.config import PRESET_NAMES as SYNTH_PRESETS
from d2mlib.synth.config import WORLD_VERSION

STYLE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STYLES)}
AUDIO_DIM = 28
SEQ_LENGTHS: tuple[int, ...] = (3, 4)
SEQ_UNITS = 3  # units per composition sequence in timed batches and the naive loader
SPLITS: tuple[str, ...] = ("train", "val", "test")
LIST_DIR = "unitList"
STATS_DIR = "stats"
STATS_FILES: tuple[str, ...] = (
    "all_onbeat_mean",
    "all_onbeat_std",
    "all_aud_mean",
    "all_aud_std",
)
MARKER = ".d2m_complete.json"  # written last by write_dataset: the dataset is complete
WRITING = ".d2m_writing.json"  # present while write_dataset runs
STORE_NAME = ".d2m_store"
STYLES_FILE = "styles.txt"  # a dataset of other styles lists their names here, in label order
STORE_VERSION = 1
JITTER_PIXELS = (50.0, 20.0)  # the original's random translation: x +-50 px, y +-20 px
_SAMPLE_RATE = 22050  # d2mlib.audio.SAMPLE_RATE, repeated so reading needs no librosa import


def default_data_dir(preset: str = "book") -> Path:
    """The data directory: $D2M_DATA if set, else ./data/<preset>."""
    env = os.environ.get("D2M_DATA")
    if env:
        return Path(env)
    return Path("data") / preset


def _strip_data_prefix(line: str) -> str:
    """Drop the original lists' leading "data/" (or "./data/") from a path."""
    for prefix in ("./data/", "data/"):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return line


def dataset_styles(data_dir: str | Path) -> tuple[str, ...]:
    """The style names of a dataset in label order: its styles.txt (one a line), else STYLES."""
    path = Path(data_dir) / STYLES_FILE
    if not path.is_file():
        return STYLES
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"unreadable style list ({exc})", path) from exc
    names = tuple(n for n in names if n)
    if not names or len(set(names)) != len(names) or any("/" in n for n in names):
        raise DataError(f"style list must name distinct styles, got {list(names)}", path)
    return names


def list_file(data_dir: str | Path, style: str, kind: str) -> Path:
    """Path of a unit list: kind is "unit", "unitseq3" or "unitseq4"."""
    return Path(data_dir) / LIST_DIR / f"{style}_{kind}.txt"


def audio_path(data_dir: str | Path, style: str, video: str, clip: str) -> Path:
    """Path of a clip's audio features (frames, 28) at 15 fps."""
    return Path(data_dir) / style / video / clip / "aud" / f"c{clip}_fps15.npy"


def _read_marker(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable dataset marker ({exc})", path) from exc
    if not isinstance(data, dict):
        raise DataError("dataset marker is not a JSON object", path)
    return data


def dataset_complete(data_dir: str | Path) -> dict[str, Any] | None:
    """The marker (preset, seed, world) of a complete dataset of the current world, or None.

    None also when an older version of the synthetic world wrote it (no or another "world");
    a dataset that no synthetic preset wrote (an import) carries no world version.
    """
    marker = _read_marker(Path(data_dir) / MARKER)
    synthetic = marker is not None and marker.get("preset") in SYNTH_PRESETS
    if synthetic and marker.get("world", 1) != WORLD_VERSION:
        return None
    return marker


def data_identity(data_dir: str | Path) -> Any:
    """What identifies a dataset: the synthetic marker (preset, seed, world) or the resolved path."""

    marker = dataset_complete(data_dir)
    if marker is not None:
        return {
            "preset": marker.get("preset"),
            "seed": marker.get("seed"),
            "world": marker.get("world", 1),
        }
    return str(Path(data_dir).resolve())
