"""Videos and clips: drawing a video's traits, rendering it, and cutting it into clips.

A *video* is one dancer dancing to one piece of music; it is cut into consecutive *clips* of
`units_per_clip * 32` frames at 15 fps, with `frames * 1470` audio samples at 22050 Hz, so
that audio and dance cover exactly the same time. Video `v` of style `s` comes from
``SeedSequence([seed, s, v, salt])``, so a clip does not depend on how clips are batched.

Ambiguity is per clip: a fraction `ambiguity` of the clips (spread evenly over the videos,
so that every split holds about the same share) borrows one or two of the traits in
`borrowable` from one other style, for the length of that clip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from d2mlib.errors import ConfigError
from d2mlib.synth.body import draw_dancer
from d2mlib.synth.config import (
    FPS,
    HOP,
    SAMPLE_RATE,
    SECTIONS,
    STYLES,
    TEMPO_RANGES,
    TRAITS,
    WORLD_VERSION,
    SynthConfig,
    check_style,
)
from d2mlib.synth.dance import Dance, render_dance
from d2mlib.synth.music import Run, Timeline, build_timeline, render_run
from d2mlib.synth.traits import (
    NOTE_NAMES,
    draw_borrowing,
    instrument_traits,
    rhythm_traits,
    tonal_traits,
)

_SALT_VIDEO = 0x5D2
_SALT_CLIP = 0x5D3


@dataclass(eq=False)
class Clip:
    """One synthetic clip: dance poses, its music, the music's beats and per-frame truth."""

    style: str
    video: str
    clip: str
    poses: np.ndarray = field(repr=False)  # (T, 14, 2) float32 pixels on the 256 x 500 canvas
    wav: np.ndarray = field(repr=False)  # (T * 1470,) float32 at 22050 Hz
    beat_times: np.ndarray = field(repr=False)  # seconds from the clip's start
    tempo: float  # BPM
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        """Number of pose frames T."""
        return int(self.poses.shape[0])

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / FPS

    @property
    def beat_frames(self) -> np.ndarray:
        """Beat times as (fractional) pose-frame positions."""
        return np.asarray(self.beat_times) * FPS

    @property
    def energy(self) -> np.ndarray:
        """The music's energy (0..1) per frame: ground truth of its bar's section."""
        return np.asarray(self.meta["energy"], dtype=np.float64)

    @property
    def sections(self) -> list[str]:
        """The music's section ("break", "verse", "chorus") per frame."""
        return list(self.meta["section"])


@dataclass
class _ClipTraits:
    """The musical traits of one clip (its own style's unless borrowed)."""

    tempo: float
    rhythm: dict[str, Any]
    instruments: dict[str, Any]
    borrowed: dict[str, str]
    regime: int  # clips with the same regime share rhythm and instruments


def _draw_clip_traits(
    style: str,
    n_clips: int,
    rng: np.random.Generator,
    borrowing: list[dict[str, str]],
    tempo: float | None,
) -> list[_ClipTraits]:
    """Each clip's tempo, rhythm and instruments: the video's own, or a donor's where borrowed."""
    lo, hi = TEMPO_RANGES[style]
    own_tempo = float(rng.uniform(lo, hi)) if tempo is None else float(tempo)
    own_rhythm, own_instruments = rhythm_traits(style, rng), instrument_traits(style, rng)
    out = []
    for c in range(n_clips):
        b = borrowing[c]
        clip_tempo, rhythm, instruments, regime = own_tempo, own_rhythm, own_instruments, 0
        if "tempo" in b and tempo is None:
            clip_tempo = float(rng.uniform(*TEMPO_RANGES[b["tempo"]]))
        if "rhythm" in b:
            rhythm, regime = rhythm_traits(b["rhythm"], rng), c + 1
        if "instruments" in b:
            instruments, regime = instrument_traits(b["instruments"], rng), c + 1
        out.append(_ClipTraits(clip_tempo, rhythm, instruments, dict(b), regime))
    return out


