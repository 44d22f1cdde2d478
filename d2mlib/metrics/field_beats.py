"""The field's Beat Align Scores exactly: FACT's (AIST++) and Bailando's, in seconds.

Both scores compare kinematic beats (local minima of joint speed) with musical beats through
a Gaussian of the distance to the nearest beat, but they differ in every other choice:

=================  ==========================================  =================================
                   FACT (Li et al. 2021; mint)                 Bailando (Siyao et al. 2022)
=================  ==========================================  =================================
speed              sum over joints of |p[i] - p[i-1]|          mean over joints of |p[k+1]-p[k]|
smoothing          none                                        Gaussian, sigma 5 frames
minimum            strictly below every sample within          strictly below both neighbours
                   +-10 frames (argrelextrema order 10)        (argrelextrema order 1)
averaged over      kinematic beats (nearest musical beat)      musical beats (nearest kin. beat)
Gaussian           exp(-d^2 / (2 sigma^2)), sigma 3 frames     exp(-d^2 / (2 * 9)): sigma 3 frames
no kin. beats      0.0                                         (upstream crashes) 0.0 here
=================  ==========================================  =================================

Frame-rate convention: both upstream codes count frames at 60 fps (AIST++ motion and their
60 fps music features). Here every width is in seconds, the upstream frame counts divided by
60: the FACT window 10/60 s, the Bailando smoothing 5/60 s, sigma 3/60 s, so the score of a
dance does not depend on the rate it is sampled at (up to sampling). A frame's neighbours
"within the window" are those at most ``window`` seconds away.

Where upstream puts a speed sample. A displacement ``p[k+1] - p[k]`` describes the interval
between frames k and k+1. Upstream stamps it on a frame (FACT: frame k+1, with a zero speed
invented for frame 0; Bailando: frame k). With ``upstream=False`` the sample sits at the
interval's midpoint (k + 0.5) / fps, which matters at 15 fps: half a frame is 33 ms against a
sigma of 50 ms. ``upstream=True`` reproduces the upstream stamping, including FACT's zero at
frame 0, which hides every beat within the window of the start.

The Gaussian. FACT's code and Bailando's both divide by 2 sigma^2. ``denominator="sigma2"``
gives the variant exp(-d^2 / sigma^2), for readers of the FACT paper's equation who read it
without the 2; it scores every imperfect alignment lower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from d2mlib import skeleton
from d2mlib.errors import MetricError
from d2mlib.metrics.field_features import _check_fps, _dance

UPSTREAM_FPS = 60.0
"""The frame rate the upstream frame counts refer to (AIST++)."""
FACT_WINDOW = 10 / UPSTREAM_FPS
"""Seconds either side a FACT kinematic beat must be the strict minimum over (10 frames at 60 fps)."""
FACT_SIGMA = 3 / UPSTREAM_FPS
"""Seconds: FACT's Gaussian width (3 frames at 60 fps)."""
BAILANDO_SMOOTH = 5 / UPSTREAM_FPS
"""Seconds: the width of the Gaussian Bailando smooths joint speed with (5 frames at 60 fps)."""
BAILANDO_SIGMA = 3 / UPSTREAM_FPS
"""Seconds: Bailando's Gaussian width (the code's 9 = 3 frames squared at 60 fps)."""


