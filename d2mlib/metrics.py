"""The paper's metrics and the later field's, on arrays of poses, features and beat times.

The paper's six (Lee et al. 2019, section 5): FID, Diversity and Multimodality on the
embedding of a dance style classifier (:class:`DanceClassifier`), Style consistency (how
often that classifier gives a generated dance its music's style), Beat coverage and Beat
hit rate. The field's (AIST++/FACT, Bailando, EDGE): the Beat Align Score in both
directions, FID_k and FID_g on hand-made kinetic and geometric features of the 2-D skeleton,
and Diversity on those features.

Conventions. A *dance* is an array (T, 14, 2) of poses in pixels at ``fps`` frames per
second (or (T, 28) pose vectors); a *set* of dances is an array (N, T, 14, 2) or a list of
dances of any lengths. Beat times are in seconds. Every function rejects malformed input
(an empty set, mismatched lengths, NaN values) with :class:`d2mlib.errors.MetricError`
naming the problem.

Names in the evaluation table (`evaluate`, one row per system, seed and metric):

=================  ==========================================================================
fid                Frechet distance, classifier embeddings, reference split vs the system
diversity          mean pairwise embedding distance, one dance per piece of music
multimodality      mean pairwise embedding distance, several dances for the same music
style_consistency  fraction of dances the classifier gives their music's style
beat_coverage      kinematic beats / musical beats (totals over the set)
beat_hit_rate      kinematic beats within ``HIT_TOLERANCE`` of a musical beat / kinematic beats
bas_kinematic      Beat Align Score averaged over kinematic beats (AIST++/FACT direction)
bas_music          Beat Align Score averaged over musical beats (Bailando direction)
fid_k, fid_g       Frechet distance of kinetic / geometric features, normalised by the reference
diversity_k, _g    mean pairwise distance of those normalised features
=================  ==========================================================================

Defaults (module constants, all parameters): kinematic beats are minima of the mean joint
speed smoothed over ``KIN_SMOOTHING`` = 3 frames with at least ``KIN_MIN_MOTION`` = 5 px/s
of motion around them; a hit is within ``HIT_TOLERANCE`` = 0.1 s; the Beat Align Score's
sigma is ``BAS_SIGMA`` = 0.1 s. A frozen dance has no kinematic beats: its coverage, hit
rate and Beat Align Scores are 0.0 (not a division by zero); music without beats gives NaN
coverage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from scipy.spatial.distance import pdist
from torch import nn

from d2mlib import skeleton
from d2mlib import train as train_lib
from d2mlib._io import atomic_path, write_text
from d2mlib.errors import CheckpointError, ConfigError, D2MError, MetricError
from d2mlib.synth import STYLES

if TYPE_CHECKING:
    from d2mlib.config import Config
    from d2mlib.data import FeatureStore
    from d2mlib.generate import DanceGenerator

# ---------------------------------------------------------------------------- defaults

KIN_SMOOTHING = 3
"""Frames of the centred moving average applied to the mean joint speed before looking for minima."""
KIN_MIN_MOTION = 5.0
"""Pixels per second: a speed minimum is a kinematic beat only if the motion around it exceeds this."""
HIT_TOLERANCE = 0.1
"""Seconds: a kinematic beat within this distance of a musical beat is a hit (1.5 frames at 15 fps)."""
BAS_SIGMA = 0.1
"""Seconds: the width of the Beat Align Score's Gaussian (AIST++ uses 3 frames at 60 fps, 0.05 s;
EDGE/Bailando-style code often uses 3 frames at 30 fps, 0.1 s)."""
FRECHET_EPS = 1e-6
"""Added to the covariance diagonals before the matrix square root, so singular sets stay finite."""
FEATURE_STD_FLOOR = 1e-8
"""Floor on the real set's per-feature std when normalising FID_k / FID_g features."""


# ---------------------------------------------------------------------------- validation


def _fail(message: str) -> MetricError:
    return MetricError(message)


