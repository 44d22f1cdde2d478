"""The synthetic dance world (DESIGN.md section 4): music, dance and ground-truth beats by style.

Three styles, each with its own music and its own movement vocabulary. A *video* is one
dancer dancing to one piece of music; it is cut into consecutive *clips* of
`units_per_clip * 32` frames at 15 fps, with `frames * 1470` audio samples at 22050 Hz, so
that audio and dance cover exactly the same time. Everything is drawn from seeds:
video `v` of style `s` comes from ``SeedSequence([seed, style index, v])``, so a clip does
not depend on how the clips are batched.

Music: tempo from overlapping style ranges, style-typical meter, rhythm (drum patterns,
swing, arpeggio grid) and instrumentation (timbres and levels), a random key and chord
progression, noise, gain and a decaying-noise reverb. A fraction `ambiguity` of the videos
borrows one or more of {tempo, rhythm, instruments} from another style (recorded in `meta`).

Dance: a 14-joint skeleton posed by forward kinematics from 15 parameters (root offset,
lean, head, arm and leg angles, knee bends, leg lifts, shoulder twist). Style-specific
movements give keyframe poses on musical beats (every beat, or every other beat for some
ballet movements); between keyframes the pose moves with a Beta-shaped easing whose
velocity is zero at the keyframes, so the kinematic beats (minima of joint speed) fall on
the music's beats.

Speed: a video is rendered in one go. Each instrument's notes and hits become one-shot
templates, rendered once per video for each distinct pitch and length, then placed by
vectorised gathers in cache-sized chunks (no per-sample Python loop); the reverb is an
FFT convolution; the dance is vectorised over frames. The `book` preset (1800 clips of
8.5 s) takes about 15 s of CPU on one core.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal, special

from d2mlib import skeleton
from d2mlib.errors import ConfigError

STYLES: tuple[str, ...] = ("ballet", "zumba", "hiphop")  # same value as d2mlib.data.STYLES
SAMPLE_RATE = 22050
HOP = 1470  # samples per pose frame: 22050 / 1470 = 15 fps
FPS = skeleton.FPS
TRAITS: tuple[str, ...] = ("tempo", "rhythm", "instruments")
TEMPO_RANGES: dict[str, tuple[float, float]] = {
    "ballet": (60.0, 120.0),
    "zumba": (118.0, 140.0),
    "hiphop": (80.0, 105.0),
}
_SALT_VIDEO = 0x5D2
_SALT_CLIP = 0x5D3


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SynthConfig:
    """How many clips of which shape the synthetic world makes, and from which seed."""

    clips_per_style: int = 600
    clips_per_video: int = 5
    units_per_clip: int = 4
    ambiguity: float = 0.25  # fraction of videos that borrow another style's musical traits
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
}


def synth_preset(name: str) -> SynthConfig:
    """The named preset: "smoke" (36 clips, seconds), "book" (600 clips a style), "large" (3x)."""
    if name not in _PRESETS:
        raise ConfigError(f"unknown synth preset {name!r}; choose one of {sorted(_PRESETS)}")
    return _PRESETS[name]


@dataclass(eq=False)
class Clip:
    """One synthetic clip: dance poses, its music and the music's beats."""

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


# ----------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    """Everything drawn for one video before rendering."""

    style: str
    video: str
    n_frames: int
    tempo: float
    phase: float  # seconds of the first beat at or after t = 0
    rhythm: dict[str, Any]
    instruments: dict[str, Any]
    tonal: dict[str, Any]
    mix: dict[str, float]
    borrowed: dict[str, str]
    traits_from: dict[str, str]

    @property
    def period(self) -> float:
        return 60.0 / self.tempo


def _draw_borrowing(style: str, ambiguity: float, rng: np.random.Generator) -> dict[str, str]:
    """Which traits this video borrows, and from which style (empty: none).

    A borrowing video takes one or two of the three traits (never all three, so that its
    music keeps something of its own style) from one other style.
    """
    u, donor_u, subset_u = rng.random(3)
    if u >= ambiguity:
        return {}
    donor = [s for s in STYLES if s != style][int(donor_u * 2)]
    masks = (1, 2, 4, 3, 5, 6)  # bit i set: TRAITS[i] is borrowed
    mask = masks[int(subset_u * len(masks))]
    return {t: donor for i, t in enumerate(TRAITS) if mask >> i & 1}


def _rhythm(style: str, rng: np.random.Generator) -> dict[str, Any]:
    """Meter, swing, arpeggio grid and drum patterns on a 16th-note grid (meter * 4 slots)."""
    if style == "ballet":
        meter = 3 if rng.random() < 0.55 else 4
        n = meter * 4
        beat = np.zeros(n)
        beat[::4] = 1.0
        kick = np.zeros(n)
        kick[0] = 1.0
        if meter == 4:
            kick[8] = 0.5
        stab = beat * 0.6
        stab[0] = 0.0
        pat = {
            "kick": kick,
            "snare": np.zeros(n),
            "hat": beat * 0.35,
            "openhat": np.zeros(n),
            "stab": stab,
            "bass": kick.copy(),
        }
        return {
            "meter": meter,
            "swing": 0.5,
            "arp_sub": int(rng.choice([2, 3])),
            "chord_bars": 1,
            "variant": "waltz" if meter == 3 else "march",
            "patterns": pat,
        }
    n = 16
    if style == "zumba":
        variant = "dembow" if rng.random() < 0.5 else "house"
        kick = np.tile([1.0, 0, 0, 0], 4)
        snare = np.zeros(n)
        if variant == "dembow":
            snare[[3, 6, 11, 14]] = 0.5
            snare[[4, 12]] = 1.0
        else:
            snare[[4, 12]] = 1.0
        hat = np.tile([0.6, 0.15, 0.0, 0.15], 4)
        openhat = np.tile([0.0, 0, 1.0, 0], 4)
        stab = np.zeros(n)
        stab[[3, 6, 11, 14] if variant == "dembow" else [2, 6, 10, 14]] = 0.6
        stab[[0, 8]] = 1.0
        bass = kick * 0.9
        pat = {"kick": kick, "snare": snare, "hat": hat, "openhat": openhat}
        pat.update({"stab": stab, "bass": bass})
        return {
            "meter": 4,
            "swing": 0.5,
            "arp_sub": 4,
            "chord_bars": 1,
            "variant": variant,
            "patterns": pat,
        }
    # hip-hop: boom-bap kick, snare on 2 and 4, swung hats, bass on the kicks
    variants = {"boombap": [0, 8, 10], "syncopated": [0, 7, 10], "halftime": [0, 3, 8, 11]}
    variant = list(variants)[int(rng.integers(len(variants)))]
    kick = np.zeros(n)
    kick[variants[variant]] = 0.75
    kick[[0, 8]] = 1.0
    snare = np.zeros(n)
    snare[[4, 12]] = 1.0
    if rng.random() < 0.5:
        snare[14] = 0.25
    hat = np.tile([0.6, 0.0, 0.45, 0.0], 4)
    if rng.random() < 0.4:
        hat[[13, 15]] = 0.3
    openhat = np.zeros(n)
    openhat[14] = 0.3
    stab = np.zeros(n)
    stab[[0, 10]] = 0.7
    pat = {"kick": kick, "snare": snare, "hat": hat, "openhat": openhat}
    pat.update({"stab": stab, "bass": kick.copy()})
    return {
        "meter": 4,
        "swing": float(rng.uniform(0.56, 0.66)),
        "arp_sub": 2,
        "chord_bars": 1,
        "variant": variant,
        "patterns": pat,
    }