def _times(times: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(times, dtype=np.float64)
    if arr.ndim != 1:
        raise MetricError(f"{name}: expected a 1-D array of times in seconds, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise MetricError(f"{name}: beat times hold NaN or infinite values")
    return np.sort(arr)


def _nearest(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest of the sorted, non-empty targets."""
    idx = np.searchsorted(targets, points)
    left = targets[np.clip(idx - 1, 0, targets.size - 1)]
    right = targets[np.clip(idx, 0, targets.size - 1)]
    return np.minimum(np.abs(points - left), np.abs(points - right))


def _gauss(d: np.ndarray, sigma: float, denominator: str) -> np.ndarray:
    if not (np.isfinite(sigma) and sigma > 0):
        raise MetricError(f"BAS sigma must be positive seconds, got {sigma}")
    if denominator not in ("2sigma2", "sigma2"):
        raise MetricError(f"unknown BAS denominator {denominator!r}: expected 2sigma2 or sigma2")
    scale = 2.0 * sigma**2 if denominator == "2sigma2" else sigma**2
    return np.exp(-(d**2) / scale)


def strict_minima(signal: np.ndarray, order: int) -> np.ndarray:
    """Indices i (not the ends) whose value is strictly below every other within ``order`` samples.

    At the ends the neighbourhood is clipped to the samples that exist, as
    ``scipy.signal.argrelextrema(signal, np.less, order=order)`` does. Being strict, a tie
    finds nothing: a symmetric stop exactly on a frame gives two equal interval speeds and no
    beat, upstream as here.
    """
    s = np.asarray(signal, dtype=np.float64)
    if s.ndim != 1:
        raise MetricError(f"strict_minima: expected a 1-D signal, got {s.shape}")
    if order < 1 or s.size < 3:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(argrelextrema(s, np.less, order=int(order))[0], dtype=np.int64)


def fact_kinematic_beats(
    poses: np.ndarray,
    fps: float = skeleton.FPS,
    window: float = FACT_WINDOW,
    upstream: bool = False,
) -> np.ndarray:
    """FACT's kinematic beats of one dance (T, 14, 2) in seconds.

    Speed = sum over joints of the frame-to-frame displacement's length; a beat is a sample
    whose speed is strictly below every other sample at most ``window`` seconds away (FACT:
    10 frames at 60 fps); the first and last samples never count. See the module docstring
    for where a sample sits in time and what ``upstream=True`` changes.
    """
    x = _dance(poses, "fact_kinematic_beats poses", min_frames=2)
    fps = _check_fps(fps, "fact_kinematic_beats")
    if not (np.isfinite(window) and window > 0):
        raise MetricError(f"fact_kinematic_beats: window must be positive seconds, got {window}")
    speed = np.linalg.norm(np.diff(x, axis=0), axis=-1).sum(axis=-1)  # (T-1,)
    if upstream:
        speed = np.concatenate([[0.0], speed])  # frame 0 gets zero speed, frame i = p[i]-p[i-1]
        stamps = np.arange(speed.size, dtype=np.float64)
    else:
        stamps = np.arange(speed.size) + 0.5
    order = int(np.floor(window * fps + 1e-9))
    return stamps[strict_minima(speed, order)] / fps


def bailando_kinematic_beats(
    poses: np.ndarray,
    fps: float = skeleton.FPS,
    smooth: float = BAILANDO_SMOOTH,
    upstream: bool = False,
) -> np.ndarray:
    """Bailando's kinematic beats of one dance (T, 14, 2) in seconds.

    Speed = mean over joints of the frame-to-frame displacement's length, smoothed by a
    Gaussian of ``smooth`` seconds (``scipy.ndimage`` defaults: reflected ends, truncated at
    4 sigma; Bailando: 5 frames at 60 fps); a beat is a sample strictly below both neighbours
    (``argrelextrema`` order 1). Samples sit at interval midpoints, or on frame k with
    ``upstream=True``.
    """
    x = _dance(poses, "bailando_kinematic_beats poses", min_frames=2)
    fps = _check_fps(fps, "bailando_kinematic_beats")
    if not (np.isfinite(smooth) and smooth >= 0):
        raise MetricError(f"bailando_kinematic_beats: smooth must be >= 0 seconds, got {smooth}")
    speed = np.linalg.norm(np.diff(x, axis=0), axis=-1).mean(axis=-1)
    if smooth > 0:
        speed = gaussian_filter1d(speed, smooth * fps)
    stamps = np.arange(speed.size) + (0.0 if upstream else 0.5)
    return stamps[strict_minima(speed, 1)] / fps


def fact_bas(
    kinematic: np.ndarray,
    music: np.ndarray,
    sigma: float = FACT_SIGMA,
    denominator: str = "2sigma2",
) -> float:
    """FACT's Beat Align Score: mean over kinematic beats of the Gaussian of the nearest music beat.

    0.0 without kinematic beats (as upstream) and 0.0 without musical beats.
    """
    kin = _times(kinematic, "kinematic beats")
    mus = _times(music, "musical beats")
    if kin.size == 0 or mus.size == 0:
        _gauss(np.zeros(0), sigma, denominator)  # still validate the parameters
        return 0.0
    return float(np.mean(_gauss(_nearest(kin, mus), sigma, denominator)))


def bailando_bas(
    kinematic: np.ndarray,
    music: np.ndarray,
    sigma: float = BAILANDO_SIGMA,
    denominator: str = "2sigma2",
) -> float:
    """Bailando's Beat Align Score: mean over music beats of the Gaussian of the nearest kinematic beat.

    NaN without musical beats (upstream divides by zero), 0.0 without kinematic beats
    (upstream raises on an empty minimum).
    """
    kin = _times(kinematic, "kinematic beats")
    mus = _times(music, "musical beats")
    _gauss(np.zeros(0), sigma, denominator)
    if mus.size == 0:
        return float("nan")
    if kin.size == 0:
        return 0.0
    return float(np.mean(_gauss(_nearest(mus, kin), sigma, denominator)))


def _music_within(music: np.ndarray, frames: int, fps: float, name: str) -> np.ndarray:
    """Musical beats that fall within the dance (upstream truncates the music to the motion)."""
    mus = _times(music, name)
    return mus[mus <= (frames - 1) / fps + 1e-9]


def fact_beat_align_score(
    poses: np.ndarray,
    music_beats: np.ndarray,
    fps: float = skeleton.FPS,
    upstream: bool = False,
    denominator: str = "2sigma2",
) -> float:
    """FACT's BAS of one dance against its music's beat times (seconds), beats after the end dropped."""
    x = _dance(poses, "fact_beat_align_score poses", min_frames=2)
    kin = fact_kinematic_beats(x, fps, upstream=upstream)
    mus = _music_within(music_beats, x.shape[0], fps, "musical beats")
    return fact_bas(kin, mus, FACT_SIGMA, denominator)


def bailando_beat_align_score(
    poses: np.ndarray,
    music_beats: np.ndarray,
    fps: float = skeleton.FPS,
    upstream: bool = False,
    denominator: str = "2sigma2",
) -> float:
    """Bailando's BAS of one dance against its music's beat times (seconds).

    Musical beats after (T - 2) / fps are dropped: upstream keeps music frames below T - 1, the
    number of speed samples.
    """
    x = _dance(poses, "bailando_beat_align_score poses", min_frames=2)
    kin = bailando_kinematic_beats(x, fps, upstream=upstream)
    mus = _music_within(music_beats, x.shape[0] - 1, fps, "musical beats")
    return bailando_bas(kin, mus, BAILANDO_SIGMA, denominator)


def field_beat_scores(
    dances: Sequence[np.ndarray] | np.ndarray,
    music_beats: Sequence[np.ndarray],
    fps: float = skeleton.FPS,
) -> dict[str, float]:
    """Dance-averaged FACT and Bailando BAS of a set, corrected and upstream (four numbers)."""
    items = list(dances)
    beats = list(music_beats)
    if not items:
        raise MetricError("field_beat_scores: empty set (no dances)")
    if len(items) != len(beats):
        raise MetricError(
            f"mismatched lengths: {len(items)} dances but {len(beats)} music beat arrays"
        )
    rows: dict[str, list[float]] = {
        "bas_fact": [],
        "bas_fact_upstream": [],
        "bas_bailando": [],
        "bas_bailando_upstream": [],
    }
    for dance, mb in zip(items, beats, strict=True):
        for up in (False, True):
            suffix = "_upstream" if up else ""
            rows["bas_fact" + suffix].append(fact_beat_align_score(dance, mb, fps, upstream=up))
            rows["bas_bailando" + suffix].append(
                bailando_beat_align_score(dance, mb, fps, upstream=up)
            )
    return {
        k: float(np.nanmean(v)) if np.any(np.isfinite(v)) else float("nan") for k, v in rows.items()
    }
