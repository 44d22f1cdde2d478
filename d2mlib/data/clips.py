"""One clip of a dataset as the book shows it: its poses, waveform and true beats (`clip_material`),
or a window of it (`window_material`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from d2mlib import audio
from d2mlib.audio import HOP
from d2mlib.errors import DataError


def clip_material(
    index: Any, style: str, clip: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, str]:
    """Clip `clip` of `style` in a dataset index: poses (T, 14, 2), waveform or None, beats (s), name.

    The dance is the clip's units in order; the waveform is the clip's .wav when the dataset
    has one (the synthetic world does); the beats are meta.json's true beats, else tracked
    from the waveform, else none.
    """

    clips = index.clips[index.clips["style"] == style].reset_index(drop=True)
    if not 0 <= int(clip) < len(clips):
        raise DataError(f"no clip {clip} of style {style!r}: it has {len(clips)} clips")
    row = clips.iloc[int(clip)]
    units = index.units
    mask = (
        (units["style"] == style)
        & (units["video"] == row["video"])
        & (units["clip"] == row["clip"])
    )
    rows = units[mask].sort_values("k")
    if rows.empty:
        raise DataError(f"clip {row['video']}/{row['clip']} has no units", index.data_dir)
    poses = np.concatenate([np.load(p) for p in rows["path"]]).astype(np.float32)
    feature_path = Path(row["audio"])
    wav = feature_path.with_name(feature_path.name.replace("_fps15.npy", ".wav"))
    y = audio.load_audio(wav) if wav.is_file() else None
    meta = feature_path.parent.parent / "meta.json"
    if meta.is_file():
        try:
            beats = np.asarray(json.loads(meta.read_text("utf-8"))["beat_times"], np.float64)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"unreadable beat_times ({exc})", meta) from exc
    elif y is not None:
        beats = np.asarray(audio.beats(y).times, np.float64)
    else:
        beats = np.zeros(0, np.float64)
    video = str(row["video"])  # the synthetic world's video ids already name the style
    who = video if style in video else f"{style} {video}"
    return poses, y, beats, f"{who}, clip {row['clip']}"


def window_material(
    index: Any, clip_row: int, start: int, frames: int
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Frames [start, start + frames) of row `clip_row` of the clips table: poses, waveform, name."""

    clips = index.clips
    style = str(clips["style"].iloc[int(clip_row)])
    position = int((clips["style"].iloc[: int(clip_row)] == style).sum())
    poses, y, _, name = clip_material(index, style, position)
    stop = int(start) + int(frames)
    wav = None if y is None else y[int(start) * HOP : stop * HOP]
    return poses[int(start) : stop], wav, f"{name}, {start / 15:.1f}-{stop / 15:.1f} s"