def _instruments(style: str, rng: np.random.Generator) -> dict[str, Any]:
    """Levels (0 = absent) and timbres of the instruments."""

    def jit(x: float, rel: float = 0.2) -> float:
        return float(x * rng.uniform(1 - rel, 1 + rel))

    if style == "ballet":
        return {
            "levels": {
                "kick": jit(0.25),
                "snare": 0.0,
                "hat": 0.0,
                "openhat": 0.0,
                "stab": jit(0.22),
                "bass": jit(0.3),
                "arp": jit(0.5),
                "pad": jit(0.45),
            },
            "kick": {"f0": jit(110.0), "f1": jit(60.0), "dp": 0.06, "dk": jit(0.35), "click": 0.1},
            "bass_kind": "cello",
            "bright": jit(0.35),  # FM index of stabs and arps
            "pad_attack": jit(0.35),
            "arp_decay": jit(0.6),
            "stab_decay": jit(0.5),
            "reverb": {"seconds": jit(0.45, 0.15), "wet": jit(0.35, 0.2)},
            "attack": {"stab": 0.01, "arp": 0.004},
        }
    if style == "zumba":
        return {
            "levels": {
                "kick": jit(1.0),
                "snare": jit(0.45),
                "hat": jit(0.3),
                "openhat": jit(0.1),
                "stab": jit(0.4),
                "bass": jit(0.5),
                "arp": jit(0.18),
                "pad": jit(0.08),
            },
            "kick": {"f0": jit(160.0), "f1": jit(52.0), "dp": 0.03, "dk": jit(0.22), "click": 0.7},
            "bass_kind": "synth",
            "bright": jit(2.6),
            "pad_attack": 0.05,
            "arp_decay": jit(0.12),
            "stab_decay": jit(0.14),
            "reverb": {"seconds": jit(0.25, 0.15), "wet": jit(0.15, 0.2)},
            "attack": {"openhat": 0.06, "stab": 0.03, "bass": 0.01, "arp": 0.004},
        }
    return {
        "levels": {
            "kick": jit(1.0),
            "snare": jit(0.75),
            "hat": jit(0.28),
            "openhat": jit(0.12),
            "stab": jit(0.12),
            "bass": jit(0.85),
            "arp": 0.0,
            "pad": jit(0.2),
        },
        "kick": {"f0": jit(120.0), "f1": jit(45.0), "dp": 0.04, "dk": jit(0.3), "click": 0.35},
        "bass_kind": "808",
        "bright": jit(0.8),
        "pad_attack": jit(0.08),
        "arp_decay": jit(0.2),
        "stab_decay": jit(0.3),
        "reverb": {"seconds": jit(0.3, 0.15), "wet": jit(0.12, 0.2)},
        "attack": {"openhat": 0.01},
    }


_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)),
}
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _tonal(style: str, rng: np.random.Generator) -> dict[str, Any]:
    p_minor = {"ballet": 0.35, "zumba": 0.45, "hiphop": 0.7}[style]
    mode = "minor" if rng.random() < p_minor else "major"
    progs = _PROGRESSIONS[mode]
    return {
        "tonic": int(rng.integers(12)),
        "mode": mode,
        "progression": [int(d) for d in progs[int(rng.integers(len(progs)))]],
    }


def _plan_video(
    style: str,
    video: str,
    n_frames: int,
    rng: np.random.Generator,
    ambiguity: float,
    tempo: float | None = None,
    borrow: Mapping[str, str] | None = None,
) -> _Plan:
    """Draw a video's musical traits (the dance is drawn later from its own stream)."""
    drawn = _draw_borrowing(style, ambiguity, rng)
    borrowed = dict(drawn if borrow is None else borrow)
    for trait, donor in borrowed.items():
        if trait not in TRAITS or donor not in STYLES:
            raise ConfigError(f"cannot borrow {trait!r} from {donor!r}; traits are {TRAITS}")
    src = {t: borrowed.get(t, style) for t in TRAITS}
    lo, hi = TEMPO_RANGES[src["tempo"]]
    drawn_tempo = float(rng.uniform(lo, hi))
    if tempo is not None:
        if not 30.0 <= float(tempo) <= 240.0:
            raise ConfigError(f"tempo must lie in [30, 240] BPM, got {tempo!r}")
        drawn_tempo = float(tempo)
    rhythm = _rhythm(src["rhythm"], rng)
    instruments = _instruments(src["instruments"], rng)
    tonal = _tonal(style, rng)
    phase = float(rng.uniform(0.0, 60.0 / drawn_tempo))
    mix = {
        "gain_db": float(rng.uniform(-9.0, 0.0)),
        "noise": float(rng.uniform(0.003, 0.02)),
    }
    return _Plan(
        style=style,
        video=video,
        n_frames=n_frames,
        tempo=drawn_tempo,
        phase=phase,
        rhythm=rhythm,
        instruments=instruments,
        tonal=tonal,
        mix=mix,
        borrowed={t: d for t, d in borrowed.items()},
        traits_from=src,
    )


# ----------------------------------------------------------------------------- music


def _swing_warp(frac: np.ndarray, swing: float) -> np.ndarray:
    """Map straight beat fractions to swung ones (the off-beat 8th moves from 0.5 to `swing`)."""
    return np.where(frac < 0.5, frac * 2 * swing, swing + (frac - 0.5) * 2 * (1 - swing))


