"""The hiphop vocabulary."""

from __future__ import annotations

import numpy as np

from d2mlib.synth.moves.common import Movement, alt, arms, cyc, keys, setp


# hip-hop: bounces, sharp hits, low stance
def _bounce(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), rknee=alt(n, 0.35, 0.9), lknee=alt(n, 0.35, 0.9))
    q = setp(q, head=alt(n, -0.06, 0.14), lean=alt(n, 0.0, 0.05 * side))
    return arms(q, alt(n, 0.3, 0.5), alt(n, 0.9, 1.4))


_HITS = ((-0.45, 1.3), (2.9, 0.1), (1.45, 2.0), (0.2, 1.9), (1.57, 0.0), (2.3, 1.2), (0.9, 2.4))


def _arm_hit(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    a = rng.integers(len(_HITS), size=n)
    b = rng.integers(len(_HITS), size=n)
    a[1:] = np.where(a[1:] == a[:-1], (a[1:] + 1) % len(_HITS), a[1:])
    hits = np.array(_HITS)
    q = setp(keys(n, base), rsh=hits[a, 0], rel=hits[a, 1], lsh=hits[b, 0], lel=hits[b, 1])
    knee = rng.uniform(0.45, 0.85, n)
    return setp(q, rknee=knee, lknee=knee, head=rng.uniform(-0.15, 0.15, n))


def _rock(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), lean=alt(n, 0.18 * side, -0.14 * side), dx=alt(n, 0.03, -0.03))
    q = setp(q, rknee=alt(n, 0.8, 0.45), lknee=alt(n, 0.45, 0.8))
    return arms(q, alt(n, 0.7, 0.25), 1.2, side, alt(n, 0.25, 0.7))


def _toprock(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), rhip=cyc(n, (0.32, 0.1, -0.08, 0.1)))
    q = setp(q, lhip=cyc(n, (-0.08, 0.1, 0.32, 0.1)), twist=alt(n, 0.7, 1.0))
    q = setp(q, dx=cyc(n, (0.04, 0.0, -0.04, 0.0)) * side, rknee=0.4, lknee=0.4)
    return arms(q, cyc(n, (1.1, 0.5, 0.3, 0.5)), 1.6, side, cyc(n, (0.3, 0.5, 1.1, 0.5)))


def _body_wave(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    k = np.arange(n)

    def wave(delay: int) -> np.ndarray:
        return np.array([0.0, 1.0, 0.0, -1.0])[(k - delay) % 4]

    q = setp(keys(n, base), head=0.2 * wave(0) * side, lean=0.14 * wave(1) * side)
    q = setp(q, dx=0.04 * wave(2) * side, rknee=0.55 + 0.3 * wave(3), lknee=0.55 - 0.3 * wave(3))
    return arms(q, 1.5 + 0.4 * wave(1), 0.5 * wave(0), side, 1.5 - 0.4 * wave(2))


def _low_groove(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), rhip=0.35, lhip=0.35, rknee=alt(n, 1.05, 0.8))
    q = setp(q, lknee=alt(n, 0.8, 1.05), dx=alt(n, 0.05 * side, -0.05 * side))
    q = setp(q, lean=alt(n, -0.07 * side, 0.07 * side))
    return arms(q, alt(n, 0.9, 0.5), 1.6, side, alt(n, 0.5, 0.9))


def _freeze_hit(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = _arm_hit(n, rng, base, side)
    return setp(q, lean=rng.uniform(-0.2, 0.2, n), dx=rng.uniform(-0.04, 0.04, n))


MOVES: tuple[Movement, ...] = (
    Movement("bounce", _bounce, 1, (2.0, 1.8)),
    Movement("arm_hit", _arm_hit, 1, (1.5, 1.5), "big"),
    Movement("rock", _rock, 1, (2.0, 2.0)),
    Movement("toprock", _toprock, 1, (2.0, 2.0), "big"),
    Movement("body_wave", _body_wave, 1, (2.2, 2.2)),
    Movement("low_groove", _low_groove, 1, (2.0, 2.0)),
    Movement("freeze_hit", _freeze_hit, 2, (2.0, 2.0), "big"),
)
