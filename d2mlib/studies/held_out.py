"""Held-out music to compose to: the first clips of each style in a split the models never saw.

Serves book/training.md (dances composed to held-out music) and book/initial_pose.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from d2mlib.config import STYLES
from d2mlib.data.clips import clip_material
from d2mlib.errors import DataError
from d2mlib.generate import Music, load_music


def split_clip_numbers(index: Any, style: str, split: str = "test") -> np.ndarray:
    """Numbers (within `style`, as widgets.clip_material counts them) of the clips in `split`."""
    clips = index.clips[index.clips["style"] == style].reset_index(drop=True)
    numbers = np.flatnonzero(clips["split"].to_numpy() == split)
    if numbers.size == 0:
        raise DataError(f"no {style} clip in the {split} split", getattr(index, "data_dir", None))
    return numbers


@dataclass(frozen=True, eq=False)
class HeldOutClip:
    """A clip of a held-out split: its real dance, its music and the music's true beats."""

    style: str
    name: str
    poses: np.ndarray = field(repr=False)  # (T, 14, 2) pixels, the real dance
    wav: np.ndarray | None = field(repr=False)  # mono waveform at 22050 Hz (None: no audio)
    beat_times: np.ndarray = field(repr=False)  # seconds

    def music(self) -> Music:
        """The clip's music (features and its true beats), ready for DanceGenerator.compose."""
        if self.wav is None:
            raise DataError(f"clip {self.name} has no audio file")
        return load_music(self.wav, self.beat_times)


def held_out_clips(
    index: Any, per_style: int, split: str = "test", styles: tuple[str, ...] | None = None
) -> list[HeldOutClip]:
    """The first `per_style` clips of each style in `split` (data.read_dataset's index)."""

    out = []
    for style in styles or STYLES:
        for number in split_clip_numbers(index, style, split)[: int(per_style)]:
            poses, wav, beats, name = clip_material(index, style, int(number))
            out.append(HeldOutClip(style, name, poses, wav, beats))
    return out
