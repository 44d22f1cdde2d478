"""Reading the ballroom dataset's dance folders, in the original or the packed form."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from d2mlib.errors import AudioError, DataError

SOURCE_FPS = 25
SOURCE_POINTS = 23
STYLE_OF_LETTER = {"C": "chacha", "R": "rumba", "W": "waltz", "T": "tango"}
STYLES: tuple[str, ...] = ("chacha", "rumba", "waltz", "tango")  # label order; tango last
_NAME_RE = re.compile(r"^DANCE_([A-Z])_(\d+)$")


def style_of(folder: str | Path) -> str | None:
    """The style of a dance folder from its name (DANCE_<letter>_<n>), None if not one."""
    match = _NAME_RE.match(Path(folder).name)
    return None if match is None else STYLE_OF_LETTER.get(match.group(1))


@dataclass
class SourceClip:
    """One dance as read from its folder: 3-D points at 25 fps, its song and where it starts."""

    folder: Path
    name: str
    style: str
    form: str  # "original" or "packed"
    points: np.ndarray = field(repr=False)  # (T, 23, 3) cm, absolute (skeleton + centre)
    centre: np.ndarray = field(repr=False)  # (T, 3) cm
    start_position: int = 0  # first dance frame in the audio file, 25 fps frames
    end_position: int = 0
    audio_path: Path = Path()


# ----------------------------------------------------------------------------- reading


def find_clips(src: str | Path) -> list[Path]:
    """The dance folders (DANCE_<C|R|T|W>_<n>) under `src`, sorted; DataError if none."""
    src = Path(src)
    if not src.is_dir():
        raise DataError("ballroom dataset folder does not exist", src)
    found = [p for p in src.iterdir() if p.is_dir() and style_of(p) is not None]
    if not found:
        raise DataError("holds no DANCE_<C|R|T|W>_<n> folders", src)
    return sorted(found, key=lambda p: (p.name.split("_")[1], int(p.name.split("_")[2])))


def _read_json(path: Path, opener: Any = open) -> Any:
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"unreadable or truncated JSON ({msg})", path) from exc


def _skeleton_file(folder: Path) -> tuple[Path, str]:
    for name, form in (("skeletons.json.gz", "packed"), ("skeletons.json", "original")):
        if (folder / name).is_file():
            return folder / name, form
    raise DataError("no skeletons.json.gz or skeletons.json", folder)


def _audio_file(folder: Path, form: str) -> Path:
    names = ("audio.ogg", "audio.mp3") if form == "packed" else ("audio.mp3", "audio.ogg")
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise AudioError(f"no {names[0]} (the dance's song)", folder / names[0])


def _positions(path: Path, form: str) -> tuple[int, int]:
    cfg = _read_json(path) if path.is_file() else None
    if cfg is None:
        raise DataError("config.json is missing", path)
    if not isinstance(cfg, dict):
        raise DataError("is not a JSON object", path)
    try:
        start, end = int(cfg["start_position"]), int(cfg["end_position"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"needs integer start_position and end_position ({exc})", path) from exc
    if start < 0 or end <= start:
        raise DataError(f"start_position {start} / end_position {end} out of order", path)
    if form == "packed" and "cut_offset_frames" not in cfg:
        raise DataError("packed form (skeletons.json.gz) needs cut_offset_frames", path)
    return start, end


def read_clip(folder: str | Path) -> SourceClip:
    """Read one dance folder (either form); DataError/AudioError naming the bad file."""
    folder = Path(folder)
    style = style_of(folder)
    if style is None:
        raise DataError("folder name is not DANCE_<C|R|T|W>_<n>", folder)
    path, form = _skeleton_file(folder)
    doc = _read_json(path, gzip.open if path.suffix == ".gz" else open)
    if not isinstance(doc, dict) or "skeletons" not in doc or "center" not in doc:
        raise DataError("needs the keys 'skeletons' and 'center'", path)
    try:
        points = np.asarray(doc["skeletons"], dtype=np.float64)
        centre = np.asarray(doc["center"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"skeletons/center are not numeric arrays ({exc})", path) from exc
    if points.ndim != 3 or points.shape[1:] != (SOURCE_POINTS, 3) or len(points) < 2:
        raise DataError(f"skeletons have shape {points.shape}, expected (T, 23, 3)", path)
    if centre.shape != (len(points), 3):
        raise DataError(f"center has shape {centre.shape}, expected ({len(points)}, 3)", path)
    if "length" in doc and int(doc["length"]) != len(points):
        raise DataError(f"length {doc['length']} but {len(points)} skeletons", path)
    if not (np.all(np.isfinite(points)) and np.all(np.isfinite(centre))):
        raise DataError("skeletons or center hold NaN or infinite values", path)
    start, end = _positions(folder / "config.json", form)
    return SourceClip(
        folder=folder,
        name=folder.name,
        style=style,
        form=form,
        points=points + centre[:, None, :],
        centre=centre,
        start_position=start,
        end_position=end,
        audio_path=_audio_file(folder, form),
    )