def _borrowing(
    style: str,
    n_clips: int,
    n_borrow: int | None,
    ambiguity: float,
    borrowable: tuple[str, ...],
    borrow: Mapping[str, str] | None,
    rng: np.random.Generator,
) -> list[dict[str, str]]:
    """Which clips borrow which traits from which style."""
    if borrow is not None:
        for trait, donor in borrow.items():
            if trait not in TRAITS or donor not in STYLES:
                raise ConfigError(f"cannot borrow {trait!r} from {donor!r}; traits are {TRAITS}")
        return [dict(borrow) for _ in range(n_clips)]
    if n_borrow is None:  # a lone clip: borrows with probability `ambiguity`
        n_borrow = int(np.sum(rng.random(n_clips) < ambiguity))
    chosen = set(rng.permutation(n_clips)[:n_borrow].tolist())
    return [draw_borrowing(style, borrowable, rng) if c in chosen else {} for c in range(n_clips)]


def _runs(traits: list[_ClipTraits]) -> list[tuple[int, int]]:
    """(first clip, end clip) of each run of clips with the same rhythm and instruments."""
    runs, start = [], 0
    for c in range(1, len(traits) + 1):
        if c == len(traits) or traits[c].regime != traits[start].regime:
            runs.append((start, c))
            start = c
    return runs


def _render_video(
    style: str,
    video: str,
    seed_words: list[int],
    n_clips: int,
    frames_per_clip: int,
    jitter_px: float,
    *,
    n_borrow: int | None = None,
    ambiguity: float = 0.0,
    borrowable: tuple[str, ...] = TRAITS,
    tempo: float | None = None,
    borrow: Mapping[str, str] | None = None,
) -> list[Clip]:
    """Render one video (music and dance over all its clips) and cut it into clips."""
    plan_ss, music_ss, dance_ss = np.random.SeedSequence(seed_words).spawn(3)
    rng = np.random.default_rng(plan_ss)
    if tempo is not None and not 30.0 <= float(tempo) <= 240.0:
        raise ConfigError(f"tempo must lie in [30, 240] BPM, got {tempo!r}")
    borrowing = _borrowing(style, n_clips, n_borrow, ambiguity, borrowable, borrow, rng)
    traits = _draw_clip_traits(style, n_clips, rng, borrowing, tempo)
    tonal = tonal_traits(style, rng)
    mix = {"gain_db": float(rng.uniform(-9.0, 0.0)), "noise": float(rng.uniform(0.003, 0.02))}
    phase = float(rng.uniform(0.0, 60.0 / traits[0].tempo))
    clip_seconds = frames_per_clip / FPS
    tl = build_timeline(
        [c.tempo for c in traits],
        [int(c.rhythm["meter"]) for c in traits],
        clip_seconds,
        phase,
        rng,
    )
    music_rng = np.random.default_rng(music_ss)
    cache: dict[tuple, np.ndarray] = {}
    samples = frames_per_clip * HOP
    wav = np.concatenate(
        [
            render_run(
                tl,
                Run(a * clip_seconds, b * clip_seconds, traits[a].rhythm, traits[a].instruments),
                tonal,
                mix,
                music_rng,
                cache,
            )[: (b - a) * samples]
            for a, b in _runs(traits)
        ]
    )
    dance_rng = np.random.default_rng(dance_ss)
    dancer = draw_dancer(dance_rng)
    tempo_of = np.array([traits[c].tempo for c in tl.beat_clip])
    dance = render_dance(
        style, tl, tempo_of, dancer, n_clips * frames_per_clip, dance_rng, jitter_px
    )
    video_info = {
        "style": style,
        "video": video,
        "key": f"{NOTE_NAMES[tonal['tonic']]} {tonal['mode']}",
        "progression": list(tonal["progression"]),
        "dancer": {
            k: round(float(dancer[k]), 4)
            for k in ("height", "body_size", "camera_scale", "cx", "ground", "amplitude")
        },
        "beat_phase": phase,
        "gain_db": mix["gain_db"],
    }
    return [
        _cut_clip(c, video_info, traits[c], tl, dance, wav, frames_per_clip) for c in range(n_clips)
    ]


