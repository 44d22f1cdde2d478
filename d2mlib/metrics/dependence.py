"""Does a dance follow its own music beyond style and beats? Music-movement dependence.

Over half-unit windows (``WINDOW`` = 16 frames) of one dance and its music: the correlation
between the music's mean log energy (audio feature ``ENERGY_FEATURE``) and the dance's log
mean joint speed, each centred within the clip. The synthetic world links the two (louder
sections, bigger and faster movement); a dance that ignores its music scores about 0, as
does a dance paired with another clip's music (the control the data card reports).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from d2mlib import skeleton
from d2mlib.errors import MetricError

WINDOW = 16  # frames per window (half a unit)
ENERGY_FEATURE = 13  # log(1 + frame energy) among the 28 audio features
MIN_WINDOWS = 3  # fewer windows than this give no correlation (NaN)


def window_series(poses: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per whole window of a dance and its music: mean log energy, log mean joint speed."""
    poses = np.asarray(poses, dtype=np.float64)
    features = np.asarray(features, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (14, 2):
        raise MetricError(f"window_series: poses must be (T, 14, 2), got {poses.shape}")
    if features.ndim != 2 or features.shape[1] <= ENERGY_FEATURE:
        raise MetricError(f"window_series: features must be (T, 28), got {features.shape}")
    n = min(len(poses), len(features)) // WINDOW
    speed = skeleton.joint_speed(poses[: n * WINDOW]) if n else np.zeros(0)
    music = features[: n * WINDOW, ENERGY_FEATURE].reshape(n, WINDOW).mean(1)
    move = np.log(np.asarray(speed).reshape(n, WINDOW).mean(1) + 1e-3) if n else np.zeros(0)
    return music, move


def correlation(
    music: Sequence[np.ndarray], move: Sequence[np.ndarray], pairs: np.ndarray
) -> float:
    """Pearson correlation of within-clip-centred series, dance i with music pairs[i] (pooled)."""
    xs, ys = [], []
    for i, j in enumerate(pairs):
        n = min(len(move[i]), len(music[j]))
        if n < 2:
            continue
        xs.append(music[j][:n] - music[j][:n].mean())
        ys.append(move[i][:n] - move[i][:n].mean())
    if not xs:
        return float("nan")
    x, y = np.concatenate(xs), np.concatenate(ys)
    denom = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denom) if denom > 0 else float("nan")


def clip_dependence(dances: Sequence[np.ndarray], audio: Sequence[np.ndarray]) -> np.ndarray:
    """Music-movement dependence of each dance with its own music (NaN under MIN_WINDOWS)."""
    if len(dances) != len(audio):
        raise MetricError(f"clip_dependence: {len(dances)} dances for {len(audio)} pieces")
    out = np.full(len(dances), np.nan)
    for i, (dance, feats) in enumerate(zip(dances, audio, strict=True)):
        music, move = window_series(dance, feats)
        if len(music) >= MIN_WINDOWS:
            out[i] = correlation([music], [move], np.zeros(1, dtype=int))
    return out
