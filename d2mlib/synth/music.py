"""A video's music: its beat grid, bars and sections (the energy curve), and its rendering.

The `Timeline` holds every beat of a video (from a pre-roll before t = 0 to past its end),
the bar each beat belongs to and the section of each bar. Sections ("break", "verse",
"chorus") carry an energy per bar: a break drops the drums and thins the arpeggio, a chorus
adds open hats and full stabs, so the energy is audible in the loudness and the spectrum of
every bar (and survives the 28 audio features). The dance reads the same timeline.

Each clip may have its own tempo (the grid's spacing), rhythm and instruments (when it
borrows them); runs of clips with the same rhythm and instruments are rendered in one go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from d2mlib.synth.config import SAMPLE_RATE, SECTION_ENERGY, SECTIONS
from d2mlib.synth.sound import Voice, add_reverb, mix_down, voice
from d2mlib.synth.traits import SCALES

PRE_ROLL = 5.0  # seconds of beats before t = 0: pre-roll for notes and reverb tails
_DRUMS_FROM = 0.45  # bar energy from which the drums play (a break has none)
_FULL_FROM = 0.8  # bar energy from which open hats and full stabs play (a chorus)


@dataclass
class Timeline:
    """The beats, bars and sections of one video (times in seconds from its start)."""

    beats: np.ndarray  # (B,) beat times, increasing; some before 0 and after the end
    beat_clip: np.ndarray  # (B,) the clip whose tempo and meter the beat follows
    beat_pos: np.ndarray  # (B,) position of the beat in its bar (0 = downbeat)
    beat_bar: np.ndarray  # (B,) bar index
    bar_section: np.ndarray  # (bars,) index into SECTIONS
    bar_energy: np.ndarray  # (bars,) energy in (0, 1]
    bar_group: np.ndarray  # (bars,) running number of the section the bar belongs to

    def beat_position(self, t: np.ndarray) -> np.ndarray:
        """Fractional beat index at times `t` (linear between beats)."""
        i = np.clip(np.searchsorted(self.beats, t, side="right") - 1, 0, len(self.beats) - 2)
        return i + (t - self.beats[i]) / (self.beats[i + 1] - self.beats[i])

    def bar_at(self, t: np.ndarray) -> np.ndarray:
        """Bar index at times `t`."""
        i = np.clip(np.searchsorted(self.beats, t, side="right") - 1, 0, len(self.beats) - 1)
        return self.beat_bar[i]


def build_timeline(
    tempi: list[float],
    meters: list[int],
    clip_seconds: float,
    phase: float,
    rng: np.random.Generator,
) -> Timeline:
    """Beats at each clip's tempo (the grid runs on across cuts), bars and sections."""
    n_clips = len(tempi)
    end = n_clips * clip_seconds
    p0 = 60.0 / tempi[0]
    n_pre = math.ceil(PRE_ROLL / p0) + 1
    times = [phase - k * p0 for k in range(n_pre, 0, -1)]
    t = phase
    while t < end + 3 * 60.0 / tempi[-1]:
        times.append(t)
        t += 60.0 / tempi[min(max(int(t // clip_seconds), 0), n_clips - 1)]
    beats = np.asarray(times)
    clip = np.clip(np.floor_divide(beats, clip_seconds).astype(int), 0, n_clips - 1)
    pos = np.zeros(len(beats), dtype=int)
    bar = np.zeros(len(beats), dtype=int)
    for i in range(1, len(beats)):
        meter = meters[clip[i]]
        restart = meter != meters[clip[i - 1]] or pos[i - 1] + 1 >= meter
        pos[i] = 0 if restart else pos[i - 1] + 1
        bar[i] = bar[i - 1] + (pos[i] == 0)
    section, energy, group = _sections(beats, bar, rng)
    return Timeline(beats, clip, pos, bar, section, energy, group)


def _sections(
    beats: np.ndarray, bar: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sections over the bars: one bar long when bars are slow (>= 2.2 s), else two.

    Each section differs from the one before (so every clip holds contrast); a bar's energy
    is its section's level times a small random factor.
    """
    n_bars = int(bar[-1]) + 1
    starts = np.searchsorted(bar, np.arange(n_bars))
    ends = np.append(starts[1:], len(beats) - 1)
    seconds = beats[np.minimum(ends, len(beats) - 1)] - beats[starts]
    section = np.zeros(n_bars, dtype=int)
    group = np.zeros(n_bars, dtype=int)
    label = int(rng.integers(len(SECTIONS)))
    left = 0
    g = -1
    for b in range(n_bars):
        if left == 0:
            label = (label + 1 + int(rng.integers(len(SECTIONS) - 1))) % len(SECTIONS)
            left = 1 if seconds[b] >= 2.2 else 2
            g += 1
        section[b], group[b] = label, g
        left -= 1
    level = np.array([SECTION_ENERGY[s] for s in SECTIONS])[section]
    energy = np.minimum(level * rng.uniform(0.9, 1.1, n_bars), 1.0)
    return section, energy, group


def _swing_warp(frac: np.ndarray, swing: float) -> np.ndarray:
    """Map straight beat fractions to swung ones (the off-beat 8th moves from 0.5 to `swing`)."""
    return np.where(frac < 0.5, frac * 2 * swing, swing + (frac - 0.5) * 2 * (1 - swing))


def _grid(
    tl: Timeline, sub: int, swing: float, t_first: float, t_last: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slots of `sub` per beat between two times: (beat index, slot in beat, onset time)."""
    i0 = max(int(np.searchsorted(tl.beats, t_first)) - 1, 0)
    i1 = min(int(np.searchsorted(tl.beats, t_last)) + 1, len(tl.beats) - 1)
    beat = np.repeat(np.arange(i0, i1), sub)
    j = np.tile(np.arange(sub), i1 - i0)
    frac = j / sub
    if sub in (2, 4) and swing != 0.5:
        frac = _swing_warp(frac, swing)
    return beat, j, tl.beats[beat] + frac * (tl.beats[beat + 1] - tl.beats[beat])


def midi_hz(m: np.ndarray | float) -> np.ndarray:
    """Frequency (Hz) of MIDI note numbers."""
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def _chords(tonal: dict[str, Any], chord_bars: int, bars: np.ndarray) -> np.ndarray:
    """MIDI notes (len(bars), 3) of the triad on each bar (root position, around middle C)."""
    scale = np.array(SCALES[tonal["mode"]])
    prog = np.array(tonal["progression"])
    degree = prog[np.floor_divide(bars, chord_bars) % len(prog)]
    steps = degree[:, None] + np.array([0, 2, 4])[None, :]
    notes = scale[steps % 7] + 12 * (steps // 7)
    return 60 + tonal["tonic"] - 12 * (tonal["tonic"] > 6) + notes


def energy_gain(name: str, energy: np.ndarray, on_beat: np.ndarray) -> np.ndarray:
    """How loud instrument `name` plays at each event given its bar's energy (0 = silent)."""
    drums = energy >= _DRUMS_FROM
    full = energy >= _FULL_FROM
    gains = {
        "kick": drums * (0.5 + 0.5 * energy),
        "snare": drums * energy,
        "hat": drums * 1.0,
        "openhat": full * 1.0,
        "stab": np.where(full, 1.0, 0.35 * drums),
        "bass": 0.4 + 0.6 * energy,
        "arp": (0.15 + 0.85 * energy) * (drums | on_beat),  # a break plays only on the beats
        "pad": 0.5 + 0.5 * energy,
    }
    return gains[name]


@dataclass
class Run:
    """Consecutive clips with the same rhythm and instruments: rendered in one go."""

    t0: float  # seconds
    t1: float
    rhythm: dict[str, Any]
    instruments: dict[str, Any]


def _plan_voices(
    tl: Timeline,
    run: Run,
    tonal: dict[str, Any],
    n0: int,
    n: int,
    rng: np.random.Generator,
    cache: dict[tuple, np.ndarray],
) -> list[Voice]:
    """Every instrument's events and templates over the buffer [n0, n0 + n) samples."""
    ins, rhythm = run.instruments, run.rhythm
    lv, pats = ins["levels"], rhythm["patterns"]
    t_first, t_last = n0 / SAMPLE_RATE - 4.0, (n0 + n) / SAMPLE_RATE
    beat, j, t16 = _grid(tl, 4, float(rhythm["swing"]), t_first, t_last)
    slot = np.minimum(tl.beat_pos[beat] * 4 + j, len(pats["kick"]) - 1)
    bar16 = tl.beat_bar[beat]
    energy16 = tl.bar_energy[bar16]
    vel = rng.uniform(0.8, 1.0, len(t16))
    chords16 = _chords(tonal, rhythm["chord_bars"], bar16)
    voices: list[Voice | None] = []

    def hits(name: str) -> np.ndarray:
        return pats[name][slot] * vel * lv[name] * energy_gain(name, energy16, j == 0)

    if lv["kick"] > 0:
        voices.append(voice("kick", t16, hits("kick"), n0, n, rng, cache=cache, **ins["kick"]))
    if lv["snare"] > 0:
        voices.append(voice("snare", t16, hits("snare"), n0, n, rng, cache=cache))
    for name, decay in (("hat", 0.03), ("openhat", 0.14)):
        if lv[name] > 0:
            att = ins["attack"].get(name, 0.001)
            voices.append(
                voice("hat", t16, hits(name), n0, n, rng, cache=cache, decay=decay, attack=att)
            )
    if lv["bass"] > 0:
        kind = ins["bass_kind"]
        root = chords16[:, 0] - 24 - 12 * (kind == "808")
        root = np.where(root < 28, root + 12, root)
        amps = hits("bass") if kind != "cello" else (slot == 0) * vel * lv["bass"]
        att = ins["attack"].get("bass", 0.0025)
        voices.append(voice(kind, t16, amps, n0, n, rng, midi_hz(root), cache=cache, attack=att))
    if lv["stab"] > 0:
        params = {"bright": float(ins["bright"]), "decay": ins["stab_decay"]}
        params["attack"] = ins["attack"].get("stab", 0.0025)
        voices.append(
            voice(
                "stab", t16, hits("stab") / 3, n0, n, rng, midi_hz(chords16), cache=cache, **params
            )
        )
    if lv["pad"] > 0:
        pad = (slot == 0) * (lv["pad"] / 3) * energy_gain("pad", energy16, j == 0)
        voices.append(
            voice(
                "pad",
                t16,
                pad,
                n0,
                n,
                rng,
                midi_hz(chords16),
                cache=cache,
                attack=ins["pad_attack"],
            )
        )
    if lv["arp"] > 0:
        voices.append(_arp_voice(tl, run, tonal, n0, n, rng, cache))
    return [v for v in voices if v is not None]


def _arp_voice(
    tl: Timeline,
    run: Run,
    tonal: dict[str, Any],
    n0: int,
    n: int,
    rng: np.random.Generator,
    cache: dict[tuple, np.ndarray],
) -> Voice | None:
    """The arpeggio: chord tones up (and down) on a grid of `arp_sub` notes per beat."""
    ins, rhythm = run.instruments, run.rhythm
    sub = int(rhythm["arp_sub"])
    t_first, t_last = n0 / SAMPLE_RATE - 4.0, (n0 + n) / SAMPLE_RATE
    beat, j, times = _grid(tl, sub, float(rhythm["swing"]), t_first, t_last)
    g = beat * sub + j
    chords = _chords(tonal, rhythm["chord_bars"], tl.beat_bar[beat])
    tones = np.concatenate([chords, chords[:, :1] + 12], axis=1)  # 4 tones
    order = np.array([0, 1, 2, 3, 2, 1]) if rng.random() < 0.5 else np.array([0, 1, 2, 3])
    note = tones[np.arange(len(g)), order[np.mod(g, len(order))]] + 12
    accent = np.where(j == 0, 1.0, 0.55) * rng.uniform(0.85, 1.0, len(g))
    downbeat = (j == 0) & (tl.beat_pos[beat] == 0)
    accent = np.where(downbeat, 1.25, accent) * ins["levels"]["arp"]
    accent = accent * energy_gain("arp", tl.bar_energy[tl.beat_bar[beat]], j == 0)
    params = {"bright": float(ins["bright"]), "decay": ins["arp_decay"]}
    params["attack"] = ins["attack"].get("arp", 0.0025)
    return voice("arp", times, accent, n0, n, rng, midi_hz(note), cache=cache, **params)


def render_run(
    tl: Timeline,
    run: Run,
    tonal: dict[str, Any],
    mix: dict[str, float],
    rng: np.random.Generator,
    cache: dict[tuple, np.ndarray],
) -> np.ndarray:
    """Render the music of one run of clips: (samples,) float32 at 22050 Hz.

    `cache` holds the video's rendered templates (the runs of a video share most of them).
    """
    rev = run.instruments["reverb"]
    s0 = int(round(run.t0 * SAMPLE_RATE))
    n_samples = int(round(run.t1 * SAMPLE_RATE)) - s0
    pre = 2 * int(rev["seconds"] * SAMPLE_RATE / 2)  # the run starts with a reverb tail
    n = pre + n_samples
    voices = _plan_voices(tl, run, tonal, s0 - pre, n, rng, cache)
    y = mix_down(voices, n, mix["noise"], rng)
    add_reverb(y, float(rev["seconds"]), float(rev["wet"]), rng)
    y = y[pre:]
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) + 1e-9
    gain = 0.12 / rms * 10 ** (mix["gain_db"] / 20)
    return np.tanh(y * np.float32(gain)).astype(np.float32)
