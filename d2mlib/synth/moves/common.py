"""What every style's movement vocabulary is built from: the Movement record and pose helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from d2mlib.synth.body import P

MoveFn = Callable[[int, np.random.Generator, np.ndarray, float], np.ndarray]
FAMILIES: tuple[str, ...] = ("groove", "big")  # breaks and verses dance "groove", choruses "big"


@dataclass(frozen=True)
class Movement:
    """A named movement: keyframe poses on beats, how many beats apart, easing and family."""

    name: str
    keys: MoveFn  # (n keyframes, rng, base pose, side +-1) -> (n, 15) pose parameters
    stride: int = 1  # beats between keyframes
    ease: tuple[float, float] = (2.0, 2.0)  # Beta(a, b) velocity profile between keyframes
    family: str = "groove"  # which sections dance it (FAMILIES)


def alt(n: int, a: float, b: float) -> np.ndarray:
    """n values alternating a, b, a, ..."""
    return np.where(np.arange(n) % 2 == 0, a, b)


def cyc(n: int, values: list[float] | tuple[float, ...]) -> np.ndarray:
    """n values cycling through `values`."""
    return np.asarray(values, dtype=float)[np.arange(n) % len(values)]


def setp(q: np.ndarray, **cols: Any) -> np.ndarray:
    """Set pose parameters (columns of q, by name) in place; returns q."""
    for name, value in cols.items():
        q[:, P[name]] = value
    return q


def keys(n: int, base: np.ndarray) -> np.ndarray:
    """n copies of the base pose."""
    return np.repeat(base[None], n, axis=0)


def arms(q: np.ndarray, sh: Any, el: Any, side: float = 0.0, sh2: Any = None) -> np.ndarray:
    """Set both arms (sh2 for the other arm; side picks which is 'first')."""
    other = sh if sh2 is None else sh2
    first, second = ("r", "l") if side <= 0 else ("l", "r")
    return setp(q, **{first + "sh": sh, second + "sh": other, first + "el": el, second + "el": el})
