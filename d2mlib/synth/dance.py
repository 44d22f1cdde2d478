"""Rendering a dance from the music's ground truth (its Timeline).

The dance follows the music in four ways, all read from the timeline:

- beats: keyframe poses fall on beats, and between keyframes the pose moves with a
  Beta-shaped easing whose velocity is zero at the keyframes, so kinematic beats (minima of
  joint speed) fall on musical beats;
- sections select the movement family: choruses dance the style's "big" movements, verses
  and breaks its "groove" movements;
- energy sets the amplitude: a keyframe's deviation from the style's reference pose is
  scaled by 0.3 + 0.8 * the bar's energy (times the dancer's own amplitude);
- energy sets the speed: a break moves at half time (keyframes two beats apart).

The style's mean posture is removed: the deviations are centred over the whole video and
added to the dancer's own neutral posture, drawn alike for every style (d2mlib.synth.body).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from d2mlib.synth.body import P, base_pose, forward_kinematics
from d2mlib.synth.config import FPS, SECTIONS
from d2mlib.synth.moves import MOVEMENTS
from d2mlib.synth.music import Timeline

_CENTRED = [P[k] for k in ("lean", "head", "rsh", "rel", "lsh", "lel")]
_CENTRED += [P[k] for k in ("rhip", "rknee", "lhip", "lknee", "rlift", "llift")]
_BREAK = SECTIONS.index("break")
_CHORUS = SECTIONS.index("chorus")


def amplitude_of(energy: np.ndarray | float) -> np.ndarray:
    """The movement amplitude (before the dancer's own factor) at a given bar energy."""
    return 0.3 + 0.8 * np.asarray(energy, dtype=np.float64)


@dataclass
class Dance:
    """One video's dance and its ground truth per frame."""

    poses: np.ndarray  # (frames, 14, 2) float32 pixels
    amplitude: np.ndarray  # (frames,) the amplitude the dance is danced at
    segments: list[tuple[float, float, str]]  # (start s, end s, movement name)


def _keyframes(
    style: str, tl: Timeline, tempo_of: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[float, float, str]]]:
    """Keyframe beat positions, poses, easings and movement segments, section by section."""
    base = base_pose(style)
    moves = MOVEMENTS[style]
    families = {f: [i for i, m in enumerate(moves) if m.family == f] for f in ("groove", "big")}
    group_first = np.searchsorted(tl.bar_group[tl.beat_bar], np.arange(tl.bar_group[-1] + 2))
    beat_idx, poses, ease, segments = [], [], [], []
    prev = -1
    for g in range(len(group_first) - 1):
        b0, b1 = int(group_first[g]), int(min(group_first[g + 1], len(tl.beats) - 1))
        if b1 <= b0:
            continue
        section = int(tl.bar_section[tl.beat_bar[b0]])
        pool = families["big" if section == _CHORUS else "groove"]
        m = pool[int(rng.integers(len(pool)))]
        if m == prev and len(pool) > 1:
            m = pool[(pool.index(m) + 1 + int(rng.integers(len(pool) - 1))) % len(pool)]
        prev = m
        move = moves[m]
        stride = move.stride
        if style == "ballet" and stride == 2 and tempo_of[b0] < 66:
            stride = 1  # a slow ballet moves on every beat
        if section == _BREAK:
            stride *= 2  # half time
        n_keys = -(-(b1 - b0) // stride)
        side = float(rng.choice([-1.0, 1.0]))
        beat_idx.append(b0 + stride * np.arange(n_keys))
        poses.append(move.keys(n_keys, rng, base, side))
        ease.append(np.repeat(np.array(move.ease)[None], n_keys, axis=0))
        segments.append((float(tl.beats[b0]), float(tl.beats[b1]), move.name))
    return np.concatenate(beat_idx), np.concatenate(poses), np.concatenate(ease), segments


def render_dance(
    style: str,
    tl: Timeline,
    tempo_of: np.ndarray,
    dancer: dict[str, Any],
    n_frames: int,
    rng: np.random.Generator,
    jitter_px: float,
) -> Dance:
    """One video's dance over `n_frames` frames, following the timeline's beats and sections."""
    kb, Q, ease, segments = _keyframes(style, tl, tempo_of, rng)
    kb = kb.astype(np.float64)
    energy = tl.bar_energy[tl.beat_bar[kb.astype(int)]]
    amp = dancer["amplitude"] * amplitude_of(energy)
    base = base_pose(style)
    dev = (Q - base) * amp[:, None]
    dev[:, _CENTRED] -= dev[:, _CENTRED].mean(axis=0)  # the style's mean posture is removed
    Q = dancer["neutral"] + dev + rng.normal(0.0, 0.03, Q.shape)  # a dancer is never exact
    Q[:, P["twist"]] = np.clip(1.0 + dev[:, P["twist"]], 0.35, 1.0)
    t = np.arange(n_frames) / FPS
    bpos = tl.beat_position(t)
    seg = np.clip(np.searchsorted(kb, bpos, side="right") - 1, 0, len(kb) - 2)
    u = (bpos - kb[seg]) / (kb[seg + 1] - kb[seg])
    a, b = ease[seg + 1, 0], ease[seg + 1, 1]
    e = special.betainc(a, b, np.clip(u, 0.0, 1.0))
    q = Q[seg] + (Q[seg + 1] - Q[seg]) * e[:, None]
    poses = forward_kinematics(q, dancer)
    if jitter_px > 0:
        poses = poses + rng.normal(0.0, jitter_px, poses.shape)
    amplitude = amp[seg] + (amp[seg + 1] - amp[seg]) * e
    return Dance(poses.astype(np.float32), amplitude, segments)
