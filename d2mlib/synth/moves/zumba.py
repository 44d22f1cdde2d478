"""The zumba vocabulary."""

from __future__ import annotations

import numpy as np

from d2mlib.synth.moves.common import Movement, alt, arms, cyc, keys, setp


# zumba: big, fast
def _hip_swing(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    amp = rng.uniform(0.06, 0.09)
    q = setp(keys(n, base), dx=alt(n, amp * side, -amp * side))
    q = setp(q, lean=alt(n, -0.16 * side, 0.16 * side))
    q = setp(q, rknee=alt(n, 0.1, 0.5), lknee=alt(n, 0.5, 0.1))
    return arms(q, alt(n, 1.3, 0.5), 0.8, side, alt(n, 0.5, 1.3))


def _arm_pump(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), rknee=alt(n, 0.1, 0.55), lknee=alt(n, 0.1, 0.55))
    return arms(q, alt(n, 2.75, 0.7), alt(n, 0.1, 1.7))


def _side_step(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    travel = side * cyc(n, (0.0, 0.06, 0.12, 0.06, 0.0, -0.06, -0.12, -0.06))
    q = setp(keys(n, base), dx=travel, rhip=alt(n, 0.35, 0.08), lhip=alt(n, 0.35, 0.08))
    return arms(q, alt(n, 1.5, 0.4), alt(n, 0.1, 0.9))


def _grapevine(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    travel = side * cyc(n, (0.0, 0.05, 0.1, 0.12, 0.1, 0.05, 0.0, -0.02))
    q = setp(keys(n, base), dx=travel)
    q = setp(q, rhip=cyc(n, (0.3, -0.12, 0.3, 0.1)), lhip=cyc(n, (0.1, 0.3, -0.12, 0.3)))
    q = setp(q, lean=cyc(n, (0.08, 0.0, -0.08, 0.0)) * side, twist=cyc(n, (1.0, 0.75)))
    return arms(q, cyc(n, (1.2, 0.4, 1.2, 2.4)), 0.7, side, cyc(n, (0.4, 1.2, 2.4, 1.2)))


def _knee_lift(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    k = np.arange(n)
    up = k % 2 == 0  # lift, step down, lift the other knee, step down
    right = up & (((k // 2) % 2 == 0) == (side < 0))
    left = up & ~right
    q = keys(n, base)
    q = setp(q, rlift=np.where(right, 1.3, 0.0), llift=np.where(left, 1.3, 0.0))
    q = setp(q, rknee=np.where(right, 1.4, 0.25), lknee=np.where(left, 1.4, 0.25))
    q = setp(q, lean=np.where(right, 0.1, np.where(left, -0.1, 0.0)), dy=np.where(up, -0.02, 0))
    q = setp(q, rsh=np.where(right, 1.4, np.where(left, 0.9, 2.2)))
    q = setp(q, lsh=np.where(left, 1.4, np.where(right, 0.9, 2.2)))
    return setp(q, rel=np.where(right, 0.3, 1.6), lel=np.where(left, 0.3, 1.6))


def _shimmy(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), lean=alt(n, 0.13 * side, -0.13 * side))
    q = setp(q, twist=alt(n, 0.8, 1.0), rknee=0.4, lknee=0.4, dx=alt(n, 0.02, -0.02) * side)
    return arms(q, 1.5, alt(n, 0.35, -0.25), side, 1.5)


def _jumping_jack(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), rhip=alt(n, 0.38, 0.06), lhip=alt(n, 0.38, 0.06))
    q = setp(q, dy=alt(n, -0.05, 0.0))
    return arms(q, alt(n, 2.9, 0.3), 0.2)


MOVES: tuple[Movement, ...] = (
    Movement("hip_swing", _hip_swing, 1, (1.8, 1.8)),
    Movement("arm_pump", _arm_pump, 1, (1.8, 1.8), "big"),
    Movement("side_step", _side_step, 1, (1.8, 1.8)),
    Movement("grapevine", _grapevine, 1, (1.8, 1.8), "big"),
    Movement("knee_lift", _knee_lift, 1, (1.8, 1.8), "big"),
    Movement("shimmy", _shimmy, 1, (1.8, 1.8)),
    Movement("jumping_jack", _jumping_jack, 1, (1.8, 1.8), "big"),
)
