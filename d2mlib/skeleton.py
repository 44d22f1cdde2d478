"""The 2-D skeleton of the original data: 14 joints, 15 fps, dance units of 32 frames.

The joints are the first 14 of OpenPose's 18 COCO keypoints (eyes and ears
dropped), in pixels on the original 256 x 500 canvas (width x height, y grows
downwards). A pose is stored as an array of shape (14, 2) or flattened to the
28-vector x0, y0, x1, y1, ... that the models consume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d2mlib.errors import DataError

JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
)
NUM_JOINTS = len(JOINT_NAMES)
POSE_DIM = 2 * NUM_JOINTS  # 28
FPS = 15
UNIT_FRAMES = 32
# where the original beat warper expects the 4 kinematic beats of a unit
UNIT_BEAT_FRAMES = (3, 11, 19, 27)
CANVAS_WIDTH = 256
CANVAS_HEIGHT = 500

JOINT = {name: i for i, name in enumerate(JOINT_NAMES)}

BONES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (1, 5),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
)

MIRROR_PAIRS: tuple[tuple[int, int], ...] = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13))


def mirror_index() -> np.ndarray:
    """Joint permutation that swaps left and right."""
    perm = np.arange(NUM_JOINTS)
    for a, b in MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    return perm


def mirror(poses: np.ndarray, width: float = CANVAS_WIDTH) -> np.ndarray:
    """Mirror poses (..., 14, 2) left-right about the canvas centre."""
    poses = check_poses(poses)
    out = poses[..., mirror_index(), :].copy()
    out[..., 0] = width - out[..., 0]
    return out


def check_poses(poses: np.ndarray, name: str | Path | None = None) -> np.ndarray:
    """Return `poses` as float32 (..., 14, 2) or raise DataError on a bad shape or non-finite value."""
    arr = np.asarray(poses)
    if arr.ndim >= 1 and arr.shape[-1] == POSE_DIM:
        arr = arr.reshape(*arr.shape[:-1], NUM_JOINTS, 2)
    if arr.ndim < 2 or arr.shape[-2:] != (NUM_JOINTS, 2):
        raise DataError(f"expected poses of shape (..., {NUM_JOINTS}, 2), got {arr.shape}", name)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"poses must be numeric, got dtype {arr.dtype}", name)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise DataError(f"poses hold {bad} NaN or infinite values", name)
    return arr.astype(np.float32, copy=False)


def to_vector(poses: np.ndarray) -> np.ndarray:
    """Flatten poses (..., 14, 2) to pose vectors (..., 28) in x0, y0, x1, y1 order."""
    poses = np.asarray(poses)
    return poses.reshape(*poses.shape[:-2], POSE_DIM)


def from_vector(vectors: np.ndarray) -> np.ndarray:
    """Unflatten pose vectors (..., 28) to poses (..., 14, 2)."""
    vectors = np.asarray(vectors)
    if vectors.shape[-1] != POSE_DIM:
        raise DataError(
            f"expected pose vectors with last dimension {POSE_DIM}, got {vectors.shape}"
        )
    return vectors.reshape(*vectors.shape[:-1], NUM_JOINTS, 2)


@dataclass(frozen=True)
class Normaliser:
    """Per-coordinate dataset mean and std of the 28-d pose vector (the original's onbeat stats)."""

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if mean.shape != (POSE_DIM,) or std.shape != (POSE_DIM,):
            raise DataError(
                f"pose stats must hold {POSE_DIM} values, got {mean.shape} and {std.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise DataError("pose stats must be finite with a positive std")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def fit(cls, poses: np.ndarray, eps: float = 1e-3) -> Normaliser:
        """Estimate the stats from poses (..., 14, 2) or vectors (..., 28)."""
        vec = to_vector(check_poses(poses)).reshape(-1, POSE_DIM).astype(np.float64)
        return cls(vec.mean(axis=0), np.maximum(vec.std(axis=0), eps))

    def normalise(self, poses: np.ndarray) -> np.ndarray:
        """Map poses (..., 14, 2) to normalised vectors (..., 28)."""
        return (to_vector(np.asarray(poses, dtype=np.float32)) - self.mean) / self.std

    def denormalise(self, vectors: np.ndarray) -> np.ndarray:
        """Map normalised vectors (..., 28) back to poses (..., 14, 2) in pixels."""
        return from_vector(np.asarray(vectors, dtype=np.float32) * self.std + self.mean)


def joint_speed(poses: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Mean joint speed (pixels per second) at each frame: poses (..., T, 14, 2) -> (..., T).

    Velocities are central differences (one-sided at the two ends), so a pause
    at frame i gives the lowest speed at frame i itself.
    """
    poses = check_poses(poses)
    if poses.shape[-3] < 2:
        return np.zeros(poses.shape[:-2], dtype=np.float64)
    velocity = np.gradient(poses.astype(np.float64), axis=-3)  # (..., T, J, 2) px per frame
    return np.linalg.norm(velocity, axis=-1).mean(axis=-1) * fps


def smooth(signal: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over the last axis (edges use the available samples)."""
    signal = np.asarray(signal, dtype=np.float64)
    if width <= 1:
        return signal
    kernel = np.ones(width)
    pad = width // 2
    num = np.apply_along_axis(
        lambda s: np.convolve(s, kernel, mode="full")[pad : pad + s.size], -1, signal
    )
    den = np.convolve(np.ones(signal.shape[-1]), kernel, mode="full")[pad : pad + signal.shape[-1]]
    return num / den