def _grid(plan: _Plan, sub: int, t_first: float, t_last: float) -> tuple[np.ndarray, np.ndarray]:
    """Slots of `sub` per beat between two times: (slot index g, onset time s), swing applied."""
    period = plan.period
    b0 = math.floor((t_first - plan.phase) / period)
    b1 = math.ceil((t_last - plan.phase) / period) + 1
    g = np.arange(b0 * sub, b1 * sub)
    beat = np.floor_divide(g, sub)
    frac = (g - beat * sub) / sub
    swing = float(plan.rhythm["swing"])
    if sub in (2, 4) and swing != 0.5:
        frac = _swing_warp(frac, swing)
    return g, plan.phase + (beat + frac) * period


def _midi_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def _chords(plan: _Plan, bars: np.ndarray) -> np.ndarray:
    """MIDI notes (len(bars), 3) of the triad on each bar (root position, around middle C)."""
    tonal = plan.tonal
    scale = np.array(_SCALES[tonal["mode"]])
    prog = np.array(tonal["progression"])
    degree = prog[np.floor_divide(bars, plan.rhythm["chord_bars"]) % len(prog)]
    steps = degree[:, None] + np.array([0, 2, 4])[None, :]
    notes = scale[steps % 7] + 12 * (steps // 7)
    return 60 + tonal["tonic"] - 12 * (tonal["tonic"] > 6) + notes


_F32 = np.float32
_CHUNK = 32768  # samples placed at a time: the working arrays stay in cache
_FADE = 0.008  # seconds of release before an event is cut by the next one


@dataclass
class _Voice:
    """A monophonic voice: onsets, velocities, and which template (one-shot) each plays.

    An event sounds from its onset until the next event of the same voice. Events with the
    same pitch and (quantised) length share one template, rendered once per video.
    """

    starts: np.ndarray  # int64 sample index in the buffer, sorted
    amps: np.ndarray  # float32 velocity with the instrument level folded in
    base: np.ndarray  # int64: bank offset of the event's template minus its start
    bank: np.ndarray  # float32: the voice's templates, concatenated


def _voice(
    kind: str,
    times: np.ndarray,
    amps: np.ndarray,
    n0: int,
    n: int,
    rng: np.random.Generator,
    freqs: np.ndarray | None = None,
    **params: float,
) -> _Voice | None:
    """Events of one instrument over the buffer [n0, n0 + n), with their templates."""
    starts = np.ceil(times * SAMPLE_RATE).astype(np.int64) - n0
    keep = (amps > 0) & (starts < n)
    if not np.any(keep):
        return None
    f = np.zeros((len(times), 1)) if freqs is None else np.asarray(freqs, dtype=np.float64)
    f = f.reshape(len(times), -1)[keep]
    starts, amps = starts[keep], amps[keep]
    order = np.argsort(starts, kind="stable")
    starts, amps, f = starts[order], amps[order], f[order]
    gaps = np.diff(np.append(starts, max(n, int(starts[-1]) + 1)))
    live = starts + gaps > 0  # events that end before the buffer starts are never heard
    starts, amps, f, gaps = starts[live], amps[live], f[live], gaps[live]
    _, pitch = np.unique(f, axis=0, return_inverse=True)
    # lengths within 64 samples of each other (rounding, not rhythm) share a template
    lengths = np.unique(gaps)
    length_class = np.concatenate([[0], np.cumsum(np.diff(lengths) > 64)])
    length_class = length_class[np.searchsorted(lengths, gaps)]
    key = np.stack([pitch.ravel(), length_class], 1)
    _, tid = np.unique(key, axis=0, return_inverse=True)
    tid = tid.ravel()
    n_t = int(tid.max()) + 1
    longest = np.zeros(n_t, dtype=np.int64)
    np.maximum.at(longest, tid, gaps)
    shortest = np.full(n_t, 2**62, dtype=np.int64)
    np.minimum.at(shortest, tid, gaps)
    first = np.zeros(n_t, dtype=np.int64)
    first[tid[::-1]] = np.arange(len(tid))[::-1]  # an event of each template
    offsets = np.concatenate([[0], np.cumsum(longest)])
    bank = np.zeros(int(offsets[-1]), dtype=_F32)
    for t in range(n_t):
        tau = np.arange(longest[t], dtype=_F32) * _F32(1 / SAMPLE_RATE)
        wave = _template(kind, tau, f[first[t]], rng, params)
        left = (shortest[t] - np.arange(longest[t])) * (1 / (_FADE * SAMPLE_RATE))
        bank[offsets[t] : offsets[t + 1]] = wave * np.clip(left, 0, 1).astype(_F32)
    return _Voice(starts, amps.astype(_F32), offsets[tid] - starts, bank)


def _template(
    kind: str, tau: np.ndarray, freqs: np.ndarray, rng: np.random.Generator, p: dict[str, float]
) -> np.ndarray:
    """The waveform of one note or hit, at unit velocity, over `tau` seconds since its onset."""
    two_pi = _F32(2 * np.pi)
    noise = rng.random(len(tau) + 1, dtype=_F32)
    noise = noise[1:] - noise[:-1]  # white noise, high-passed
    if kind == "kick":
        ph = tau * _F32(p["f1"])
        ph += _F32((p["f0"] - p["f1"]) * p["dp"]) * (1 - np.exp(tau * _F32(-1 / p["dp"])))
        click = _F32(p["click"]) * np.exp(tau * _F32(-250.0)) * noise
        return np.exp(tau * _F32(-1 / p["dk"])) * np.sin(two_pi * ph) + click
    if kind == "snare":
        body = _F32(0.5) * np.sin(tau * _F32(2 * np.pi * 185.0)) + _F32(0.8) * noise
        return np.exp(tau * _F32(-14.0)) * body
    attack = np.minimum(tau * _F32(1 / p.get("attack", 0.0025)), _F32(1))
    if kind == "hat":
        return np.exp(tau * _F32(-1 / p["decay"])) * attack * noise
    w = (two_pi * freqs.astype(_F32))[:, None]
    ph = w * tau[None, :]  # (voices, samples)
    if kind == "808":
        return np.exp(tau * _F32(-1.6)) * attack * np.sin(ph[0])
    if kind == "synth":
        return (
            np.exp(tau * _F32(-6.0))
            * attack
            * np.sin(ph[0] + 1.5 * np.exp(-10 * tau) * np.sin(ph[0]))
        )
    if kind == "cello":
        wave = np.sin(ph[0]) + _F32(0.4) * np.sin(2 * ph[0]) + _F32(0.2) * np.sin(3 * ph[0])
        return np.minimum(tau * _F32(1 / 0.12), _F32(1)) * wave
    if kind == "pad":
        wave = (np.sin(ph) + _F32(0.25) * np.sin(2 * ph)).sum(0)
        return np.minimum(tau * _F32(1 / p["attack"]), _F32(1)) * wave
    # stab and arp: bright FM plucks
    index = _F32(p["bright"] * (1.0 if kind == "stab" else 0.5))
    wave = np.sin(ph + index * np.sin(ph)).sum(0)
    return np.exp(tau * _F32(-1 / p["decay"])) * attack * wave


def _plan_voices(plan: _Plan, n0: int, n: int, rng: np.random.Generator) -> list[_Voice]:
    """Every instrument's events and templates over the buffer [n0, n0 + n) samples."""
    ins = plan.instruments
    lv = ins["levels"]
    meter = int(plan.rhythm["meter"])
    t_first, t_last = n0 / SAMPLE_RATE - 4.0, (n0 + n) / SAMPLE_RATE
    g16, t16 = _grid(plan, 4, t_first, t_last)
    slot = np.mod(g16, meter * 4)
    bar16 = np.floor_divide(g16, 4 * meter)
    vel = rng.uniform(0.8, 1.0, len(g16))
    pats = plan.rhythm["patterns"]
    chords16 = _chords(plan, bar16)
    voices: list[_Voice | None] = []

    def hits(name: str) -> np.ndarray:
        return pats[name][slot] * vel * lv[name]

    if lv["kick"] > 0:
        voices.append(_voice("kick", t16, hits("kick"), n0, n, rng, **ins["kick"]))
    if lv["snare"] > 0:
        voices.append(_voice("snare", t16, hits("snare"), n0, n, rng))
    for name, decay in (("hat", 0.03), ("openhat", 0.14)):
        if lv[name] > 0:
            att = ins["attack"].get(name, 0.001)
            voices.append(_voice("hat", t16, hits(name), n0, n, rng, decay=decay, attack=att))
    if lv["bass"] > 0:
        kind = ins["bass_kind"]
        root = chords16[:, 0] - 24 - 12 * (kind == "808")
        root = np.where(root < 28, root + 12, root)
        amps = hits("bass") if kind != "cello" else (slot == 0) * vel * lv["bass"]
        att = ins["attack"].get("bass", 0.0025)
        voices.append(_voice(kind, t16, amps, n0, n, rng, _midi_hz(root), attack=att))
    bright = float(ins["bright"])
    if lv["stab"] > 0:
        stab = hits("stab") / 3
        voices.append(
            _voice(
                "stab",
                t16,
                stab,
                n0,
                n,
                rng,
                _midi_hz(chords16),
                bright=bright,
                decay=ins["stab_decay"],
                attack=ins["attack"].get("stab", 0.0025),
            )
        )
    if lv["pad"] > 0:
        pad = (slot == 0) * (lv["pad"] / 3)
        voices.append(
            _voice("pad", t16, pad, n0, n, rng, _midi_hz(chords16), attack=ins["pad_attack"])
        )
    if lv["arp"] > 0:
        sub = int(plan.rhythm["arp_sub"])
        g, times = _grid(plan, sub, t_first, t_last)
        chords = _chords(plan, np.floor_divide(g, sub * meter))
        tones = np.concatenate([chords, chords[:, :1] + 12], axis=1)  # 4 tones
        order = np.array([0, 1, 2, 3, 2, 1]) if rng.random() < 0.5 else np.array([0, 1, 2, 3])
        note = tones[np.arange(len(g)), order[np.mod(g, len(order))]] + 12
        accent = np.where(np.mod(g, sub) == 0, 1.0, 0.55) * rng.uniform(0.85, 1.0, len(g))
        accent = np.where(np.mod(g, sub * meter) == 0, 1.25, accent) * lv["arp"]
        voices.append(
            _voice(
                "arp",
                times,
                accent,
                n0,
                n,
                rng,
                _midi_hz(note),
                bright=bright,
                decay=ins["arp_decay"],
                attack=ins["attack"].get("arp", 0.0025),
            )
        )
    return [v for v in voices if v is not None]


def _place(voice: _Voice, c0: int, idx: np.ndarray, out: np.ndarray) -> None:
    """Add `voice` over samples [c0, c0 + len(out)) to `out` (idx: arange(len(out)))."""
    size = len(out)
    i0 = max(int(np.searchsorted(voice.starts, c0, side="right")) - 1, 0)
    i1 = int(np.searchsorted(voice.starts, c0 + size, side="left"))
    if i1 == 0:
        return  # nothing has started yet
    bounds = np.clip(voice.starts[i0:i1] - c0, 0, size)
    counts = np.diff(np.append(bounds, size))
    lead = int(bounds[0])  # samples before the voice's first event: silent
    pos = np.repeat((voice.base[i0:i1] + c0).astype(np.int32), counts) + idx[lead:size]
    out[lead:] += voice.bank[pos] * np.repeat(voice.amps[i0:i1], counts)


def _render_music(plan: _Plan, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Render one video's music: (n_samples,) float32 at 22050 Hz."""
    rev = plan.instruments["reverb"]
    ir_len = int(rev["seconds"] * SAMPLE_RATE / 2)  # the reverb runs at half the sample rate
    pre = 2 * ir_len  # a pre-roll, so that the first clip starts with a reverb tail
    n = pre + n_samples
    voices = _plan_voices(plan, -pre, n, rng)
    noise = rng.random(_CHUNK, dtype=np.float32) - _F32(0.5)
    noise *= _F32(plan.mix["noise"])
    idx = np.arange(_CHUNK, dtype=np.int32)
    y = np.empty(n, dtype=np.float32)
    for c0 in range(0, n, _CHUNK):
        out = noise[: min(_CHUNK, n - c0)].copy()
        for voice in voices:
            _place(voice, c0, idx, out)
        y[c0 : c0 + len(out)] = out
    # reverb: a decaying-noise impulse response, convolved (overlap-add FFT) at half rate
    t_ir = np.arange(ir_len, dtype=np.float32) * _F32(2 / SAMPLE_RATE)
    ir = (rng.random(ir_len, dtype=np.float32) - 0.5) * np.exp(t_ir * _F32(-6.9 / rev["seconds"]))
    ir *= np.float32(rev["wet"] / max(np.sqrt(np.sum(ir * ir)), 1e-6))
    half = (y[0 : n - 1 : 2] + y[1:n:2]) * _F32(0.5)
    wet = np.repeat(signal.oaconvolve(half, ir)[: len(half)].astype(np.float32), 2)
    y[: len(wet)] += wet
    y = y[pre:]
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) + 1e-9
    gain = 0.12 / rms * 10 ** (plan.mix["gain_db"] / 20)
    return np.tanh(y * np.float32(gain)).astype(np.float32)


# ----------------------------------------------------------------------------- the dancer

# pose parameters: root offset (x, y in body heights), lean, head tilt, arm angles
# (0 = down, pi/2 = out, pi = up) and elbow bends, leg abductions, knee bends, leg lifts
# and shoulder twist (1 = square to the camera)
POSE_PARAMS: tuple[str, ...] = ("dx", "dy", "lean", "head", "rsh", "rel", "lsh", "lel")
POSE_PARAMS += ("rhip", "rknee", "lhip", "lknee", "rlift", "llift", "twist")
_P = {name: i for i, name in enumerate(POSE_PARAMS)}
_D = len(POSE_PARAMS)
_PROPORTIONS = {  # segment lengths as fractions of the dancer's height (nose to ankle)
    "neck": 0.11,
    "torso": 0.31,
    "shoulder": 0.10,
    "hip": 0.055,
    "upper_arm": 0.15,
    "forearm": 0.14,
    "thigh": 0.245,
    "shin": 0.235,
}
_BASE = {
    "ballet": {"rsh": 0.35, "rel": -0.4, "lsh": 0.35, "lel": -0.4, "rhip": 0.04, "lhip": 0.04},
    "zumba": {"rsh": 0.35, "rel": 0.6, "lsh": 0.35, "lel": 0.6, "rhip": 0.12, "lhip": 0.12},
    "hiphop": {"rsh": 0.25, "rel": 0.9, "lsh": 0.25, "lel": 0.9, "rhip": 0.2, "lhip": 0.2},
}
_BASE["zumba"].update(rknee=0.15, lknee=0.15)
_BASE["hiphop"].update(rknee=0.55, lknee=0.55)


def base_pose(style: str) -> np.ndarray:
    """A style's neutral pose parameters (15,), in the order of POSE_PARAMS."""
    q = np.zeros(_D)
    q[_P["twist"]] = 1.0
    for name, value in _BASE[style].items():
        q[_P[name]] = value
    return q


def _forward_kinematics(q: np.ndarray, body: dict[str, float]) -> np.ndarray:
    """Joint positions (T, 14, 2) in pixels from pose parameters (T, 15)."""
    h = body["height"]
    L = {k: v * h for k, v in body["lengths"].items()}
    p = {name: q[:, i] for name, i in _P.items()}
    lean = p["lean"]
    c, s = np.cos(lean), np.sin(lean)

    def rot(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x * c - y * s, x * s + y * c

    legs = {}
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        a, k, lift = p[side + "hip"], p[side + "knee"], p[side + "lift"]
        thigh = (
            sgn * np.sin(a + k / 2) * L["thigh"],
            np.cos(a + k / 2) * np.cos(lift) * L["thigh"],
        )
        shin = (sgn * np.sin(a - k / 2) * L["shin"], np.cos(a - k / 2) * L["shin"])
        legs[side] = (sgn, thigh, shin)
    extent = np.maximum(legs["r"][1][1] + legs["r"][2][1], legs["l"][1][1] + legs["l"][2][1])
    px = body["cx"] + p["dx"] * h
    py = body["ground"] - extent + p["dy"] * h
    out = np.empty((q.shape[0], skeleton.NUM_JOINTS, 2))
    J = skeleton.JOINT
    for side, (sgn, thigh, shin) in legs.items():
        hx, hy = px + sgn * L["hip"], py
        out[:, J[side + "_hip"]] = np.stack([hx, hy], -1)
        out[:, J[side + "_knee"]] = np.stack([hx + thigh[0], hy + thigh[1]], -1)
        out[:, J[side + "_ankle"]] = np.stack(
            [hx + thigh[0] + shin[0], hy + thigh[1] + shin[1]], -1
        )
    nx, ny = px + L["torso"] * s, py - L["torso"] * c
    out[:, J["neck"]] = np.stack([nx, ny], -1)
    out[:, J["nose"]] = np.stack(
        [nx + L["neck"] * np.sin(lean + p["head"]), ny - L["neck"] * np.cos(lean + p["head"])], -1
    )
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        dx, dy = rot(sgn * L["shoulder"] * p["twist"], 0.0 * lean)
        sx, sy = nx + dx, ny + dy
        a, e = p[side + "sh"], p[side + "el"]
        ux, uy = rot(sgn * np.sin(a) * L["upper_arm"], np.cos(a) * L["upper_arm"])
        fx, fy = rot(sgn * np.sin(a + e) * L["forearm"], np.cos(a + e) * L["forearm"])
        out[:, J[side + "_shoulder"]] = np.stack([sx, sy], -1)
        out[:, J[side + "_elbow"]] = np.stack([sx + ux, sy + uy], -1)
        out[:, J[side + "_wrist"]] = np.stack([sx + ux + fx, sy + uy + fy], -1)
    return out


# ----------------------------------------------------------------------------- movements

_MoveFn = Callable[[int, np.random.Generator, np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Movement:
    """A named movement: keyframe poses on beats, how many beats apart, and its easing."""

    name: str
    keys: _MoveFn  # (n keyframes, rng, base pose, side +-1) -> (n, 15) pose parameters
    stride: int = 1  # beats between keyframes
    ease: tuple[float, float] = (2.0, 2.0)  # Beta(a, b) velocity profile between keyframes


def _alt(n: int, a: float, b: float) -> np.ndarray:
    return np.where(np.arange(n) % 2 == 0, a, b)


def _cyc(n: int, values: list[float] | tuple[float, ...]) -> np.ndarray:
    return np.asarray(values, dtype=float)[np.arange(n) % len(values)]


def _set(q: np.ndarray, **cols: Any) -> np.ndarray:
    for name, value in cols.items():
        q[:, _P[name]] = value
    return q


def _keys(n: int, base: np.ndarray) -> np.ndarray:
    return np.repeat(base[None], n, axis=0)


def _arms(q: np.ndarray, sh: Any, el: Any, side: float = 0.0, sh2: Any = None) -> np.ndarray:
    """Set both arms (sh2 for the other arm; side picks which is 'first')."""
    other = sh if sh2 is None else sh2
    first, second = ("r", "l") if side <= 0 else ("l", "r")
    return _set(q, **{first + "sh": sh, second + "sh": other, first + "el": el, second + "el": el})


# ballet: extended, smooth, slow
def _port_de_bras(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    pos = [(0.35, -0.4), (1.0, -0.6), (1.55, -0.15), (2.7, -0.5), (1.55, -0.15), (1.0, -0.6)]
    start = int(rng.integers(len(pos)))
    idx = (np.arange(n) + start) % len(pos)
    sh = np.array([pos[i][0] for i in idx]) + rng.normal(0, 0.05, n)
    el = np.array([pos[i][1] for i in idx])
    q = _arms(_keys(n, base), sh, el)
    return _set(q, head=_alt(n, 0.12 * side, -0.08 * side), lean=_alt(n, 0.03, -0.03))


def _plie(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    depth = rng.uniform(0.7, 1.0)
    q = _keys(n, base)
    knee = _alt(n, depth, 0.0)
    q = _set(q, rknee=knee, lknee=knee, rhip=0.12, lhip=0.12)
    return _arms(q, _alt(n, 1.5, 0.9), _alt(n, -0.15, -0.6))


def _releve(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), dy=_alt(n, -0.07, 0.0), head=_alt(n, -0.05, 0.05))
    return _arms(q, _alt(n, 2.75, 1.0), _alt(n, -0.5, -0.6))


def _arabesque(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    up = np.arange(n) % 2 == 0
    sides = np.where((np.arange(n) // 2) % 2 == 0, side, -side)
    lift = rng.uniform(0.9, 1.3)
    q = _keys(n, base)
    q[:, _P["rhip"]] = np.where(up & (sides < 0), lift, 0.05)
    q[:, _P["lhip"]] = np.where(up & (sides > 0), lift, 0.05)
    q[:, _P["lean"]] = np.where(up, -0.15 * sides, 0.0)
    q[:, _P["rsh"]] = np.where(up, np.where(sides < 0, 1.6, 2.5), 0.9)
    q[:, _P["lsh"]] = np.where(up, np.where(sides > 0, 1.6, 2.5), 0.9)
    return _set(q, rel=-0.2, lel=-0.2)


def _balance_sway(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), dx=_alt(n, 0.05 * side, -0.05 * side))
    q = _set(q, lean=_alt(n, -0.09 * side, 0.09 * side), head=_alt(n, 0.1, -0.1))
    return _arms(q, _alt(n, 1.35, 1.8), -0.15, side, _alt(n, 1.8, 1.35))


def _tendu(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    out = rng.uniform(0.3, 0.45)
    q = _keys(n, base)
    phase = np.arange(n) % 4
    q[:, _P["rhip"]] = np.where(phase == (0 if side < 0 else 2), out, 0.04)
    q[:, _P["lhip"]] = np.where(phase == (2 if side < 0 else 0), out, 0.04)
    return _arms(q, _cyc(n, (1.55, 1.3, 1.55, 1.3)), -0.15)


def _pirouette(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    turned = np.arange(n) % 2 == 0
    q = _set(_keys(n, base), twist=np.where(turned, 0.45, 1.0), dy=np.where(turned, -0.06, 0.0))
    leg = "r" if side < 0 else "l"
    q = _set(
        q, **{leg + "lift": np.where(turned, 0.9, 0.0), leg + "knee": np.where(turned, 0.7, 0)}
    )
    return _arms(q, np.where(turned, 1.0, 1.55), np.where(turned, -0.7, -0.15))


# zumba: big, fast
def _hip_swing(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    amp = rng.uniform(0.06, 0.09)
    q = _set(_keys(n, base), dx=_alt(n, amp * side, -amp * side))
    q = _set(q, lean=_alt(n, -0.16 * side, 0.16 * side))
    q = _set(q, rknee=_alt(n, 0.1, 0.5), lknee=_alt(n, 0.5, 0.1))
    return _arms(q, _alt(n, 1.3, 0.5), 0.8, side, _alt(n, 0.5, 1.3))


def _arm_pump(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), rknee=_alt(n, 0.1, 0.55), lknee=_alt(n, 0.1, 0.55))
    return _arms(q, _alt(n, 2.75, 0.7), _alt(n, 0.1, 1.7))


def _side_step(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    travel = side * _cyc(n, (0.0, 0.06, 0.12, 0.06, 0.0, -0.06, -0.12, -0.06))
    q = _set(_keys(n, base), dx=travel, rhip=_alt(n, 0.35, 0.08), lhip=_alt(n, 0.35, 0.08))
    return _arms(q, _alt(n, 1.5, 0.4), _alt(n, 0.1, 0.9))


def _grapevine(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    travel = side * _cyc(n, (0.0, 0.05, 0.1, 0.12, 0.1, 0.05, 0.0, -0.02))
    q = _set(_keys(n, base), dx=travel)
    q = _set(q, rhip=_cyc(n, (0.3, -0.12, 0.3, 0.1)), lhip=_cyc(n, (0.1, 0.3, -0.12, 0.3)))
    q = _set(q, lean=_cyc(n, (0.08, 0.0, -0.08, 0.0)) * side, twist=_cyc(n, (1.0, 0.75)))
    return _arms(q, _cyc(n, (1.2, 0.4, 1.2, 2.4)), 0.7, side, _cyc(n, (0.4, 1.2, 2.4, 1.2)))


def _knee_lift(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    k = np.arange(n)
    up = k % 2 == 0  # lift, step down, lift the other knee, step down
    right = up & (((k // 2) % 2 == 0) == (side < 0))
    left = up & ~right
    q = _keys(n, base)
    q = _set(q, rlift=np.where(right, 1.3, 0.0), llift=np.where(left, 1.3, 0.0))
    q = _set(q, rknee=np.where(right, 1.4, 0.25), lknee=np.where(left, 1.4, 0.25))
    q = _set(q, lean=np.where(right, 0.1, np.where(left, -0.1, 0.0)), dy=np.where(up, -0.02, 0))
    q = _set(q, rsh=np.where(right, 1.4, np.where(left, 0.9, 2.2)))
    q = _set(q, lsh=np.where(left, 1.4, np.where(right, 0.9, 2.2)))
    return _set(q, rel=np.where(right, 0.3, 1.6), lel=np.where(left, 0.3, 1.6))


def _shimmy(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), lean=_alt(n, 0.13 * side, -0.13 * side))
    q = _set(q, twist=_alt(n, 0.8, 1.0), rknee=0.4, lknee=0.4, dx=_alt(n, 0.02, -0.02) * side)
    return _arms(q, 1.5, _alt(n, 0.35, -0.25), side, 1.5)


def _jumping_jack(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), rhip=_alt(n, 0.38, 0.06), lhip=_alt(n, 0.38, 0.06))
    q = _set(q, dy=_alt(n, -0.05, 0.0))
    return _arms(q, _alt(n, 2.9, 0.3), 0.2)


# hip-hop: bounces, sharp hits, low stance
def _bounce(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), rknee=_alt(n, 0.35, 0.9), lknee=_alt(n, 0.35, 0.9))
    q = _set(q, head=_alt(n, -0.06, 0.14), lean=_alt(n, 0.0, 0.05 * side))
    return _arms(q, _alt(n, 0.3, 0.5), _alt(n, 0.9, 1.4))


_HITS = ((-0.45, 1.3), (2.9, 0.1), (1.45, 2.0), (0.2, 1.9), (1.57, 0.0), (2.3, 1.2), (0.9, 2.4))


def _arm_hit(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    a = rng.integers(len(_HITS), size=n)
    b = rng.integers(len(_HITS), size=n)
    a[1:] = np.where(a[1:] == a[:-1], (a[1:] + 1) % len(_HITS), a[1:])
    hits = np.array(_HITS)
    q = _set(_keys(n, base), rsh=hits[a, 0], rel=hits[a, 1], lsh=hits[b, 0], lel=hits[b, 1])
    knee = rng.uniform(0.45, 0.85, n)
    return _set(q, rknee=knee, lknee=knee, head=rng.uniform(-0.15, 0.15, n))


def _rock(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), lean=_alt(n, 0.18 * side, -0.14 * side), dx=_alt(n, 0.03, -0.03))
    q = _set(q, rknee=_alt(n, 0.8, 0.45), lknee=_alt(n, 0.45, 0.8))
    return _arms(q, _alt(n, 0.7, 0.25), 1.2, side, _alt(n, 0.25, 0.7))


def _toprock(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), rhip=_cyc(n, (0.32, 0.1, -0.08, 0.1)))
    q = _set(q, lhip=_cyc(n, (-0.08, 0.1, 0.32, 0.1)), twist=_alt(n, 0.7, 1.0))
    q = _set(q, dx=_cyc(n, (0.04, 0.0, -0.04, 0.0)) * side, rknee=0.4, lknee=0.4)
    return _arms(q, _cyc(n, (1.1, 0.5, 0.3, 0.5)), 1.6, side, _cyc(n, (0.3, 0.5, 1.1, 0.5)))


def _body_wave(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    k = np.arange(n)

    def wave(delay: int) -> np.ndarray:
        return np.array([0.0, 1.0, 0.0, -1.0])[(k - delay) % 4]

    q = _set(_keys(n, base), head=0.2 * wave(0) * side, lean=0.14 * wave(1) * side)
    q = _set(q, dx=0.04 * wave(2) * side, rknee=0.55 + 0.3 * wave(3), lknee=0.55 - 0.3 * wave(3))
    return _arms(q, 1.5 + 0.4 * wave(1), 0.5 * wave(0), side, 1.5 - 0.4 * wave(2))


def _low_groove(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _set(_keys(n, base), rhip=0.35, lhip=0.35, rknee=_alt(n, 1.05, 0.8))
    q = _set(q, lknee=_alt(n, 0.8, 1.05), dx=_alt(n, 0.05 * side, -0.05 * side))
    q = _set(q, lean=_alt(n, -0.07 * side, 0.07 * side))
    return _arms(q, _alt(n, 0.9, 0.5), 1.6, side, _alt(n, 0.5, 0.9))


def _freeze_hit(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _arm_hit(n, rng, base, side)
    return _set(q, lean=rng.uniform(-0.2, 0.2, n), dx=rng.uniform(-0.04, 0.04, n))


MOVEMENTS: dict[str, tuple[Movement, ...]] = {
    "ballet": (
        Movement("port_de_bras", _port_de_bras, 2),
        Movement("plie", _plie, 2),
        Movement("releve", _releve, 2),
        Movement("arabesque", _arabesque, 2),
        Movement("balance_sway", _balance_sway, 2),
        Movement("tendu", _tendu, 1),
        Movement("pirouette", _pirouette, 2),
    ),
    "zumba": (
        Movement("hip_swing", _hip_swing, 1, (1.8, 1.8)),
        Movement("arm_pump", _arm_pump, 1, (1.8, 1.8)),
        Movement("side_step", _side_step, 1, (1.8, 1.8)),
        Movement("grapevine", _grapevine, 1, (1.8, 1.8)),
        Movement("knee_lift", _knee_lift, 1, (1.8, 1.8)),
        Movement("shimmy", _shimmy, 1, (1.8, 1.8)),
        Movement("jumping_jack", _jumping_jack, 1, (1.8, 1.8)),
    ),
    "hiphop": (
        Movement("bounce", _bounce, 1, (2.0, 1.8)),
        Movement("arm_hit", _arm_hit, 1, (1.5, 1.5)),
        Movement("rock", _rock, 1, (2.0, 2.0)),
        Movement("toprock", _toprock, 1, (2.0, 2.0)),
        Movement("body_wave", _body_wave, 1, (2.2, 2.2)),
        Movement("low_groove", _low_groove, 1, (2.0, 2.0)),
        Movement("freeze_hit", _freeze_hit, 2, (2.0, 2.0)),
    ),
}


def movement_names(style: str) -> tuple[str, ...]:
    """Names of a style's movements."""
    return tuple(m.name for m in MOVEMENTS[_check_style(style)])


def _draw_dancer(style: str, rng: np.random.Generator) -> dict[str, Any]:
    body_size = float(rng.uniform(0.9, 1.1))
    camera = float(rng.uniform(0.82, 1.06))
    lengths = {k: float(v * rng.uniform(0.94, 1.06)) for k, v in _PROPORTIONS.items()}
    return {
        "body_size": body_size,
        "camera_scale": camera,
        "height": 225.0 * body_size * camera,
        "lengths": lengths,
        "cx": float(skeleton.CANVAS_WIDTH / 2 + rng.uniform(-14, 14)),
        "ground": float(440.0 + rng.uniform(-20, 25)),
        "energy": float(rng.uniform(0.85, 1.15)),
    }


def _render_dance(
    plan: _Plan, dancer: dict[str, Any], rng: np.random.Generator, jitter_px: float
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Poses (n_frames, 14, 2) of one video and its movement segments (start s, end s, name)."""
    period, phase = plan.period, plan.phase
    t = np.arange(plan.n_frames) / FPS
    bpos = (t - phase) / period
    b_first = math.floor(bpos[0]) - 2
    b_last = math.ceil(bpos[-1]) + 2
    base = base_pose(plan.style)
    moves = MOVEMENTS[plan.style]
    meter = int(plan.rhythm["meter"])
    key_beats: list[np.ndarray] = []
    key_poses: list[np.ndarray] = []
    key_ease: list[np.ndarray] = []
    segments: list[tuple[float, float, str]] = []
    beat = b_first
    prev = -1
    while beat <= b_last:
        m = int(rng.integers(len(moves)))
        if m == prev:
            m = (m + 1 + int(rng.integers(len(moves) - 1))) % len(moves)
        prev = m
        move = moves[m]
        stride = move.stride
        if plan.style == "ballet" and stride == 2 and plan.tempo < 66:
            stride = 1  # a slow ballet moves on every beat
        n_beats = meter * int(rng.choice([1, 2])) * (2 if stride > 1 or meter == 3 else 1)
        n_beats = max(n_beats, 2 * stride)
        n_keys = n_beats // stride
        side = float(rng.choice([-1.0, 1.0]))
        q = move.keys(n_keys, rng, base, side)
        key_beats.append(beat + stride * np.arange(n_keys))
        key_poses.append(q)
        key_ease.append(np.repeat(np.array(move.ease)[None], n_keys, axis=0))
        segments.append((phase + beat * period, phase + (beat + n_beats) * period, move.name))
        beat += n_keys * stride
    kb = np.concatenate(key_beats).astype(np.float64)
    Q = np.concatenate(key_poses)
    ease = np.concatenate(key_ease)
    energy = dancer["energy"]
    Q = base + energy * (Q - base) + rng.normal(0.0, 0.03, Q.shape)  # a dancer is never exact
    Q[:, _P["twist"]] = np.clip(Q[:, _P["twist"]], 0.35, 1.0)
    seg = np.clip(np.searchsorted(kb, bpos, side="right") - 1, 0, len(kb) - 2)
    u = (bpos - kb[seg]) / (kb[seg + 1] - kb[seg])
    a, b = ease[seg + 1, 0], ease[seg + 1, 1]
    e = special.betainc(a, b, np.clip(u, 0.0, 1.0))
    q = Q[seg] + (Q[seg + 1] - Q[seg]) * e[:, None]
    poses = _forward_kinematics(q, dancer)
    if jitter_px > 0:
        poses = poses + rng.normal(0.0, jitter_px, poses.shape)
    return poses.astype(np.float32), segments


# ----------------------------------------------------------------------------- videos and clips


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ConfigError(f"unknown style {style!r}; choose one of {STYLES}")
    return style


def _render_video(
    style: str,
    video: str,
    seed_words: list[int],
    n_clips: int,
    frames_per_clip: int,
    ambiguity: float,
    jitter_px: float,
    tempo: float | None = None,
    borrow: Mapping[str, str] | None = None,
) -> list[Clip]:
    """Render one video (music and dance over all its clips) and cut it into clips."""
    plan_ss, music_ss, dance_ss = np.random.SeedSequence(seed_words).spawn(3)
    n_frames = n_clips * frames_per_clip
    plan = _plan_video(
        style, video, n_frames, np.random.default_rng(plan_ss), ambiguity, tempo, borrow
    )
    wav = _render_music(plan, n_frames * HOP, np.random.default_rng(music_ss))
    dance_rng = np.random.default_rng(dance_ss)
    dancer = _draw_dancer(style, dance_rng)
    poses, segments = _render_dance(plan, dancer, dance_rng, jitter_px)
    clip_seconds = frames_per_clip / FPS
    k0 = math.ceil(-plan.phase / plan.period)
    k1 = math.floor((n_frames / FPS - plan.phase) / plan.period)
    all_beats = plan.phase + np.arange(k0, k1 + 1) * plan.period
    tonal = plan.tonal
    scale_name = f"{_NOTE_NAMES[tonal['tonic']]} {tonal['mode']}"
    clips = []
    for c in range(n_clips):
        t0, t1 = c * clip_seconds, (c + 1) * clip_seconds
        beats = all_beats[(all_beats >= t0) & (all_beats < t1)] - t0
        moves = [name for s, e, name in segments if e > t0 and s < t1]
        meta = {
            "style": style,
            "video": video,
            "clip": str(c),
            "tempo": plan.tempo,
            "meter": int(plan.rhythm["meter"]),
            "swing": float(plan.rhythm["swing"]),
            "rhythm_variant": plan.rhythm["variant"],
            "key": scale_name,
            "progression": list(tonal["progression"]),
            "borrowed": dict(plan.borrowed),
            "traits_from": dict(plan.traits_from),
            "movements": moves,
            "dancer": {
                k: round(float(dancer[k]), 4)
                for k in ("height", "body_size", "camera_scale", "cx", "ground", "energy")
            },
            "beat_phase": plan.phase,
            "start_seconds": t0,
            "gain_db": plan.mix["gain_db"],
            "reverb_wet": float(plan.instruments["reverb"]["wet"]),
            "fps": FPS,
            "sample_rate": SAMPLE_RATE,
        }
        clips.append(
            Clip(
                style=style,
                video=video,
                clip=str(c),
                poses=np.ascontiguousarray(poses[c * frames_per_clip : (c + 1) * frames_per_clip]),
                wav=np.ascontiguousarray(
                    wav[c * frames_per_clip * HOP : (c + 1) * frames_per_clip * HOP]
                ),
                beat_times=beats.astype(np.float64),
                tempo=float(plan.tempo),
                meta=meta,
            )
        )
    return clips


def video_name(style: str, index: int) -> str:
    """The name of video `index` of a style, e.g. "ballet_v0007"."""
    return f"{_check_style(style)}_v{index:04d}"


def generate_clips(config: SynthConfig) -> Iterator[list[Clip]]:
    """Yield the world's clips, style by style, in batches of `videos_per_batch` whole videos.

    Deterministic from `config.seed`; a clip does not depend on the batching.
    """
    batch: list[Clip] = []
    n_videos = 0
    for style in STYLES:
        s = STYLES.index(style)
        for v in range(config.videos_per_style):
            n_clips = min(
                config.clips_per_video, config.clips_per_style - v * config.clips_per_video
            )
            batch += _render_video(
                style,
                video_name(style, v),
                [int(config.seed), s, v, _SALT_VIDEO],
                n_clips,
                config.frames_per_clip,
                float(config.ambiguity),
                float(config.jitter_px),
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
    _check_style(style)
    frames = max(2, int(round(float(seconds) * FPS)))
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return _render_video(
        style,
        f"{style}_s{int(seed)}",
        [int(seed), STYLES.index(style), _SALT_CLIP],
        1,
        frames,
        float(ambiguity),
        float(jitter_px),
        tempo,
        borrow,
    )[0]