def _cut_clip(
    c: int,
    info: dict[str, Any],
    traits: _ClipTraits,
    tl: Timeline,
    dance: Dance,
    wav: np.ndarray,
    frames: int,
) -> Clip:
    """Clip `c` of a rendered video, with its metadata and per-frame ground truth."""
    style = info["style"]
    seconds = frames / FPS
    t0, t1 = c * seconds, (c + 1) * seconds
    inside = (tl.beats >= t0 - 1e-9) & (tl.beats < t1 - 1e-9)
    beats = tl.beats[inside] - t0
    downbeats = tl.beats[inside & (tl.beat_pos == 0)] - t0
    t = t0 + np.arange(frames) / FPS
    bar = tl.bar_at(t)
    rhythm = traits.rhythm
    meta = dict(info)
    meta.update(
        clip=str(c),
        tempo=traits.tempo,
        meter=int(rhythm["meter"]),
        swing=float(rhythm["swing"]),
        rhythm_variant=rhythm["variant"],
        borrowed=dict(traits.borrowed),
        traits_from={t_: traits.borrowed.get(t_, style) for t_ in TRAITS},
        movements=[name for s, e, name in dance.segments if e > t0 and s < t1],
        start_seconds=t0,
        reverb_wet=float(traits.instruments["reverb"]["wet"]),
        fps=FPS,
        sample_rate=SAMPLE_RATE,
        world_version=WORLD_VERSION,
        downbeat_times=[round(float(x), 6) for x in downbeats],
        energy=[round(float(x), 4) for x in tl.bar_energy[bar]],
        section=[SECTIONS[int(s)] for s in tl.bar_section[bar]],
        amplitude=[round(float(x), 4) for x in dance.amplitude[c * frames : (c + 1) * frames]],
    )
    return Clip(
        style=style,
        video=info["video"],
        clip=str(c),
        poses=np.ascontiguousarray(dance.poses[c * frames : (c + 1) * frames]),
        wav=np.ascontiguousarray(wav[c * frames * HOP : (c + 1) * frames * HOP]),
        beat_times=beats.astype(np.float64),
        tempo=float(traits.tempo),
        meta=meta,
    )


def video_name(style: str, index: int) -> str:
    """The name of video `index` of a style, e.g. "ballet_v0007"."""
    return f"{check_style(style)}_v{index:04d}"


def _quota(first_clip: int, n_clips: int, ambiguity: float) -> int:
    """Borrowing clips in clips [first, first + n) of a style: the fraction, spread evenly."""
    return math.floor((first_clip + n_clips) * ambiguity + 0.5) - math.floor(
        first_clip * ambiguity + 0.5
    )


def generate_clips(config: SynthConfig) -> Iterator[list[Clip]]:
    """Yield the world's clips, style by style, in batches of `videos_per_batch` whole videos.

    Deterministic from `config.seed`; a clip does not depend on the batching.
    """
    batch: list[Clip] = []
    n_videos = 0
    for s, style in enumerate(STYLES):
        for v in range(config.videos_per_style):
            first = v * config.clips_per_video
            n_clips = min(config.clips_per_video, config.clips_per_style - first)
            batch += _render_video(
                style,
                video_name(style, v),
                [int(config.seed), s, v, _SALT_VIDEO],
                n_clips,
                config.frames_per_clip,
                float(config.jitter_px),
                n_borrow=_quota(first, n_clips, float(config.ambiguity)),
                borrowable=tuple(config.borrowable),
            )
            n_videos += 1
            if n_videos % config.videos_per_batch == 0:
                yield batch
                batch = []
    if batch:
        yield batch


def style_clip(
    style: str,
    seed: int,
    seconds: float = 128 / FPS,
    tempo: float | None = None,
    *,
    ambiguity: float = 0.0,
    borrow: Mapping[str, str] | None = None,
    jitter_px: float = 0.2,
) -> Clip:
    """One clip of any length: a video of one clip named "{style}_s{seed}".

    `tempo` fixes the BPM (else drawn from the style's range); `borrow` maps traits
    ("tempo", "rhythm", "instruments") to the style they come from (else drawn with
    probability `ambiguity`). The frame count is round(seconds * 15), at least 2.
    """
    check_style(style)
    frames = max(2, int(round(float(seconds) * FPS)))
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return _render_video(
        style,
        f"{style}_s{int(seed)}",
        [int(seed), STYLES.index(style), _SALT_CLIP],
        1,
        frames,
        float(jitter_px),
        ambiguity=float(ambiguity),
        tempo=tempo,
        borrow=borrow,
    )[0]
