"""The ballet vocabulary."""

from __future__ import annotations

import numpy as np

from d2mlib.synth.body import P
from d2mlib.synth.moves.common import Movement, alt, arms, cyc, keys, setp


# ballet: extended, smooth, slow
def _port_de_bras(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    pos = [(0.35, -0.4), (1.0, -0.6), (1.55, -0.15), (2.7, -0.5), (1.55, -0.15), (1.0, -0.6)]
    start = int(rng.integers(len(pos)))
    idx = (np.arange(n) + start) % len(pos)
    sh = np.array([pos[i][0] for i in idx]) + rng.normal(0, 0.05, n)
    el = np.array([pos[i][1] for i in idx])
    q = arms(keys(n, base), sh, el)
    return setp(q, head=alt(n, 0.12 * side, -0.08 * side), lean=alt(n, 0.03, -0.03))


def _plie(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    depth = rng.uniform(0.7, 1.0)
    q = keys(n, base)
    knee = alt(n, depth, 0.0)
    q = setp(q, rknee=knee, lknee=knee, rhip=0.12, lhip=0.12)
    return arms(q, alt(n, 1.5, 0.9), alt(n, -0.15, -0.6))


def _releve(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), dy=alt(n, -0.07, 0.0), head=alt(n, -0.05, 0.05))
    return arms(q, alt(n, 2.75, 1.0), alt(n, -0.5, -0.6))


def _arabesque(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    up = np.arange(n) % 2 == 0
    sides = np.where((np.arange(n) // 2) % 2 == 0, side, -side)
    lift = rng.uniform(0.9, 1.3)
    q = keys(n, base)
    q[:, P["rhip"]] = np.where(up & (sides < 0), lift, 0.05)
    q[:, P["lhip"]] = np.where(up & (sides > 0), lift, 0.05)
    q[:, P["lean"]] = np.where(up, -0.15 * sides, 0.0)
    q[:, P["rsh"]] = np.where(up, np.where(sides < 0, 1.6, 2.5), 0.9)
    q[:, P["lsh"]] = np.where(up, np.where(sides > 0, 1.6, 2.5), 0.9)
    return setp(q, rel=-0.2, lel=-0.2)


def _balance_sway(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    q = setp(keys(n, base), dx=alt(n, 0.05 * side, -0.05 * side))
    q = setp(q, lean=alt(n, -0.09 * side, 0.09 * side), head=alt(n, 0.1, -0.1))
    return arms(q, alt(n, 1.35, 1.8), -0.15, side, alt(n, 1.8, 1.35))


def _tendu(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    out = rng.uniform(0.3, 0.45)
    q = keys(n, base)
    phase = np.arange(n) % 4
    q[:, P["rhip"]] = np.where(phase == (0 if side < 0 else 2), out, 0.04)
    q[:, P["lhip"]] = np.where(phase == (2 if side < 0 else 0), out, 0.04)
    return arms(q, cyc(n, (1.55, 1.3, 1.55, 1.3)), -0.15)


def _pirouette(n: int, rng: np.random.Generator, base: np.ndarray, side: float) -> np.ndarray:
    turned = np.arange(n) % 2 == 0
    q = setp(keys(n, base), twist=np.where(turned, 0.45, 1.0), dy=np.where(turned, -0.06, 0.0))
    leg = "r" if side < 0 else "l"
    q = setp(
        q, **{leg + "lift": np.where(turned, 0.9, 0.0), leg + "knee": np.where(turned, 0.7, 0)}
    )
    return arms(q, np.where(turned, 1.0, 1.55), np.where(turned, -0.7, -0.15))


MOVES: tuple[Movement, ...] = (
    Movement("port_de_bras", _port_de_bras, 2),
    Movement("plie", _plie, 2),
    Movement("releve", _releve, 2, family="big"),
    Movement("arabesque", _arabesque, 2, family="big"),
    Movement("balance_sway", _balance_sway, 2),
    Movement("tendu", _tendu, 1),
    Movement("pirouette", _pirouette, 2, family="big"),
)
