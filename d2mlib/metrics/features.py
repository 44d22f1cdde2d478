"""Hand-made kinetic and geometric features of the 2-D skeleton, and the field's FID_k, FID_g
and feature Diversity on them (normalised by the reference set).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from d2mlib import skeleton
from d2mlib.metrics.diversity import diversity
from d2mlib.metrics.frechet import fid_from_features
from d2mlib.validate import check_dance, check_dance_set, check_features, metric_error

FEATURE_STD_FLOOR = 1e-8


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
        raise metric_error(f"kinetic_features: fps must be positive, got {fps}")
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
    raise metric_error(f"unknown feature kind {kind!r}: expected 'k' (kinetic) or 'g' (geometric)")


def normalise_by_real(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise both feature sets by the real set's per-feature mean and std."""
    real = check_features(real, "real features")
    fake = check_features(fake, "generated features")
    if real.shape[1] != fake.shape[1]:
        raise metric_error(
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
