"""The 23 motion-capture points -> the 14 joints, their checks, and the front camera's pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from d2mlib import skeleton
from d2mlib.errors import DataError

BODY_PIXELS = 225.0  # nose-to-ankle height on the canvas (d2mlib.synth's dancer)
GROUND_PIXELS = 440.0  # image y of the ankles (d2mlib.synth's ground)
NOSE_FORWARD_CM = 8.0  # the nose in front of the two head points' midpoint

# source points of the joints on the two sides (nose and neck are derived)
_SIDE_A = {"shoulder": 3, "elbow": 4, "wrist": 6, "hip": 7, "knee": 8, "ankle": 9}
_SIDE_B = {"shoulder": 12, "elbow": 13, "wrist": 15, "hip": 16, "knee": 17, "ankle": 18}
_HEEL_TOE = ((10, 11), (19, 20))
_HEAD = (0, 1)
_PAIRS = {  # bones of skeleton.BONES by name: (right, left)
    "shoulder": ((1, 2), (1, 5)),
    "upper arm": ((2, 3), (5, 6)),
    "forearm": ((3, 4), (6, 7)),
    "flank": ((1, 8), (1, 11)),
    "thigh": ((8, 9), (11, 12)),
    "shin": ((9, 10), (12, 13)),
}


def _horizontal_unit(v: np.ndarray) -> np.ndarray:
    v = np.array(v, dtype=np.float64)
    v[..., 1] = 0.0
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def facing(points: np.ndarray) -> np.ndarray:
    """Unit horizontal direction the dancer faces (T, 3): where the toes point (heel -> toe)."""
    toes = sum(points[:, t] - points[:, h] for h, t in _HEEL_TOE)
    return _horizontal_unit(toes)


def side_check(points: np.ndarray) -> float:
    """Fraction of frames in which source side A (points 3-11) is the dancer's right."""
    right = np.cross(facing(points), np.array([0.0, 1.0, 0.0]))  # right-handed: fwd x up
    a_minus_b = points[:, _SIDE_A["hip"]] - points[:, _SIDE_B["hip"]]
    a_minus_b += points[:, _SIDE_A["shoulder"]] - points[:, _SIDE_B["shoulder"]]
    return float(np.mean(np.sum(_horizontal_unit(a_minus_b) * right, axis=-1) > 0))


def joints_3d(points: np.ndarray, a_is_right: bool = True) -> np.ndarray:
    """The 14 joints (T, 14, 3) of skeleton.JOINT_NAMES from the 23 source points (T, 23, 3)."""
    right, left = (_SIDE_A, _SIDE_B) if a_is_right else (_SIDE_B, _SIDE_A)
    head_l, head_r = points[:, _HEAD[1]], points[:, _HEAD[0]]
    head_fwd = _horizontal_unit(np.cross(head_l - head_r, np.array([0.0, 1.0, 0.0])))
    out = np.empty((len(points), skeleton.NUM_JOINTS, 3))
    out[:, 0] = (head_l + head_r) / 2 + NOSE_FORWARD_CM * head_fwd
    out[:, 1] = (points[:, right["shoulder"]] + points[:, left["shoulder"]]) / 2
    for side, src in (("r", right), ("l", left)):
        for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            out[:, skeleton.JOINT[f"{side}_{part}"]] = points[:, src[part]]
    return out


def bone_check(joints: np.ndarray) -> pd.DataFrame:
    """Per bone pair: mean length (cm) right and left, their ratio, and each side's CV over time."""
    rows = []
    for name, (rb, lb) in _PAIRS.items():
        lengths = [np.linalg.norm(joints[:, a] - joints[:, b], axis=-1) for a, b in (rb, lb)]
        r, left = lengths
        rows.append(
            {
                "bone": name,
                "right cm": r.mean(),
                "left cm": left.mean(),
                "right/left": r.mean() / left.mean(),
                "cv right": r.std() / r.mean(),
                "cv left": left.std() / left.mean(),
            }
        )
    return pd.DataFrame(rows)


def resample(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear resampling along axis 0 from `fps_in` to `fps_out`, starting at the first frame."""
    n_out = int(np.floor((len(x) - 1) * fps_out / fps_in + 1e-9)) + 1
    pos = np.arange(n_out) * (fps_in / fps_out)
    lo = np.minimum(np.floor(pos).astype(np.int64), len(x) - 2)
    w = (pos - lo).reshape(-1, *([1] * (x.ndim - 1)))
    return x[lo] * (1 - w) + x[lo + 1] * w


def project(joints: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Front-camera pixels (T, 14, 2) of joints (T, 14, 3) cm: pans with the root's x.

    Orthographic onto the x-y plane; scaled so the median nose-to-ankle height is
    BODY_PIXELS; x centred on the canvas at the root; the ankles' median floor at
    GROUND_PIXELS (image y grows downwards).
    """
    j, k = skeleton.JOINT, np.array([skeleton.JOINT["r_ankle"], skeleton.JOINT["l_ankle"]])
    ankle_y = joints[:, k, 1].min(axis=1)
    height = float(np.median(joints[:, j["nose"], 1] - ankle_y))
    if not height > 1.0:
        raise DataError(f"nose is not above the ankles (median height {height:.1f} cm)")
    scale = BODY_PIXELS / height
    out = np.empty(joints.shape[:2] + (2,), dtype=np.float64)
    out[..., 0] = skeleton.CANVAS_WIDTH / 2 + scale * (joints[..., 0] - centre[:, None, 0])
    out[..., 1] = GROUND_PIXELS - scale * (joints[..., 1] - float(np.median(ankle_y)))
    return out.astype(np.float32)
