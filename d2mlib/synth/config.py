"""The synthetic world's dials: sizes, seed, ambiguity, and the constants every part shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from d2mlib import skeleton
from d2mlib.config import STYLES
from d2mlib.errors import ConfigError

WORLD_VERSION = 2  # bump when the same seed would give different bytes
SAMPLE_RATE = 22050
HOP = 1470  # samples per pose frame: 22050 / 1470 = 15 fps
FPS = skeleton.FPS
TRAITS: tuple[str, ...] = ("tempo", "rhythm", "instruments")
# overlapping ranges: hip-hop's lies inside ballet's, and zumba's reggaeton-speed end (92-105)
# overlaps both; tempo still separates zumba's faster half (see the card's tempo rows)
TEMPO_RANGES: dict[str, tuple[float, float]] = {
    "ballet": (60.0, 120.0),
    "zumba": (92.0, 136.0),
    "hiphop": (80.0, 105.0),
}
# musical sections, their energy (0..1): the music's loudness and density, the dance's
# amplitude and speed, and which family of movements is danced all follow it
SECTIONS: tuple[str, ...] = ("break", "verse", "chorus")
SECTION_ENERGY: dict[str, float] = {"break": 0.3, "verse": 0.6, "chorus": 1.0}


def check_style(style: str) -> str:
    """`style` if it is one of STYLES, else ConfigError."""
    if style not in STYLES:
        raise ConfigError(f"unknown style {style!r}; choose one of {STYLES}")
    return style


@dataclass(frozen=True)
class SynthConfig:
    """How many clips of which shape the synthetic world makes, from which seed, how ambiguous."""

    clips_per_style: int = 600
    clips_per_video: int = 5
    units_per_clip: int = 4
    ambiguity: float = 0.25  # fraction of clips whose music borrows another style's traits
    borrowable: tuple[str, ...] = TRAITS  # the traits a borrowing clip may take (1 or 2 of them)
    seed: int = 0
    videos_per_batch: int = 8  # batching only; clips do not depend on it
    jitter_px: float = 0.2  # per-frame keypoint noise (pixels, std)

    def __post_init__(self) -> None:
        for name in ("clips_per_style", "clips_per_video", "units_per_clip", "videos_per_batch"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"SynthConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ConfigError(f"SynthConfig.seed must be a non-negative integer, got {self.seed!r}")
        if not 0.0 <= float(self.ambiguity) <= 1.0:
            raise ConfigError(f"SynthConfig.ambiguity must lie in [0, 1], got {self.ambiguity!r}")
        if not 0.0 <= float(self.jitter_px) <= 20.0:
            raise ConfigError(f"SynthConfig.jitter_px must lie in [0, 20], got {self.jitter_px!r}")
        traits = tuple(self.borrowable)
        if not traits or len(set(traits)) != len(traits) or not set(traits) <= set(TRAITS):
            raise ConfigError(
                f"SynthConfig.borrowable must be distinct traits out of {TRAITS}, got {traits!r}"
            )

    @property
    def frames_per_clip(self) -> int:
        """Pose frames per clip (units_per_clip * 32)."""
        return self.units_per_clip * skeleton.UNIT_FRAMES

    @property
    def samples_per_clip(self) -> int:
        """Audio samples per clip (frames * 1470)."""
        return self.frames_per_clip * HOP

    @property
    def videos_per_style(self) -> int:
        """Videos per style (the last one may hold fewer clips)."""
        return -(-self.clips_per_style // self.clips_per_video)


_PRESETS: dict[str, SynthConfig] = {
    "smoke": SynthConfig(clips_per_style=12, clips_per_video=3, ambiguity=0.25),
    "book": SynthConfig(clips_per_style=600, clips_per_video=5, ambiguity=0.25),
    "large": SynthConfig(clips_per_style=1800, clips_per_video=5, ambiguity=0.25),
    # the ambiguity dial turned up: half the clips borrow (the style chapter's second world)
    "smoke-amb50": SynthConfig(clips_per_style=12, clips_per_video=3, ambiguity=0.5),
    "book-amb50": SynthConfig(clips_per_style=600, clips_per_video=5, ambiguity=0.5),
}


PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS)


def synth_preset(name: str) -> SynthConfig:
    """The named preset: "smoke" (36 clips, seconds), "book" (600 clips a style), "large" (3x);
    "smoke-amb50" and "book-amb50": smoke and book with half the clips borrowing."""
    if name not in _PRESETS:
        raise ConfigError(f"unknown synth preset {name!r}; choose one of {sorted(_PRESETS)}")
    return _PRESETS[name]