def _check_features(x: np.ndarray, name: str, min_rows: int = 1) -> np.ndarray:
    """Return `x` as float64 (N, D) or raise MetricError naming what is wrong."""
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise _fail(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise _fail(f"{name}: expected features of shape (N, D), got {arr.shape}")
    if arr.shape[0] == 0:
        raise _fail(f"{name}: empty set (no rows)")
    if arr.shape[1] == 0:
        raise _fail(f"{name}: features have dimension 0")
    if arr.shape[0] < min_rows:
        raise _fail(f"{name}: needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise _fail(
            f"{name}: holds {int(np.count_nonzero(~np.isfinite(arr)))} NaN or infinite values"
        )
    return arr.astype(np.float64, copy=False)


def check_dance(poses: np.ndarray, name: str = "dance", min_frames: int = 1) -> np.ndarray:
    """Return one dance as float64 (T, 14, 2) or raise MetricError (bad shape, NaN, too short)."""
    try:
        arr = skeleton.check_poses(poses)
    except D2MError as err:
        raise _fail(f"{name}: {err.problem}") from None
    if arr.ndim != 3:
        raise _fail(f"{name}: expected one dance of shape (T, 14, 2), got {arr.shape}")
    if arr.shape[0] < min_frames:
        raise _fail(f"{name}: needs at least {min_frames} frames, got {arr.shape[0]}")
    return arr.astype(np.float64)


def check_dance_set(
    dances: np.ndarray | Sequence[np.ndarray], name: str = "dances", min_frames: int = 1
) -> list[np.ndarray]:
    """Return a set of dances as a list of float64 (T_i, 14, 2) arrays or raise MetricError."""
    if isinstance(dances, np.ndarray):
        if dances.ndim < 3:
            raise _fail(f"{name}: expected a set of dances (N, T, 14, 2), got {dances.shape}")
        items = list(dances)
    else:
        items = list(dances)
    if not items:
        raise _fail(f"{name}: empty set (no dances)")
    return [check_dance(d, f"{name}[{i}]", min_frames) for i, d in enumerate(items)]


def _check_times(times: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(times, dtype=np.float64)
    if arr.ndim != 1:
        raise _fail(f"{name}: expected a 1-D array of beat times in seconds, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _fail(f"{name}: beat times hold NaN or infinite values")
    return np.sort(arr)


def _check_same_length(a: Sequence, b: Sequence, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise _fail(f"mismatched lengths: {len(a)} {name_a} but {len(b)} {name_b}")


# ---------------------------------------------------------------------------- Frechet distance


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = FRECHET_EPS,
) -> float:
    """Frechet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``, with the trace of the square root taken
    as the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    ``S1^(1/2) S2 S1^(1/2)`` (same spectrum as ``S1 S2``): real and finite even for singular
    covariances, which get ``eps`` on the diagonal first. Tiny negative results from rounding
    are clipped to 0.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise _fail(
            f"mismatched Gaussian shapes: means {mu1.shape}, {mu2.shape}, "
            f"covariances {s1.shape}, {s2.shape}"
        )
    for arr, nm in ((mu1, "mu1"), (mu2, "mu2"), (s1, "sigma1"), (s2, "sigma2")):
        if not np.all(np.isfinite(arr)):
            raise _fail(f"{nm} holds NaN or infinite values")
    s1 = 0.5 * (s1 + s1.T) + eps * np.eye(d)
    s2 = 0.5 * (s2 + s2.T) + eps * np.eye(d)
    w1, v1 = np.linalg.eigh(s1)
    root1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh(0.5 * (middle + middle.T))
    tr_covmean = float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid_from_features(real: np.ndarray, fake: np.ndarray, eps: float = FRECHET_EPS) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D)."""
    real = _check_features(real, "real features", min_rows=2)
    fake = _check_features(fake, "generated features", min_rows=2)
    if real.shape[1] != fake.shape[1]:
        raise _fail(
            f"mismatched feature dimensions: real {real.shape[1]}, generated {fake.shape[1]}"
        )
    return frechet_distance(
        real.mean(axis=0),
        np.cov(real, rowvar=False),
        fake.mean(axis=0),
        np.cov(fake, rowvar=False),
        eps=eps,
    )


# ---------------------------------------------------------------------------- pairwise distances


def _mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows of x (N >= 2)."""
    return float(pdist(x, metric="euclidean").mean())


def diversity(features: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the embeddings (N, D) of dances for different music.

    Identical dances score exactly 0. Needs at least 2 dances.
    """
    x = _check_features(features, "diversity features", min_rows=2)
    x = x - x.mean(axis=0)  # distances are translation invariant; centring helps the rounding
    return _mean_pairwise_distance(x)


def multimodality(groups: np.ndarray | Sequence[np.ndarray]) -> float:
    """Mean pairwise distance between dances generated for the same music and initial pose.

    `groups` is (M, K, D) or a list of M arrays (K_m, D): the embeddings of K_m >= 2 dances
    per piece of music (different noise). The within-group mean pairwise distances are
    averaged over groups, weighting each piece of music equally.
    """
    items = list(groups)
    if not items:
        raise _fail("multimodality: empty set (no groups)")
    dims = set()
    values = []
    for i, g in enumerate(items):
        x = _check_features(g, f"multimodality group {i}", min_rows=2)
        dims.add(x.shape[1])
        values.append(_mean_pairwise_distance(x - x.mean(axis=0)))
    if len(dims) != 1:
        raise _fail(f"multimodality: groups have mismatched feature dimensions {sorted(dims)}")
    return float(np.mean(values))


def style_consistency(predicted: np.ndarray, target: np.ndarray) -> float:
    """Fraction of dances whose predicted style index equals their music's style index."""
    pred = np.asarray(predicted)
    tgt = np.asarray(target)
    if pred.ndim != 1 or tgt.ndim != 1:
        raise _fail(
            f"style_consistency: expected 1-D label arrays, got {pred.shape} and {tgt.shape}"
        )
    if pred.size == 0:
        raise _fail("style_consistency: empty set (no predictions)")
    _check_same_length(pred, tgt, "predictions", "target styles")
    for arr, nm in ((pred, "predictions"), (tgt, "target styles")):
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
                raise _fail(f"style_consistency: {nm} must be finite integers")
            if not np.all(arr == np.round(arr)):
                raise _fail(f"style_consistency: {nm} must be integer style indices")
    return float(np.mean(pred.astype(np.int64) == tgt.astype(np.int64)))


# ---------------------------------------------------------------------------- kinetic / geometric


def kinetic_features(poses: np.ndarray, fps: float = skeleton.FPS) -> np.ndarray:
    """Kinetic features of one dance (T >= 3, 14, 2) in pixels: a vector of 42 values.

    Per joint (in joint order): the mean horizontal kinetic energy ``mean(vx^2) / 2``, the
    mean vertical kinetic energy ``mean(vy^2) / 2`` and the mean acceleration energy
    ``mean(|a|^2)``, with ``v = dx / dt`` and ``a = dv / dt`` both divided by the frame time
    ``dt = 1 / fps`` (pixels per second and per second squared), so the features mean the
    same at any frame rate. Layout: [14 horizontal, 14 vertical, 14 acceleration].
    """
    x = check_dance(poses, "kinetic_features poses", min_frames=3)
    if not (np.isfinite(fps) and fps > 0):
        raise _fail(f"kinetic_features: fps must be positive, got {fps}")
    dt = 1.0 / fps
    v = np.diff(x, axis=0) / dt
    a = np.diff(v, axis=0) / dt
    ke_h = 0.5 * np.mean(v[..., 0] ** 2, axis=0)
    ke_v = 0.5 * np.mean(v[..., 1] ** 2, axis=0)
    acc = np.mean(np.sum(a**2, axis=-1), axis=0)
    return np.concatenate([ke_h, ke_v, acc])


_J = skeleton.JOINT
# distances between joint groups, divided by the torso length (neck to mid-hip)
_GEOM_DISTANCES: tuple[tuple[str, str], ...] = (
    ("l_wrist", "r_wrist"),
    ("l_ankle", "r_ankle"),
    ("l_knee", "r_knee"),
    ("r_wrist", "nose"),
    ("l_wrist", "nose"),
    ("r_wrist", "r_hip"),
    ("l_wrist", "l_hip"),
    ("r_ankle", "r_hip"),
    ("l_ankle", "l_hip"),
    ("r_wrist", "r_ankle"),
    ("l_wrist", "l_ankle"),
)
# joint angles (radians, 0..pi) at the middle joint
_GEOM_ANGLES: tuple[tuple[str, str, str], ...] = (
    ("r_shoulder", "r_elbow", "r_wrist"),
    ("l_shoulder", "l_elbow", "l_wrist"),
    ("neck", "r_shoulder", "r_elbow"),
    ("neck", "l_shoulder", "l_elbow"),
    ("r_hip", "r_knee", "r_ankle"),
    ("l_hip", "l_knee", "l_ankle"),
    ("neck", "r_hip", "r_knee"),
    ("neck", "l_hip", "l_knee"),
)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    u = a - b
    w = c - b
    cross = u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]
    dot = np.sum(u * w, axis=-1)
    return np.abs(np.arctan2(cross, dot))


def geometric_features(poses: np.ndarray) -> np.ndarray:
    """Geometric features of one dance (T, 14, 2): per-frame relations summarised over time.

    Per frame: 11 distances between joint groups (hands, feet, knees, hands to head, hips and
    feet), 3 heights (each wrist above the neck, the hips above the lower ankle) and a foot
    lift (ankle height difference), all divided by the dance's median torso length (neck to
    mid-hip) so that body size and camera scale cancel; 8 joint angles (elbows, shoulders,
    knees, hips) and the torso's lean from vertical. Each of these 24 signals contributes its
    mean and std over time: a vector of 48 values. Like AIST++'s geometric features these
    describe poses, not their order in time (shuffling frames leaves them unchanged).
    """
    x = check_dance(poses, "geometric_features poses")
    mid_hip = 0.5 * (x[:, _J["r_hip"]] + x[:, _J["l_hip"]])
    torso_vec = x[:, _J["neck"]] - mid_hip
    torso = float(np.median(np.linalg.norm(torso_vec, axis=-1)))
    scale = max(torso, 1e-6)
    signals = [
        np.linalg.norm(x[:, _J[a]] - x[:, _J[b]], axis=-1) / scale for a, b in _GEOM_DISTANCES
    ]
    y = x[..., 1]  # image y grows downwards: height above = smaller y
    signals.append((y[:, _J["neck"]] - y[:, _J["r_wrist"]]) / scale)
    signals.append((y[:, _J["neck"]] - y[:, _J["l_wrist"]]) / scale)
    low_ankle = np.maximum(y[:, _J["r_ankle"]], y[:, _J["l_ankle"]])
    signals.append((low_ankle - mid_hip[:, 1]) / scale)
    signals.append(np.abs(y[:, _J["r_ankle"]] - y[:, _J["l_ankle"]]) / scale)
    signals.extend(_angle(x[:, _J[a]], x[:, _J[b]], x[:, _J[c]]) for a, b, c in _GEOM_ANGLES)
    signals.append(np.arctan2(torso_vec[:, 0], -torso_vec[:, 1]))  # 0 = upright
    s = np.stack(signals, axis=-1)
    return np.concatenate([s.mean(axis=0), s.std(axis=0)])


def feature_matrix(
    dances: np.ndarray | Sequence[np.ndarray], kind: str, fps: float = skeleton.FPS
) -> np.ndarray:
    """Stack kinetic ("k") or geometric ("g") features of a set of dances into (N, D)."""
    items = check_dance_set(dances, f"{kind} feature dances", min_frames=3 if kind == "k" else 1)
    if kind == "k":
        return np.stack([kinetic_features(d, fps) for d in items])
    if kind == "g":
        return np.stack([geometric_features(d) for d in items])
    raise _fail(f"unknown feature kind {kind!r}: expected 'k' (kinetic) or 'g' (geometric)")


def normalise_by_real(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise both feature sets by the real set's per-feature mean and std."""
    real = _check_features(real, "real features")
    fake = _check_features(fake, "generated features")
    if real.shape[1] != fake.shape[1]:
        raise _fail(
            f"mismatched feature dimensions: real {real.shape[1]}, generated {fake.shape[1]}"
        )
    mean = real.mean(axis=0)
    std = np.maximum(real.std(axis=0), FEATURE_STD_FLOOR)
    return (real - mean) / std, (fake - mean) / std


def fid_k(
    real: np.ndarray | Sequence[np.ndarray],
    fake: np.ndarray | Sequence[np.ndarray],
    fps: float = skeleton.FPS,
) -> float:
    """FID_k: Frechet distance between kinetic features of two dance sets, normalised by the real set."""
    r, f = normalise_by_real(feature_matrix(real, "k", fps), feature_matrix(fake, "k", fps))
    return fid_from_features(r, f)


def fid_g(
    real: np.ndarray | Sequence[np.ndarray], fake: np.ndarray | Sequence[np.ndarray]
) -> float:
    """FID_g: Frechet distance between geometric features of two dance sets, normalised by the real set."""
    r, f = normalise_by_real(feature_matrix(real, "g"), feature_matrix(fake, "g"))
    return fid_from_features(r, f)


def feature_diversity(
    real: np.ndarray | Sequence[np.ndarray],
    fake: np.ndarray | Sequence[np.ndarray],
    kind: str,
    fps: float = skeleton.FPS,
) -> float:
    """Div_k / Div_g: mean pairwise distance of the generated set's features, normalised by the real set."""
    _, f = normalise_by_real(feature_matrix(real, kind, fps), feature_matrix(fake, kind, fps))
    return diversity(f)


# ---------------------------------------------------------------------------- beats


def kinematic_beat_times(
    poses: np.ndarray,
    fps: float = skeleton.FPS,
    smoothing: int = KIN_SMOOTHING,
    min_motion: float = KIN_MIN_MOTION,
) -> np.ndarray:
    """Kinematic beats of one dance in seconds: skeleton.kinematic_beats with the metrics' defaults.

    Local minima of the mean joint speed smoothed over `smoothing` frames, kept only where the
    motion around them exceeds `min_motion` px/s: a frozen dance has none. The speed of frame
    i (central differences, skeleton.joint_speed) sits at time i / fps; each minimum is then
    refined to sub-frame precision by the vertex of the parabola through it and its two
    neighbours (at most half a frame either way), so a beat between two frames is not
    rounded to one of them.
    """
    x = check_dance(poses, "kinematic beat poses")
    if not (np.isfinite(fps) and fps > 0):
        raise _fail(f"kinematic_beat_times: fps must be positive, got {fps}")
    idx = skeleton.kinematic_beats(x, fps=fps, smoothing=smoothing, min_motion=min_motion)
    if idx.size == 0:
        return np.zeros(0, dtype=np.float64)
    speed = skeleton.smooth(skeleton.joint_speed(x, fps), smoothing)
    prev, mid, nxt = speed[idx - 1], speed[idx], speed[idx + 1]
    curv = prev - 2.0 * mid + nxt
    safe = np.where(curv > 1e-12, curv, 1.0)
    delta = np.where(curv > 1e-12, 0.5 * (prev - nxt) / safe, 0.0)
    # speed per frame (T samples) sits on the frame; per interval (T - 1) between two frames
    offset = 0.5 if speed.shape[-1] == x.shape[0] - 1 else 0.0
    return (idx + offset + np.clip(delta, -0.5, 0.5)) / fps


def _nearest_distance(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance from each of `points` to the nearest of the sorted `targets` (non-empty)."""
    idx = np.searchsorted(targets, points)
    left = targets[np.clip(idx - 1, 0, targets.size - 1)]
    right = targets[np.clip(idx, 0, targets.size - 1)]
    return np.minimum(np.abs(points - left), np.abs(points - right))


def beat_hits(kinematic: np.ndarray, music: np.ndarray, tolerance: float = HIT_TOLERANCE) -> int:
    """Number of kinematic beats within `tolerance` seconds of a musical beat."""
    kin = _check_times(kinematic, "kinematic beats")
    mus = _check_times(music, "musical beats")
    if not tolerance >= 0:
        raise _fail(f"tolerance must be >= 0 seconds, got {tolerance}")
    if kin.size == 0 or mus.size == 0:
        return 0
    return int(np.count_nonzero(_nearest_distance(kin, mus) <= tolerance + 1e-9))


def beat_coverage(kinematic: np.ndarray, music: np.ndarray) -> float:
    """Beat coverage: kinematic beats / musical beats (NaN when the music has no beats)."""
    kin = _check_times(kinematic, "kinematic beats")
    mus = _check_times(music, "musical beats")
    return float(kin.size / mus.size) if mus.size else float("nan")


def beat_hit_rate(
    kinematic: np.ndarray, music: np.ndarray, tolerance: float = HIT_TOLERANCE
) -> float:
    """Beat hit rate: kinematic beats within `tolerance` of a musical beat / kinematic beats.

    A dance without kinematic beats (a frozen dance) hits nothing: 0.0 by definition.
    """
    kin = _check_times(kinematic, "kinematic beats")
    return beat_hits(kin, music, tolerance) / kin.size if kin.size else 0.0


def beat_align_score(
    kinematic: np.ndarray, music: np.ndarray, sigma: float = BAS_SIGMA, direction: str = "kinematic"
) -> float:
    """Beat Align Score: mean of exp(-d^2 / (2 sigma^2)), sigma in seconds.

    direction="kinematic" (AIST++/FACT): average over kinematic beats of the distance to the
    nearest musical beat. direction="music" (Bailando and followers): average over musical
    beats of the distance to the nearest kinematic beat. When the beats to be reached are
    missing (no kinematic beats in "music" direction, a frozen dance, or no musical beats in
    "kinematic" direction) the score is 0.0; when the beats averaged over are missing it is
    0.0 for a frozen dance ("kinematic") and NaN for music without beats ("music").
    """
    if direction not in ("kinematic", "music"):
        raise _fail(f"unknown BAS direction {direction!r}: expected 'kinematic' or 'music'")
    if not (np.isfinite(sigma) and sigma > 0):
        raise _fail(f"BAS sigma must be positive seconds, got {sigma}")
    kin = _check_times(kinematic, "kinematic beats")
    mus = _check_times(music, "musical beats")
    over, to = (kin, mus) if direction == "kinematic" else (mus, kin)
    if over.size == 0:
        return 0.0 if direction == "kinematic" else float("nan")
    if to.size == 0:
        return 0.0
    d = _nearest_distance(over, to)
    return float(np.mean(np.exp(-(d**2) / (2.0 * sigma**2))))


def beat_metrics(
    dances: np.ndarray | Sequence[np.ndarray],
    music_beats: Sequence[np.ndarray],
    fps: float = skeleton.FPS,
    tolerance: float = HIT_TOLERANCE,
    sigma: float = BAS_SIGMA,
    smoothing: int = KIN_SMOOTHING,
    min_motion: float = KIN_MIN_MOTION,
) -> dict[str, float]:
    """Beat metrics of a set of dances, each with its music's beat times (seconds).

    Musical beats after a dance's last frame are ignored. Returns the paper's
    ``beat_coverage`` (total kinematic beats / total musical beats, NaN when the music has no
    beats) and ``beat_hit_rate`` (total hits / total kinematic beats, 0.0 when no dance moves),
    and the clip-averaged Beat Align Scores ``bas_kinematic`` (AIST++ direction) and
    ``bas_music`` (Bailando direction); plus the counts ``kinematic_beats``,
    ``musical_beats`` and ``beat_hits``.
    """
    items = check_dance_set(dances, "beat metric dances")
    beats = list(music_beats)
    _check_same_length(items, beats, "dances", "music beat arrays")
    n_kin = n_mus = n_hit = 0
    bas_k, bas_m = [], []
    for i, (dance, mb) in enumerate(zip(items, beats, strict=True)):
        mus = _check_times(mb, f"musical beats[{i}]")
        mus = mus[mus <= (dance.shape[0] - 1) / fps + 1e-9]
        kin = kinematic_beat_times(dance, fps, smoothing, min_motion)
        n_kin += kin.size
        n_mus += mus.size
        n_hit += beat_hits(kin, mus, tolerance)
        bas_k.append(beat_align_score(kin, mus, sigma, "kinematic"))
        bas_m.append(beat_align_score(kin, mus, sigma, "music"))
    bas_m_arr = np.asarray(bas_m)
    return {
        "beat_coverage": n_kin / n_mus if n_mus else float("nan"),
        "beat_hit_rate": n_hit / n_kin if n_kin else 0.0,
        "bas_kinematic": float(np.mean(bas_k)),
        "bas_music": float(np.nanmean(bas_m_arr))
        if np.any(np.isfinite(bas_m_arr))
        else float("nan"),
        "kinematic_beats": float(n_kin),
        "musical_beats": float(n_mus),
        "beat_hits": float(n_hit),
    }


# ---------------------------------------------------------------------------- confidence


def mean_and_spread(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value) of finite values."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise _fail("mean_and_spread: empty set (no values)")
    if not np.all(np.isfinite(arr)):
        raise _fail("mean_and_spread: values hold NaN or infinite entries")
    spread = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), spread


def bootstrap(
    metric: Callable[[np.ndarray], float], n_items: int, n_resamples: int = 200, seed: int = 0
) -> np.ndarray:
    """Values of `metric(indices)` over bootstrap resamples (with replacement) of n_items items."""
    if n_items < 1:
        raise _fail("bootstrap: empty set (n_items < 1)")
    if n_resamples < 1:
        raise _fail(f"bootstrap: n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    return np.array([metric(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)])


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval (low, high) of `statistic` over `values`."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise _fail("bootstrap_ci: empty set (no values)")
    if not np.all(np.isfinite(arr)):
        raise _fail("bootstrap_ci: values hold NaN or infinite entries")
    if not 0 < level < 1:
        raise _fail(f"bootstrap_ci: level must be in (0, 1), got {level}")
    stats = bootstrap(lambda idx: float(statistic(arr[idx])), arr.size, n_resamples, seed)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


# ---------------------------------------------------------------------------- dance classifier


@dataclass(frozen=True)
class DanceClassifierConfig:
    """The dance style classifier whose embedding the paper's FID, diversity and multimodality use."""

    channels: int = 64  # temporal-conv width
    embed_dim: int = 64  # the penultimate layer: the embedding
    kernel: int = 5
    layers: int = 3  # conv layers, dilations 1, 2, 4, ...
    dropout: float = 0.1
    num_styles: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    steps: int = 600
    crop_min: int = 24  # random crop length range (frames) during training
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "channels",
            "embed_dim",
            "kernel",
            "layers",
            "num_styles",
            "batch_size",
            "steps",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"DanceClassifierConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                f"DanceClassifierConfig.dropout must be in [0, 1), got {self.dropout}"
            )
        if self.crop_min < 4:
            raise ConfigError(f"DanceClassifierConfig.crop_min must be >= 4, got {self.crop_min}")


class DanceClassifier(nn.Module):
    """Temporal-conv style classifier over pose sequences (B, T, 14, 2) in pixels.

    Input: the poses centred on their mean position over the whole sequence (translation
    invariant) and divided by a fitted scale, with the frame-to-frame velocities as extra
    channels. Dilated 1-D convolutions, mean pooling over time, a linear layer to the
    ``embed_dim`` embedding (the FID features) and a linear layer to the style logits.
    """

    def __init__(self, config: DanceClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or DanceClassifierConfig()
        c = self.config
        self.register_buffer("pos_scale", torch.tensor(1.0))
        self.register_buffer("vel_scale", torch.tensor(1.0))
        convs: list[nn.Module] = []
        width = 2 * skeleton.POSE_DIM
        for i in range(c.layers):
            dil = 2**i
            convs += [
                nn.Conv1d(width, c.channels, c.kernel, padding=dil * (c.kernel // 2), dilation=dil),
                nn.ReLU(),
            ]
            width = c.channels
        self.convs = nn.Sequential(*convs)
        self.embed = nn.Sequential(nn.Linear(c.channels, c.embed_dim), nn.ReLU())
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.embed_dim, c.num_styles)

    def set_scales(self, dances: np.ndarray) -> None:
        """Fit the position and velocity scales from training dances (N, T, 14, 2)."""
        x = np.asarray(dances, dtype=np.float64)
        centred = x - x.mean(axis=(1, 2), keepdims=True)
        self.pos_scale.fill_(float(max(centred.std(), 1e-3)))
        self.vel_scale.fill_(float(max(np.diff(x, axis=1).std(), 1e-3)))

    def inputs(self, poses: torch.Tensor) -> torch.Tensor:
        """Poses (B, T, 14, 2) -> network input (B, 56, T): centred positions and velocities."""
        b, t = poses.shape[:2]
        centred = poses - poses.mean(dim=(1, 2), keepdim=True)
        vel = torch.diff(poses, dim=1, prepend=poses[:, :1])
        x = torch.cat(
            [
                (centred / self.pos_scale).reshape(b, t, -1),
                (vel / self.vel_scale).reshape(b, t, -1),
            ],
            dim=-1,
        )
        return x.transpose(1, 2)

    def forward(self, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Poses (B, T, 14, 2) -> (embedding (B, embed_dim), style logits (B, num_styles))."""
        h = self.convs(self.inputs(poses)).mean(dim=-1)
        emb = self.embed(h)
        return emb, self.head(self.drop(emb))


class DanceClassifierStage:
    """Trainer stage (d2mlib.train.Stage) for the dance style classifier: cross-entropy on styles."""

    name = "dance"

    def __init__(self, model: DanceClassifier) -> None:
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=model.config.lr)

    def modules(self) -> dict[str, nn.Module]:
        """The trained module."""
        return {"classifier": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Its optimiser."""
        return {"classifier": self.opt}

    def _terms(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        poses, style = batch
        _, logits = self.model(poses)
        loss = F.cross_entropy(logits, style)
        acc = (logits.argmax(dim=-1) == style).float().mean()
        return loss, acc

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], step: int
    ) -> dict[str, torch.Tensor]:
        """One Adam step on a batch (poses (B, T, 14, 2), style (B,))."""
        loss, acc = self._terms(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        return {"loss": loss.detach(), "acc": acc.detach()}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss and accuracy on a batch, no gradient."""
        loss, acc = self._terms(batch)
        return {"loss": loss, "acc": acc}


def _training_batches(
    dances: np.ndarray, styles: np.ndarray, config: DanceClassifierConfig, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of augmented batches: random crop, scale (0.85-1.15) and left-right mirror."""
    rng = np.random.default_rng(seed)
    n, t = dances.shape[:2]
    order = rng.permutation(n)
    perm = skeleton.mirror_index()
    out = []
    for lo in range(0, n - config.batch_size + 1, config.batch_size):
        idx = order[lo : lo + config.batch_size]
        length = int(rng.integers(min(config.crop_min, t), t + 1))
        start = int(rng.integers(0, t - length + 1))
        x = dances[idx, start : start + length].astype(np.float32)
        x = x * rng.uniform(0.85, 1.15, size=(len(idx), 1, 1, 1)).astype(np.float32)
        flip = rng.random(len(idx)) < 0.5
        x[flip] = x[flip][:, :, perm]
        x[flip, ..., 0] *= -1
        out.append((torch.from_numpy(x), torch.from_numpy(styles[idx].astype(np.int64))))
    return out


def _eval_batches(
    dances: np.ndarray, styles: np.ndarray, batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (
            torch.from_numpy(dances[lo : lo + batch_size].astype(np.float32)),
            torch.from_numpy(styles[lo : lo + batch_size].astype(np.int64)),
        )
        for lo in range(0, len(dances), batch_size)
    ]


def _check_labelled(dances: np.ndarray, styles: np.ndarray, name: str, num_styles: int) -> None:
    arr = np.asarray(dances)
    if arr.ndim != 4 or arr.shape[0] == 0 or arr.shape[2:] != (skeleton.NUM_JOINTS, 2):
        raise _fail(f"{name}: expected dances (N > 0, T, 14, 2), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _fail(f"{name}: dances hold NaN or infinite values")
    st = np.asarray(styles)
    _check_same_length(arr, st, f"{name} dances", f"{name} styles")
    if st.size and (st.min() < 0 or st.max() >= num_styles):
        raise _fail(
            f"{name}: style indices must lie in [0, {num_styles}), got {st.min()}..{st.max()}"
        )


def _content_hash(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


def train_dance_classifier(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    runs_dir: str | Path,
    config: DanceClassifierConfig | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> tuple[DanceClassifier, Path]:
    """Train (or load, when cached) a dance classifier on (dances (N, T, 14, 2), styles (N,)).

    The run lives in ``runs_dir/dance-<hash8>/``, the hash covering the config and the
    training and validation data, with the trainer's checkpoints, metrics.csv and config.yaml;
    a finished run is loaded instead of retrained.
    """
    config = config or DanceClassifierConfig()
    tr_x, tr_y = np.asarray(train[0], dtype=np.float32), np.asarray(train[1]).astype(np.int64)
    va_x, va_y = np.asarray(val[0], dtype=np.float32), np.asarray(val[1]).astype(np.int64)
    _check_labelled(tr_x, tr_y, "training", config.num_styles)
    _check_labelled(va_x, va_y, "validation", config.num_styles)
    if tr_x.shape[0] < config.batch_size:
        raise _fail(
            f"training: {tr_x.shape[0]} dances is fewer than one batch ({config.batch_size})"
        )
    cfg = dataclasses.asdict(config)
    run_dir = Path(runs_dir) / f"dance-{_content_hash(cfg, tr_x, tr_y, va_x, va_y)[:8]}"
    done = run_dir / train_lib.DONE_MARKER
    if done.is_file():
        return load_dance_classifier(run_dir), run_dir
    with torch.random.fork_rng(devices=[]):  # initial weights from the config's seed alone
        torch.manual_seed(config.seed)
        model = DanceClassifier(config)
    model.set_scales(tr_x)
    stage = DanceClassifierStage(model)
    per_epoch = tr_x.shape[0] // config.batch_size
    epochs = max(1, -(-config.steps // per_epoch))
    loop = train_lib.LoopConfig(
        epochs=epochs, max_steps=config.steps, log_every=25, monitor="loss",
        progress=progress,
    )  # fmt: skip
    write_text(run_dir / "config.yaml", yaml.safe_dump({"dance_classifier": cfg}, sort_keys=True))
    result = train_lib.fit(
        stage,
        lambda epoch: _training_batches(
            tr_x, tr_y, config, train_lib.epoch_seed(config.seed, epoch)
        ),
        lambda: _eval_batches(va_x, va_y, 256),
        run_dir,
        loop,
        seed=config.seed,
        config={"dance_classifier": cfg},
        device=device,
    )
    marker = {"step": result.step, "best_val_loss": result.best_value, "seconds": result.seconds}
    write_text(done, json.dumps(marker, sort_keys=True) + "\n")
    return load_dance_classifier(run_dir), run_dir


def load_dance_classifier(run_dir: str | Path) -> DanceClassifier:
    """Rebuild a trained dance classifier from its run (best.pt, else last.pt) in eval mode."""
    run_dir = Path(run_dir)
    path = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "last.pt"
    ckpt = train_lib.load_checkpoint(path)
    raw = ckpt["config"].get("dance_classifier") if isinstance(ckpt["config"], dict) else None
    if not isinstance(raw, dict):
        raise CheckpointError("not a dance classifier run (no dance_classifier config)", path)
    model = DanceClassifier(DanceClassifierConfig(**raw))
    try:
        model.load_state_dict(ckpt["modules"]["classifier"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"dance classifier weights do not match: {exc}", path) from exc
    return model.eval()


@dataclass(frozen=True)
class DanceEmbedding:
    """What the classifier says about a set of dances."""

    features: np.ndarray  # (N, embed_dim) penultimate-layer embedding
    probs: np.ndarray  # (N, num_styles) softmax
    predicted: np.ndarray  # (N,) style index


@torch.no_grad()
def embed_dances(
    model: DanceClassifier, dances: np.ndarray | Sequence[np.ndarray], batch_size: int = 256
) -> DanceEmbedding:
    """Embed and classify a set of dances (any lengths >= 2 frames) with a trained classifier."""
    items = check_dance_set(dances, "classifier dances", min_frames=2)
    model.eval()
    feats: list[np.ndarray | None] = [None] * len(items)
    probs: list[np.ndarray | None] = [None] * len(items)
    by_len: dict[int, list[int]] = {}
    for i, d in enumerate(items):
        by_len.setdefault(d.shape[0], []).append(i)
    for idx in by_len.values():
        for lo in range(0, len(idx), batch_size):
            chunk = idx[lo : lo + batch_size]
            x = torch.from_numpy(np.stack([items[i] for i in chunk]).astype(np.float32))
            emb, logits = model(x)
            p = torch.softmax(logits, dim=-1).numpy()
            for j, i in enumerate(chunk):
                feats[i], probs[i] = emb[j].numpy().astype(np.float64), p[j]
    f = np.stack(feats)
    pr = np.stack(probs)
    return DanceEmbedding(features=f, probs=pr, predicted=pr.argmax(axis=1))


# ---------------------------------------------------------------------------- evaluation

METRIC_NAMES: tuple[str, ...] = (
    "fid",
    "diversity",
    "multimodality",
    "style_consistency",
    "beat_coverage",
    "beat_hit_rate",
    "bas_kinematic",
    "bas_music",
    "fid_k",
    "fid_g",
    "diversity_k",
    "diversity_g",
)
TABLE_COLUMNS: tuple[str, ...] = ("system", "seed", "metric", "value")


@dataclass(frozen=True)
class EvalConfig:
    """What `evaluate` scores and with which metric parameters."""

    split: str = "test"  # the music (and real dances) evaluated
    reference_split: str = "train"  # the real set FID and feature normalisation compare against
    samples_per_music: int = 5  # dances per piece of music for multimodality
    multimodality_clips: int = 20  # pieces of music used for multimodality
    max_clips: int | None = None  # cap on the evaluated clips (smoke runs)
    fps: float = skeleton.FPS
    tolerance: float = HIT_TOLERANCE
    sigma: float = BAS_SIGMA
    smoothing: int = KIN_SMOOTHING
    min_motion: float = KIN_MIN_MOTION
    music_beats: str = (
        "librosa"  # "librosa": track the clip's audio; "meta": meta.json's beat_times
    )
    classifier: DanceClassifierConfig = dataclasses.field(default_factory=DanceClassifierConfig)

    def __post_init__(self) -> None:
        if self.samples_per_music < 2:
            raise ConfigError(
                f"EvalConfig.samples_per_music must be >= 2, got {self.samples_per_music}"
            )
        if self.music_beats not in ("librosa", "meta"):
            raise ConfigError(
                f"EvalConfig.music_beats must be 'librosa' or 'meta', got {self.music_beats!r}"
            )
        if self.multimodality_clips < 1:
            raise ConfigError(
                f"EvalConfig.multimodality_clips must be >= 1, got {self.multimodality_clips}"
            )


@dataclass
class EvalData:
    """The music to dance to, its real dances, and the training material the baselines draw on."""

    styles: np.ndarray  # (N,) style index of each evaluated piece of music
    dances: list[np.ndarray]  # the real dance of each piece (T_i, 14, 2)
    audio: list[np.ndarray]  # raw audio features (frames, 28) of each piece
    music_beats: list[np.ndarray | None]  # beat times (s) per piece; None: no audio to track
    wav_paths: list[Path | None]
    reference: list[np.ndarray]  # real dances of the reference split
    train_dances: list[np.ndarray]  # real dances of the training split (retrieval)
    train_audio: list[np.ndarray]
    train_units: np.ndarray  # (U, 32, 14, 2) training units (random-units baseline)
    audio_mean: np.ndarray
    audio_std: np.ndarray


def _clip_dances(
    store: FeatureStore, split: str
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Real dances (the clip's units in order, concatenated), styles and clip rows of a split."""
    units, clips = store.units_table, store.clips_table
    by_clip: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    keys = zip(units["style"], units["video"], units["clip"], units["k"].to_numpy(), strict=True)
    for r, (style, video, clip, k) in enumerate(keys):
        by_clip.setdefault((style, video, clip), []).append((int(k), r))
    dances, keep = [], []
    for i in store.clip_indices(split):
        key = (clips["style"].iloc[i], clips["video"].iloc[i], clips["clip"].iloc[i])
        parts = sorted(by_clip.get(key, []))
        if parts:
            dances.append(np.concatenate([store.pool[r] for _, r in parts]).astype(np.float64))
            keep.append(i)
    keep_arr = np.asarray(keep, dtype=np.int64)
    return dances, store.clip_style[keep_arr], keep_arr


def _wav_of(feature_path: str) -> Path | None:
    path = Path(feature_path)
    wav = path.with_name(path.name.replace("_fps15.npy", ".wav"))
    return wav if wav.is_file() else None


def _meta_beats(feature_path: str) -> np.ndarray | None:
    """The synthetic world's ground-truth beat times (meta.json beside the clip's aud/ folder)."""
    meta = Path(feature_path).parent.parent / "meta.json"
    if not meta.is_file():
        return None
    try:
        times = json.loads(meta.read_text(encoding="utf-8"))["beat_times"]
    except (OSError, ValueError, KeyError) as exc:
        raise MetricError(f"unreadable beat_times ({exc})", meta) from exc
    return _check_times(np.asarray(times, dtype=np.float64), str(meta))


def music_beat_times(wav_path: str | Path) -> np.ndarray:
    """Musical beats (s) of an audio file: librosa's beat tracker via d2mlib.audio.beats."""
    from d2mlib import audio

    return np.asarray(audio.beats(audio.load_audio(wav_path)).times, dtype=np.float64)


def load_eval_data(data_dir: str | Path, config: EvalConfig | None = None) -> EvalData:
    """Read the evaluated music, its real dances and the baselines' training material."""
    from d2mlib.data import FeatureStore

    config = config or EvalConfig()
    store = FeatureStore.open(data_dir)
    dances, styles, rows = _clip_dances(store, config.split)
    if config.max_clips is not None:  # a style-balanced subset, not the first (one-style) clips
        keep = balanced_order(styles, config.max_clips)
        dances, styles, rows = [dances[i] for i in keep], styles[keep], rows[keep]
    if not dances:
        raise _fail(f"no clips with dances in split {config.split!r} of {data_dir}")
    wavs = [_wav_of(store.clips_table["audio"].iloc[i]) for i in rows]
    if config.music_beats == "meta":
        beats = [_meta_beats(store.clips_table["audio"].iloc[i]) for i in rows]
    else:
        beats = [None if w is None else music_beat_times(w) for w in wavs]
    reference, _, _ = _clip_dances(store, config.reference_split)
    train, _, train_rows = _clip_dances(store, "train")
    if not reference or not train:
        raise _fail(
            f"no real dances in the {config.reference_split!r} or 'train' split of {data_dir}"
        )
    return EvalData(
        styles=np.asarray(styles, dtype=np.int64),
        dances=dances,
        audio=[np.asarray(store.clip_audio(int(i)), dtype=np.float32) for i in rows],
        music_beats=beats,
        wav_paths=wavs,
        reference=reference,
        train_dances=train,
        train_audio=[np.asarray(store.clip_audio(int(i)), dtype=np.float32) for i in train_rows],
        train_units=np.asarray(store.units("train"), dtype=np.float64),
        audio_mean=np.asarray(store.audio_mean, dtype=np.float64),
        audio_std=np.asarray(store.audio_std, dtype=np.float64),
    )


def beat_agreement(
    data_dir: str | Path, split: str = "test", max_clips: int | None = None
) -> pd.DataFrame:
    """How the dataset's own dances meet their music's beats, by style (rows) and beat source.

    Columns: hit rate and Beat Align Score (AIST++ direction) against the true beats of the
    synthetic world (NaN for data without them) and against librosa's tracked beats.
    """
    rows: dict[str, dict[str, float]] = {}
    for source, label in (("meta", "true beats"), ("librosa", "tracked beats")):
        config = EvalConfig(split=split, max_clips=max_clips, music_beats=source)
        ev = load_eval_data(data_dir, config)
        groups = {name: np.flatnonzero(ev.styles == i) for i, name in enumerate(STYLES)}
        groups["all"] = np.arange(len(ev.dances))
        for name, idx in groups.items():
            usable = [i for i in idx if ev.music_beats[i] is not None]
            scores = (
                beat_metrics([ev.dances[i] for i in usable], [ev.music_beats[i] for i in usable])
                if usable
                else {"beat_hit_rate": np.nan, "bas_kinematic": np.nan}
            )
            row = rows.setdefault(name, {})
            row[f"hit rate ({label})"] = scores["beat_hit_rate"]
            row[f"BAS ({label})"] = scores["bas_kinematic"]
            row["clips"] = float(len(idx))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "style"
    return table


def chain_units(units: Sequence[np.ndarray], frames: int | None = None) -> np.ndarray:
    """Concatenate dance pieces, translating each so it starts where the previous one ended.

    Each piece is shifted so that the mean position of its first pose equals the mean
    position of the previous piece's last pose; the result is cut to `frames` if given.
    """
    if not units:
        raise _fail("chain_units: empty set (no units)")
    out = [check_dance(units[0], "chain_units[0]")]
    for i, u in enumerate(units[1:], start=1):
        u = check_dance(u, f"chain_units[{i}]")
        shift = out[-1][-1].mean(axis=0) - u[0].mean(axis=0)
        out.append(u + shift)
    dance = np.concatenate(out)
    return dance if frames is None else dance[:frames]


def _music_key(feats: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    z = (np.asarray(feats, dtype=np.float64) - mean) / std
    return np.concatenate([z.mean(axis=0), z.std(axis=0)])


def retrieval_baseline(data: EvalData) -> list[np.ndarray]:
    """Nearest-neighbour retrieval: for each piece, the training dance whose music is closest.

    Music is compared by the mean and std over time of its normalised audio features (56
    values); the retrieved dance is cut to (or chained up to) the real dance's length.
    """
    keys = np.stack([_music_key(a, data.audio_mean, data.audio_std) for a in data.train_audio])
    out = []
    for feats, real in zip(data.audio, data.dances, strict=True):
        q = _music_key(feats, data.audio_mean, data.audio_std)
        best = data.train_dances[int(np.argmin(np.sum((keys - q) ** 2, axis=1)))]
        reps = -(-real.shape[0] // best.shape[0])
        out.append(chain_units([best] * reps, real.shape[0]))
    return out


def random_units_baseline(
    data: EvalData, seed: int, sample: int = 0, clips: Sequence[int] | None = None
) -> list[np.ndarray]:
    """Random units: training units drawn at random (any style) and chained to each piece's length.

    For a given seed the first unit of each piece is fixed (the "initial pose"); `sample`
    redraws the others, so that multimodality has a meaning here too. `clips` picks the
    pieces (positions in `data`; default all).
    """
    n_units = data.train_units.shape[0]
    out = []
    for i in range(len(data.dances)) if clips is None else clips:
        frames = data.dances[i].shape[0]
        need = -(-frames // data.train_units.shape[1])
        first = int(np.random.default_rng([seed, i]).integers(n_units))
        rest = np.random.default_rng([seed, i, sample + 1]).integers(n_units, size=need - 1)
        out.append(chain_units([data.train_units[first], *data.train_units[rest]], frames))
    return out


def unit_reconstruction_ceiling(
    dance_unit: nn.Module, normaliser: skeleton.Normaliser, data: EvalData
) -> list[np.ndarray]:
    """Each evaluated real dance with every 32-frame unit replaced by its reconstruction through
    the decomposition VAE (posterior means), in place (a reconstruction keeps its unit's
    position): what a composer that found every unit's true movement code would reach, the
    ceiling the decomposition sets for the composer. Frames after the last whole unit stay real."""
    from d2mlib.generate import reconstruct_units

    out = []
    for i, real in enumerate(data.dances):
        real = check_dance(real, f"dance {i}")
        frames = skeleton.UNIT_FRAMES * (real.shape[0] // skeleton.UNIT_FRAMES)
        if frames == 0:
            raise _fail(f"dance {i}: {real.shape[0]} frames, shorter than one unit")
        units = real[:frames].reshape(-1, skeleton.UNIT_FRAMES, *real.shape[1:]).astype(np.float32)
        recon = reconstruct_units(dance_unit, normaliser, units).astype(np.float64)
        out.append(np.concatenate([recon.reshape(frames, *real.shape[1:]), real[frames:]]))
    return out


def score_fixed(
    name: str,
    dances: Sequence[np.ndarray],
    data: EvalData,
    classifier: DanceClassifier,
    config: EvalConfig | None = None,
) -> pd.DataFrame:
    """Tidy rows (seed 0) of a deterministic set of dances, one per evaluated piece of music,
    scored like `evaluate_systems` scores the dataset (no multimodality: one dance per piece)."""
    config = config or EvalConfig()
    ref = _reference(data, classifier, config)
    scores = score_system(list(dances), data, ref, classifier, config)
    return pd.DataFrame(_rows(name, 0, scores), columns=list(TABLE_COLUMNS))


@dataclass
class _Reference:
    emb: np.ndarray
    k: np.ndarray
    g: np.ndarray


def _reference(data: EvalData, classifier: DanceClassifier, config: EvalConfig) -> _Reference:
    return _Reference(
        emb=embed_dances(classifier, data.reference).features,
        k=feature_matrix(data.reference, "k", config.fps),
        g=feature_matrix(data.reference, "g"),
    )


def score_system(
    dances: Sequence[np.ndarray],
    data: EvalData,
    ref: _Reference,
    classifier: DanceClassifier,
    config: EvalConfig,
    groups: Sequence[Sequence[np.ndarray]] | None = None,
) -> dict[str, float]:
    """Every metric for one set of dances (one per evaluated piece of music)."""
    _check_same_length(dances, data.dances, "generated dances", "pieces of music")
    emb = embed_dances(classifier, dances)
    out = {
        "fid": fid_from_features(ref.emb, emb.features),
        "diversity": diversity(emb.features),
        "style_consistency": style_consistency(emb.predicted, data.styles),
    }
    if groups is not None:
        out["multimodality"] = multimodality([embed_dances(classifier, g).features for g in groups])
    for kind, real in (("k", ref.k), ("g", ref.g)):
        r, f = normalise_by_real(real, feature_matrix(dances, kind, config.fps))
        out[f"fid_{kind}"] = fid_from_features(r, f)
        out[f"diversity_{kind}"] = diversity(f)
    with_beats = [i for i, b in enumerate(data.music_beats) if b is not None]
    if with_beats:
        beats = beat_metrics(
            [dances[i] for i in with_beats],
            [data.music_beats[i] for i in with_beats],
            fps=config.fps,
            tolerance=config.tolerance,
            sigma=config.sigma,
            smoothing=config.smoothing,
            min_motion=config.min_motion,
        )
        out.update(
            {k: beats[k] for k in ("beat_coverage", "beat_hit_rate", "bas_kinematic", "bas_music")}
        )
    return out


DanceSampler = Callable[[int, int, Sequence[int]], list[np.ndarray]]
"""(seed, sample, clips) -> a dance for each listed piece of music (positions in EvalData).

For a fixed seed, `sample` varies only the generator's noise (same music, same initial pose):
sample 0 is scored, samples 1.. feed multimodality on the first few pieces only."""


def _check_sampled(dances: list[np.ndarray], n: int, system: str) -> list[np.ndarray]:
    if len(dances) != n:
        raise _fail(
            f"mismatched lengths: system {system!r} returned {len(dances)} dances for {n} pieces"
        )
    return dances


def _rows(system: str, seed: int, scores: dict[str, float]) -> list[dict[str, object]]:
    return [
        {"system": system, "seed": seed, "metric": m, "value": float(scores[m])}
        for m in METRIC_NAMES
        if m in scores
    ]


def evaluate_systems(
    data: EvalData,
    classifier: DanceClassifier,
    systems: dict[str, DanceSampler],
    seeds: int = 3,
    config: EvalConfig | None = None,
    include_baselines: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Score the dataset (ceiling), the given systems and the two baselines (floors) over seeds.

    Returns the tidy table (system, seed, metric, value). The dataset and the retrieval
    baseline are deterministic: they get one row per metric, with seed 0; the dataset has no
    multimodality (one dance per piece of music) and retrieval's is 0 by construction.
    """
    config = config or EvalConfig()
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}")
    ref = _reference(data, classifier, config)
    n_mm = min(config.multimodality_clips, len(data.dances))
    rows: list[dict[str, object]] = []
    rows += _rows("dataset", 0, score_system(data.dances, data, ref, classifier, config))
    all_systems: dict[str, DanceSampler] = dict(systems)
    if include_baselines:
        retrieved = retrieval_baseline(data)
        groups = [[retrieved[i]] * config.samples_per_music for i in range(n_mm)]
        rows += _rows(
            "retrieval", 0, score_system(retrieved, data, ref, classifier, config, groups)
        )
        all_systems["random_units"] = lambda seed, sample, clips: random_units_baseline(
            data, seed, sample, clips
        )
    everything = list(range(len(data.dances)))
    first = list(range(n_mm))
    jobs = [(name, seed) for name in all_systems for seed in range(seeds)]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="evaluate", unit="run", leave=False)
    for name, seed in jobs:
        sampler = all_systems[name]
        scored = _check_sampled(sampler(seed, 0, everything), len(everything), name)
        extra = [
            _check_sampled(sampler(seed, s, first), n_mm, name)
            for s in range(1, config.samples_per_music)
        ]
        groups = [[scored[i]] + [e[i] for e in extra] for i in first]
        rows += _rows(name, seed, score_system(scored, data, ref, classifier, config, groups))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread (sample std over seeds; 0 with one seed) and n per system and metric."""
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise _fail(f"summarise: table lacks columns {sorted(missing)}")
    if table.empty:
        raise _fail("summarise: empty table")
    out = []
    for (system, metric), g in table.groupby(["system", "metric"], sort=False):
        values = g["value"].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        mean, spread = mean_and_spread(values) if values.size else (float("nan"), float("nan"))
        out.append(
            {"system": system, "metric": metric, "mean": mean, "spread": spread, "n": values.size}
        )
    return pd.DataFrame(out, columns=["system", "metric", "mean", "spread", "n"])


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table as CSV atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def dance_classifier_for_data(
    data_dir: str | Path,
    runs_dir: str | Path,
    config: DanceClassifierConfig | None = None,
    progress: bool = False,
) -> tuple[DanceClassifier, Path]:
    """The dance classifier of a dataset: trained on its train-split units (val split to pick
    the best checkpoint), cached as a run under `runs_dir`."""
    from d2mlib.data import FeatureStore

    store = FeatureStore.open(data_dir)
    train = (np.asarray(store.units("train")), store.unit_styles("train"))
    val = (np.asarray(store.units("val")), store.unit_styles("val"))
    if val[0].shape[0] == 0:
        val = train
    return train_dance_classifier(train, val, runs_dir, config, progress=progress)


def evaluate(
    runs_dir: str | Path,
    data_dir: str | Path,
    seeds: int = 3,
    systems: dict[str, DanceSampler] | None = None,
    config: EvalConfig | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The evaluation table: dataset (ceiling), trained systems, retrieval and random units (floors).

    `systems` maps a name to a sampler (seed, sample) -> dances, one per evaluated piece of
    music (see `load_eval_data`); by default the full model and every ablation found under
    `runs_dir` (`model_systems`). The dance classifier is trained once per dataset and cached
    under `runs_dir`. Returns the tidy DataFrame (system, seed, metric, value).
    """
    config = config or EvalConfig()
    classifier, _ = dance_classifier_for_data(data_dir, runs_dir, config.classifier, progress)
    data = load_eval_data(data_dir, config)
    if systems is None:
        systems = model_systems(runs_dir, data, data_dir)
    return evaluate_systems(
        data, classifier, systems, seeds=seeds, config=config, progress=progress
    )


def _data_identity(data_dir: str | Path) -> object:
    """How a training run names its dataset (see d2mlib.train): the synthetic marker or the path."""
    from d2mlib import data

    marker = data.dataset_complete(data_dir)
    if marker is not None:
        return {"preset": marker.get("preset"), "seed": marker.get("seed")}
    return str(Path(data_dir).resolve())


def ablation_name(cfg: Config) -> str:
    """ "full", or the ablation (d2mlib.config.ABLATIONS) a composition config switches on."""
    from d2mlib import config as cfgmod

    for name in cfgmod.ABLATIONS:
        if cfgmod.ablation(cfg, name).composer == cfg.composer:
            return name
    return "full"


def find_systems(
    runs_dir: str | Path, data_dir: str | Path | None = None, preset: str | None = None
) -> dict[str, Path]:
    """The newest finished composition run per system ("full" and each ablation) under `runs_dir`.

    Only runs trained on `data_dir` (when given) and of `preset` (when given) count.
    """
    from d2mlib import config as cfgmod

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return {}
    want = _data_identity(data_dir) if data_dir is not None else None
    newest: dict[str, tuple[float, Path]] = {}
    for path in sorted(runs_dir.glob("comp-*")):
        done, info_path = path / train_lib.DONE_MARKER, path / "run.json"
        if not (done.is_file() and info_path.is_file() and (path / "config.yaml").is_file()):
            continue
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if want is not None and info.get("data") != want:
            continue
        if preset is not None and info.get("preset") != preset:
            continue
        name = ablation_name(cfgmod.from_yaml(path / "config.yaml"))
        stamp = done.stat().st_mtime
        if name not in newest or stamp > newest[name][0]:
            newest[name] = (stamp, path)
    return {name: newest[name][1] for name in sorted(newest, key=lambda n: (n != "full", n))}


def _derived_seed(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])


def generator_sampler(generator: DanceGenerator, data: EvalData, warp: bool = True) -> DanceSampler:
    """A DanceSampler over a d2mlib.generate.DanceGenerator: one composed dance per piece.

    Seed s and piece i fix the initial pose (decoded from a z_init drawn from (s, i)); sample
    k draws the composer's noise from (s, i, k), so the samples of one piece share music and
    initial pose and differ only in noise. With
    `warp` the dance is beat-warped onto the music's beats, as the demo does.
    """
    from d2mlib import generate

    musics = [
        generate.Music(
            features=np.asarray(feats, np.float32),
            beat_times=np.zeros(0) if beats is None else np.asarray(beats, np.float64),
            duration=len(feats) / skeleton.FPS,
            source=f"clip {i}",
        )
        for i, (feats, beats) in enumerate(zip(data.audio, data.music_beats, strict=True))
    ]

    def sample(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        out = []
        for i in clips:
            pose = generator.initial_pose(_derived_seed(seed, i))
            noise = _derived_seed(seed, i, k)
            dance = generator.compose(musics[i], seed=noise, init_pose=pose, warp=warp)
            out.append(np.asarray(dance.poses, dtype=np.float64))
        return out

    return sample


def model_systems(
    runs_dir: str | Path,
    data: EvalData,
    data_dir: str | Path | None = None,
    preset: str | None = None,
    compare_warp: bool = True,
) -> dict[str, DanceSampler]:
    """Samplers for the full model and each ablation with a finished run under `runs_dir`.

    Every system composes with beat warping (as the demo does); with `compare_warp` the full
    model is also scored without it, as "full_nowarp", so the table shows what warping buys.
    """
    from d2mlib import generate

    systems: dict[str, DanceSampler] = {}
    for name, path in find_systems(runs_dir, data_dir, preset).items():
        gen = generate.DanceGenerator.from_run(path)
        systems[name] = generator_sampler(gen, data, warp=True)
        if name == "full" and compare_warp:
            systems["full_nowarp"] = generator_sampler(gen, data, warp=False)
    return systems


def main(argv: Sequence[str] | None = None) -> int:
    """`d2m evaluate --run RUNS_DIR --data DATA_DIR [--seeds 3] --out table.csv`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="d2m evaluate", description="Score the dataset, the trained systems and two baselines."
    )
    parser.add_argument("--run", required=True, type=Path, help="runs directory")
    parser.add_argument("--data", required=True, type=Path, help="dataset directory")
    parser.add_argument("--seeds", type=int, default=3, help="generator seeds per system")
    parser.add_argument("--out", required=True, type=Path, help="output CSV (tidy table)")
    parser.add_argument("--split", default="test", help="split whose music is danced to")
    parser.add_argument("--max-clips", type=int, default=None, help="cap the evaluated clips")
    parser.add_argument(
        "--music-beats",
        choices=("librosa", "meta"),
        default="librosa",
        help="musical beats: librosa's tracker on the clip audio, or the synthetic meta.json",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    config = EvalConfig(split=args.split, max_clips=args.max_clips, music_beats=args.music_beats)
    table = evaluate(args.run, args.data, seeds=args.seeds, config=config, progress=not args.quiet)
    write_table(table, args.out)
    summary = summarise(table)
    print(
        summary.pivot(index="metric", columns="system", values="mean").to_string(
            float_format="%.4g"
        )
    )
    print(f"wrote {args.out}: {len(table)} rows")
    return 0


# ---------------------------------------------------------------------------- comparing systems


def per_seed_sampler(samplers: Sequence[DanceSampler]) -> DanceSampler:
    """One DanceSampler over several (one per training seed): evaluation seed s uses
    ``samplers[s % len(samplers)]``, so the spread over seeds covers training and sampling."""
    items = list(samplers)
    if not items:
        raise _fail("per_seed_sampler: empty set (no samplers)")

    def sample(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        return items[int(seed) % len(items)](seed, k, clips)

    return sample


def run_systems(
    runs: dict[str, Sequence[str | Path]], data: EvalData, warp: bool = True
) -> dict[str, DanceSampler]:
    """Samplers for named systems, each from its finished composition runs (one per training seed)."""
    from d2mlib import generate

    out: dict[str, DanceSampler] = {}
    for name, paths in runs.items():
        gens = [generate.DanceGenerator.from_run(p, device="cpu") for p in paths]
        if not gens:
            raise _fail(f"run_systems: system {name!r} has no runs")
        out[name] = per_seed_sampler([generator_sampler(g, data, warp=warp) for g in gens])
    return out


def evaluate_runs(
    runs: dict[str, Sequence[str | Path]],
    data_dir: str | Path,
    runs_dir: str | Path,
    seeds: int = 3,
    config: EvalConfig | None = None,
    include_baselines: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """`evaluate` for explicit runs: system name -> its composition runs (one per training seed).

    Evaluation seed s scores the run of training seed ``s % len(runs)``; the dataset and the
    baselines are scored as in `evaluate_systems`; `config.max_clips` keeps a style-balanced
    subset of the split (`load_eval_data` with `max_clips`). Returns the tidy (system, seed, metric,
    value) table.
    """
    config = config or EvalConfig()
    classifier, _ = dance_classifier_for_data(data_dir, runs_dir, config.classifier, progress)
    data = load_eval_data(data_dir, config)
    systems = run_systems(runs, data)
    return evaluate_systems(
        data, classifier, systems, seeds, config, include_baselines, progress=progress
    )


def compare_to_reference(
    table: pd.DataFrame, reference: str = "full", metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each system's mean minus the reference system's, per metric, against the seed spread.

    The pooled spread is ``sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2))`` from the two
    systems' sample stds over seeds; ``larger`` is True when ``|difference|`` exceeds it (and
    False when it cannot be judged: fewer than two seeds in total beyond one each, or NaN).
    Columns: system, metric, reference_mean, mean, difference, spread, ratio, larger.
    """
    summary = summarise(table)
    if reference not in set(summary["system"]):
        raise _fail(f"compare_to_reference: no rows for reference system {reference!r}")
    ref = summary[summary["system"] == reference].set_index("metric")
    rows = []
    for row in summary[summary["system"] != reference].itertuples(index=False):
        if row.metric not in ref.index or (metrics is not None and row.metric not in metrics):
            continue
        r = ref.loc[row.metric]
        dof = int(r["n"]) + int(row.n) - 2
        pooled = (
            float(np.sqrt(((r["n"] - 1) * r["spread"] ** 2 + (row.n - 1) * row.spread**2) / dof))
            if dof > 0
            else float("nan")
        )
        diff = float(row.mean - r["mean"])
        judged = np.isfinite(diff) and np.isfinite(pooled)
        rows.append(
            {
                "system": row.system,
                "metric": row.metric,
                "reference_mean": float(r["mean"]),
                "mean": float(row.mean),
                "difference": diff,
                "spread": pooled,
                "ratio": abs(diff) / pooled if judged and pooled > 0 else float("nan"),
                "larger": bool(judged and abs(diff) > pooled),
            }
        )
    columns = ["system", "metric", "reference_mean", "mean", "difference", "spread", "ratio"]
    return pd.DataFrame(rows, columns=[*columns, "larger"])


def describe_differences(comparison: pd.DataFrame, system: str) -> str:
    """A phrase naming the metrics on which `system` differs from the reference by more than
    the seed spread, e.g. "2 of 12 metrics (fid, diversity)" or "none of the 12 metrics"."""
    rows = comparison[comparison["system"] == system]
    if rows.empty:
        raise _fail(f"describe_differences: no comparison rows for system {system!r}")
    larger = rows.loc[rows["larger"].astype(bool), "metric"].tolist()
    total = len(rows)
    if not larger:
        return f"none of the {total} metrics"
    return f"{len(larger)} of {total} metrics ({', '.join(larger)})"


def mean_spread_table(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    digits: int = 3,
) -> pd.DataFrame:
    """A display table (metric rows, system columns) of "mean ± spread" over seeds.

    A system scored with one seed shows its mean only; a missing metric shows "–".
    """
    summary = summarise(table)
    metrics = (
        list(metrics)
        if metrics is not None
        else [m for m in METRIC_NAMES if m in set(summary["metric"])]
        + [m for m in dict.fromkeys(summary["metric"]) if m not in METRIC_NAMES]
    )
    systems = list(systems) if systems is not None else list(dict.fromkeys(summary["system"]))
    cells = {(r.system, r.metric): r for r in summary.itertuples(index=False)}
    out = pd.DataFrame("–", index=pd.Index(metrics, name="metric"), columns=systems)
    for s in systems:
        for m in metrics:
            r = cells.get((s, m))
            if r is None or not np.isfinite(r.mean):
                continue
            text = f"{r.mean:.{digits}g}"
            out.loc[m, s] = text if r.n < 2 else f"{text} ± {r.spread:.2g}"
    return out


def beat_source_table(
    dances: dict[str, Sequence[np.ndarray]],
    sources: dict[str, Sequence[np.ndarray | None]],
    config: EvalConfig | None = None,
) -> pd.DataFrame:
    """Beat metrics of sets of dances against several sources of musical beats.

    `dances` maps a system to one dance per piece of music; `sources` maps a beat source
    (e.g. librosa's tracked beats, the synthetic world's true beats) to beat times (s) per
    piece (None: no beats, skipped). Rows (system, beat source); columns the four beat metrics.
    """
    config = config or EvalConfig()
    rows = []
    for system, items in dances.items():
        for source, beats in sources.items():
            _check_same_length(items, beats, f"{system} dances", f"{source} beat arrays")
            use = [i for i, b in enumerate(beats) if b is not None]
            if not use:
                continue
            scores = beat_metrics(
                [items[i] for i in use],
                [beats[i] for i in use],
                fps=config.fps,
                tolerance=config.tolerance,
                sigma=config.sigma,
                smoothing=config.smoothing,
                min_motion=config.min_motion,
            )
            keys = ("beat_coverage", "beat_hit_rate", "bas_kinematic", "bas_music")
            rows.append({"system": system, "beats": source} | {k: scores[k] for k in keys})
    return pd.DataFrame(rows).set_index(["system", "beats"])


# ---------------------------------------------------------------------------- style classification


@torch.no_grad()
def style_predictions(
    model: nn.Module, store: FeatureStore, split: str = "test", batch_size: int = 256
) -> pd.DataFrame:
    """A style extractor's prediction for every window tiling each clip of `split`.

    Windows are `model.window` frames at offsets 0, w, 2w, ... of each clip's audio
    features (normalised with the dataset's stats). One row per window: clip (row of the
    clips table), start (frame), true and predicted style index, the softmax probabilities
    (p_<style>) and the style code (a list, column "code").
    """
    window = int(model.window)
    rows: list[dict[str, object]] = []
    batches: list[np.ndarray] = []
    for clip in store.clip_indices(split):
        feats = store.clip_audio(int(clip))
        for start in range(0, len(feats) - window + 1, window):
            batches.append(store.normalise_audio(feats[start : start + window]))
            rows.append({"clip": int(clip), "start": start, "style": int(store.clip_style[clip])})
    if not rows:
        raise _fail(f"style_predictions: no clip of split {split!r} holds {window} audio frames")
    model.eval()
    codes, probs = [], []
    x = np.stack(batches)
    for lo in range(0, len(x), batch_size):
        code, logits = model(torch.from_numpy(x[lo : lo + batch_size]))
        codes.append(code.numpy())
        probs.append(torch.softmax(logits, -1).numpy())
    prob = np.concatenate(probs)
    table = pd.DataFrame(rows)
    table["predicted"] = prob.argmax(1)
    for i, name in enumerate(STYLES[: prob.shape[1]]):
        table[f"p_{name}"] = prob[:, i]
    table["code"] = list(np.concatenate(codes))
    return table


def classification_scores(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int = 3
) -> dict[str, float]:
    """Accuracy, and precision and recall of each style (NaN when never predicted / never true)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.size == 0:
        raise _fail("classification_scores: empty set (no predictions)")
    _check_same_length(t, p, "true styles", "predictions")
    out = {"accuracy": float(np.mean(t == p))}
    for c in range(num_classes):
        name = STYLES[c] if c < len(STYLES) else str(c)
        hit = np.sum((t == c) & (p == c))
        out[f"precision {name}"] = float(hit / np.sum(p == c)) if np.any(p == c) else float("nan")
        out[f"recall {name}"] = float(hit / np.sum(t == c)) if np.any(t == c) else float("nan")
    return out


def scores_over_seeds(predictions: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """Tidy (system, seed, metric, value) rows of `classification_scores` for each
    (system, seed) -> `style_predictions` table (the layout `viz.plot_metric_bars` reads)."""
    rows = []
    for (system, seed), table in predictions.items():
        for metric, value in classification_scores(table["style"], table["predicted"]).items():
            rows.append({"system": system, "seed": int(seed), "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def misclassified_windows(
    table: pd.DataFrame, n: int = 3, seed: int = 0, true_style: int | None = None
) -> pd.DataFrame:
    """Up to `n` wrongly classified rows of a `style_predictions` table (of `true_style` when
    given), the most confidently wrong first; ties broken by a seeded shuffle."""
    wrong = table[table["style"] != table["predicted"]]
    if true_style is not None:
        wrong = wrong[wrong["style"] == int(true_style)]
    if wrong.empty:
        return wrong.copy()
    prob_cols = [f"p_{name}" for name in STYLES if f"p_{name}" in wrong.columns]
    probs = wrong[prob_cols].to_numpy()
    confidence = probs[np.arange(len(wrong)), wrong["predicted"].to_numpy()]
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(wrong)), -confidence))
    return wrong.iloc[order[:n]].assign(confidence=confidence[order[:n]])


# ---------------------------------------------------------------------------- chapters: training, initial pose


def _joint_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of each joint between poses a and b (..., 14, 2) -> (..., 14), pixels."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def reconstruction_table(
    units: np.ndarray, recon: np.ndarray, styles: Sequence[int | str], mean_pose: np.ndarray
) -> pd.DataFrame:
    """Mean L1 error per coordinate (pixels) of reconstructed units, by style and overall.

    Columns: ``units`` (count), ``model`` (the reconstructions), ``first pose held`` (every
    frame predicted as the unit's first pose) and ``mean pose`` (every frame predicted as
    `mean_pose` (14, 2), e.g. the training set's mean pose).
    """
    x = check_dance_set(units, "reconstruction units")
    y = check_dance_set(recon, "reconstructions")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise _fail(f"reconstruction_table: units {x.shape} and reconstructions {y.shape} differ")
    mean_pose = np.asarray(mean_pose, np.float64).reshape(skeleton.NUM_JOINTS, 2)
    names = np.asarray([STYLES[int(s)] if not isinstance(s, str) else s for s in styles])
    _check_same_length(x, names, "units", "styles")
    errors = {
        "model": np.abs(y - x).mean(axis=(1, 2, 3)),
        "first pose held": np.abs(x[:, :1] - x).mean(axis=(1, 2, 3)),
        "mean pose": np.abs(mean_pose - x).mean(axis=(1, 2, 3)),
    }
    rows = {}
    for name in [s for s in STYLES if s in set(names)] + ["all"]:
        pick = np.ones(len(names), bool) if name == "all" else names == name
        rows[name] = {"units": int(pick.sum())} | {
            k: float(v[pick].mean()) for k, v in errors.items()
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _mean_distance_to_others(items: Sequence[np.ndarray], k: int, fn: Callable) -> float:
    """Mean of fn(items[k], items[j]) over j != k."""
    return float(np.mean([fn(items[k], items[j]) for j in range(len(items)) if j != k]))


def _pose_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean joint distance (px) between two dances over their common frames."""
    n = min(len(a), len(b))
    return float(_joint_distance(a[:n], b[:n]).mean())


def initial_pose_study(
    generator: DanceGenerator,
    music: Sequence[object],
    music_styles: Sequence[int],
    spreads: Sequence[float],
    seeds: Sequence[int],
    classifier: DanceClassifier | None = None,
    real: Sequence[np.ndarray] | None = None,
    warp: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much the initial-pose spread changes the dances composed for the same music.

    For every spread and seed, composes a dance for each piece of `music` (generate.Music or
    audio) with ``init_spread=spread``. The same seed at spread 0 (the reference) shares the
    composer's noise, so its distance to the reference is the initial pose's effect alone.
    Returns (table, profile). table rows (spread, seed, metric, value): ``first_pose_px`` (mean
    joint distance of the initial pose to the reference's), ``shift_px`` (of the dances, over
    frames and music), ``others_px`` (to the other seeds' dances for the same music),
    ``kinetic_to_others`` (the same on kinetic features normalised by `real`, when given),
    ``embedding_to_others`` and ``style_consistency`` (with `classifier`), ``beat_hit_rate``,
    ``beat_coverage`` and ``bas_kinematic``. profile rows (spread, time_s, shift_px): the
    initial pose's effect frame by frame, averaged over seeds and music.
    """
    from d2mlib.generate import load_music

    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or not len(music):
        raise _fail("initial_pose_study: needs at least 2 seeds and one piece of music")
    tracks = [load_music(m) for m in music]
    _check_same_length(tracks, list(music_styles), "music", "music styles")
    levels = sorted({0.0, *(float(s) for s in spreads)})
    dances: dict[tuple[float, int], list[np.ndarray]] = {}
    firsts: dict[tuple[float, int], np.ndarray] = {}
    for spread in levels:
        for seed in seeds:
            out = [generator.compose(m, seed=seed, init_spread=spread, warp=warp) for m in tracks]
            dances[spread, seed] = [np.asarray(d.poses, np.float64) for d in out]
            firsts[spread, seed] = generator.initial_pose(seed, spread)
    emb = kin = None
    keys = list(dances)
    flat = [d for key in keys for d in dances[key]]
    if classifier is not None:
        e = embed_dances(classifier, flat)
        emb = dict(zip(keys, np.split(e.features, len(keys)), strict=True))
        pred = dict(zip(keys, np.split(e.predicted, len(keys)), strict=True))
    if real is not None:
        _, f = normalise_by_real(feature_matrix(real, "k"), feature_matrix(flat, "k"))
        kin = dict(zip(keys, np.split(f, len(keys)), strict=True))
    beats = [t.beat_times for t in tracks]
    rows: list[dict[str, object]] = []
    profile: list[pd.DataFrame] = []
    for spread in [float(s) for s in spreads]:
        for k, seed in enumerate(seeds):
            mine, ref = dances[spread, seed], dances[0.0, seed]
            values = {
                "first_pose_px": float(
                    _joint_distance(firsts[spread, seed], firsts[0.0, seed]).mean()
                ),
                "shift_px": float(
                    np.mean([_pose_gap(a, b) for a, b in zip(mine, ref, strict=True)])
                ),
                "others_px": float(
                    np.mean(
                        [
                            _mean_distance_to_others(
                                [dances[spread, s][c] for s in seeds], k, _pose_gap
                            )
                            for c in range(len(tracks))
                        ]
                    )
                ),
            }
            for name, table in (("kinetic_to_others", kin), ("embedding_to_others", emb)):
                if table is not None:
                    groups = np.stack(
                        [table[spread, s] for s in seeds], axis=1
                    )  # (music, seeds, D)
                    values[name] = float(
                        np.mean(
                            [
                                _mean_distance_to_others(
                                    list(g), k, lambda a, b: float(np.linalg.norm(a - b))
                                )
                                for g in groups
                            ]
                        )
                    )
            if classifier is not None:
                values["style_consistency"] = style_consistency(
                    pred[spread, seed], np.asarray(music_styles)
                )
            bm = beat_metrics(mine, beats)
            values |= {m: bm[m] for m in ("beat_hit_rate", "beat_coverage", "bas_kinematic")}
            rows += [
                {"spread": spread, "seed": seed, "metric": m, "value": v} for m, v in values.items()
            ]
            n = min(len(d) for d in mine)
            gap = np.mean(
                [_joint_distance(a[:n], b[:n]).mean(-1) for a, b in zip(mine, ref, strict=True)], 0
            )
            profile.append(
                pd.DataFrame(
                    {
                        "spread": spread,
                        "seed": seed,
                        "time_s": np.arange(n) / skeleton.FPS,
                        "shift_px": gap,
                    }
                )
            )
    prof = pd.concat(profile).groupby(["spread", "time_s"], as_index=False)["shift_px"].mean()
    return pd.DataFrame(rows), prof


def baseline_verdict(model: float, first_pose: float, mean_pose: float) -> str:
    """A phrase comparing a reconstruction error with the two baselines' (smaller is better)."""
    values = (model, first_pose, mean_pose)
    if not all(np.isfinite(v) for v in values):
        raise _fail(f"baseline_verdict: errors must be finite, got {values}")
    if model < first_pose and model < mean_pose:
        return "the VAE beats both baselines"
    if model < mean_pose:
        return "the VAE beats the mean pose but not yet the still first pose"
    if model < first_pose:
        return "the VAE beats the still first pose but not yet the mean pose"
    return "the VAE does not yet beat either baseline"


def held_out_summary(clips: Sequence[object], dances: Sequence[object]) -> pd.DataFrame:
    """Per style: clips, how often the music was heard as its style, beat hit rates of the real
    and the composed dances (generate.HeldOutClip and generate.Dance pairs; pooled over clips)."""
    _check_same_length(list(clips), list(dances), "clips", "dances")
    if not len(clips):
        raise _fail("held_out_summary: empty set (no clips)")
    rows = {}
    for style in [s for s in STYLES if any(c.style == s for c in clips)]:
        pairs = [(c, d) for c, d in zip(clips, dances, strict=True) if c.style == style]
        beats = [c.beat_times for c, _ in pairs]
        rows[style] = {
            "clips": len(pairs),
            "heard as its style": float(np.mean([d.style == style for _, d in pairs])),
            "hit rate (real)": beat_metrics([c.poses for c, _ in pairs], beats)["beat_hit_rate"],
            "hit rate (composed)": beat_metrics([d.poses for _, d in pairs], beats)[
                "beat_hit_rate"
            ],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def balanced_order(styles: np.ndarray, n: int | None = None) -> np.ndarray:
    """Positions of up to `n` items taken round-robin over styles (first of each style, then
    the second of each, ...), each style in its original order: a capped subset stays balanced."""
    st = np.asarray(styles)
    if st.ndim != 1:
        raise _fail(f"balanced_order: expected 1-D style labels, got {st.shape}")
    rank = np.zeros(st.size, dtype=np.int64)
    for value in np.unique(st):
        where = np.flatnonzero(st == value)
        rank[where] = np.arange(where.size)
    order = np.lexsort((np.arange(st.size), rank))
    return order if n is None else order[: max(int(n), 0)]


def spread_verdict(
    a: Sequence[float],
    b: Sequence[float],
    larger: str = "larger than",
    smaller: str = "smaller than",
    within: str = "within the seed-to-seed spread of",
) -> str:
    """`larger` / `smaller` when the means of a and b differ by more than the sum of their
    standard deviations over seeds (ddof=1), else `within`."""
    (ma, sa), (mb, sb) = mean_and_spread(a), mean_and_spread(b)
    if ma - mb > sa + sb:
        return larger
    if mb - ma > sa + sb:
        return smaller
    return within


def composed_styles(
    generator: DanceGenerator,
    store: FeatureStore,
    classifier: DanceClassifier,
    split: str = "test",
    per_style: int = 10,
    seed: int = 0,
    warp: bool = True,
) -> pd.DataFrame:
    """Compose a dance for `per_style` random clips of each style of `split` and classify it.

    One row per dance: clip (row of the clips table), style of its music, the classifier's
    predicted style and probabilities (p_<style>), and the dance itself (column "dance").
    The music's beats are the clip's meta.json beats when present (else none: no warping).
    """
    from d2mlib import generate

    rng = np.random.default_rng(seed)
    rows, dances = [], []
    clips = store.clip_indices(split)
    for s in range(len(STYLES)):
        mine = clips[store.clip_style[clips] == s]
        for c in np.sort(rng.choice(mine, min(int(per_style), len(mine)), replace=False)):
            feats = np.asarray(store.clip_audio(int(c)), np.float32)
            beats = _meta_beats(store.clips_table["audio"].iloc[int(c)])
            music = generate.Music(
                features=feats,
                beat_times=np.zeros(0) if beats is None else np.asarray(beats, np.float64),
                duration=len(feats) / skeleton.FPS,
                source=f"clip {int(c)}",
            )
            dance = generator.compose(music, seed=_derived_seed(seed, int(c)), warp=warp)
            dances.append(np.asarray(dance.poses, np.float64))
            rows.append({"clip": int(c), "style": s})
    if not rows:
        raise _fail(f"composed_styles: no clips in split {split!r}")
    emb = embed_dances(classifier, dances)
    table = pd.DataFrame(rows)
    table["predicted"] = emb.predicted
    for i, name in enumerate(STYLES[: emb.probs.shape[1]]):
        table[f"p_{name}"] = emb.probs[:, i]
    table["dance"] = dances
    return table


METRIC_DIRECTIONS: dict[str, str] = {
    "fid": "lower",
    "diversity": "closer",
    "multimodality": "higher",
    "style_consistency": "higher",
    "beat_coverage": "closer",
    "beat_hit_rate": "higher",
    "bas_kinematic": "higher",
    "bas_music": "higher",
    "fid_k": "lower",
    "fid_g": "lower",
    "diversity_k": "closer",
    "diversity_g": "closer",
}
"""Which way is better for each metric: "lower", "higher", or "closer" to the dataset's value."""


def against_bounds(
    table: pd.DataFrame,
    system: str,
    ceiling: str = "dataset",
    floors: Sequence[str] = ("retrieval", "random_units"),
) -> pd.DataFrame:
    """Per metric: `system`'s mean, the ceiling's, the best floor's, and whether it beats every floor.

    "Better" follows METRIC_DIRECTIONS ("closer" means nearer the ceiling's value); a metric
    the ceiling lacks cannot be judged by "closer" and is left out, as are metrics without a
    direction. Columns: metric, system, ceiling, best_floor, beats_floors.
    """
    means = summarise(table).pivot(index="metric", columns="system", values="mean")
    for name in (system, *floors):
        if name not in means.columns:
            raise _fail(f"against_bounds: no rows for system {name!r}")
    rows = []
    for metric, direction in METRIC_DIRECTIONS.items():
        if metric not in means.index or not np.isfinite(means.loc[metric, system]):
            continue
        top = means.loc[metric, ceiling] if ceiling in means.columns else float("nan")
        if direction == "closer" and not np.isfinite(top):
            continue
        values = {n: float(means.loc[metric, n]) for n in (system, *floors)}
        if any(not np.isfinite(v) for v in values.values()):
            continue

        def goodness(v: float, d: str = direction, ref: float = top) -> float:
            return -v if d == "lower" else v if d == "higher" else -abs(v - ref)

        best_floor = max(floors, key=lambda n: goodness(values[n]))
        rows.append(
            {
                "metric": metric,
                "system": values[system],
                "ceiling": float(top),
                "best_floor": values[best_floor],
                "beats_floors": all(goodness(values[system]) > goodness(values[n]) for n in floors),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "system", "ceiling", "best_floor", "beats_floors"])
