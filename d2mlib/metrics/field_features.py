"""The field's motion features exactly as published: AIST++/FACT kinetic and geometric features.

``metrics.py`` scores dances with simpler home-made features that carry the field's names
(FID_k, FID_g). This module implements the field's own definitions on our 14-joint 2-D
skeleton, each as a named variant listed in :data:`VARIANTS`, with options that reproduce the
known bugs of the upstream code so that published numbers can be matched.

Sources (read to learn, not copied): the AIST++ API (``aist_plusplus/features``, kinetic and
"manual" features, themselves adapted from fairmotion), FACT (Li et al. 2021, "AI
Choreographer", section 5 and its ``mint`` evaluation tools) and Bailando (Siyao et al. 2022,
``utils/metrics_new.py``, ``utils/beat_align_score.py``). Beat scores are in
:mod:`d2mlib.field_beats`, FID sample size in :mod:`d2mlib.field_fid`.

Frame-rate convention. Upstream features are computed on AIST++ at 60 fps with the frame time
1/60 s; here ``fps`` is a parameter (our data: 15 fps) and every rate is per second, so the
units do not change with the frame rate. The kinetic features' sliding window is a number of
*frames* (2 either side, as upstream): at 15 fps it spans 4x the time it spans at 60 fps. The
values are in pixels of the 2-D image, not metres of the 3-D body, so they are never
numerically comparable with published AIST++ values; the options only reproduce the
upstream *arithmetic*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from d2mlib import skeleton
from d2mlib.errors import D2MError, MetricError

KINETIC_WINDOW = 2
"""Frames either side of the AIST++ kinetic features' sliding window (``sliding_window=2``)."""
GEOM_SKIP = 30
"""The fairmotion loop step behind FACT's published FID_g (see :func:`geometric_features_fact`)."""

_J = skeleton.JOINT

# SMPL template joints (metres) from which the AIST++ API takes its body lengths: humerus
# (left shoulder to elbow), shoulder width and hip width. Only their ratios are used here.
_TEMPLATE = {
    "lshoulder": (1.99113488e-01, 2.36807942e-01, -1.80702247e-02),
    "lelbow": (4.54445392e-01, 2.21158922e-01, -4.10167128e-02),
    "rshoulder": (-1.91692337e-01, 2.36928746e-01, -1.23055102e-02),
    "lhip": (5.64076714e-02, -3.23069185e-01, 1.09197125e-02),
    "rhip": (-6.24834076e-02, -3.31302464e-01, 1.50412619e-02),
}


def _template_length(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(_TEMPLATE[a], _TEMPLATE[b])))


SW_OVER_HL = _template_length("lshoulder", "rshoulder") / _template_length("lshoulder", "lelbow")
"""Shoulder width / humerus length of the SMPL template (about 1.52)."""
HW_OVER_HL = _template_length("lhip", "rhip") / _template_length("lshoulder", "lelbow")
"""Hip width / humerus length of the SMPL template (about 0.46)."""


def _dance(poses: np.ndarray, name: str, min_frames: int) -> np.ndarray:
    """One dance as float64 (T, 14, 2), or MetricError naming the problem."""
    try:
        arr = skeleton.check_poses(poses)
    except D2MError as err:  # skeleton's DataError, re-raised as a metric error
        raise MetricError(f"{name}: {err.problem}") from None
    if arr.ndim != 3:
        raise MetricError(f"{name}: expected one dance (T, 14, 2), got {arr.shape}")
    if arr.shape[0] < min_frames:
        raise MetricError(f"{name}: needs at least {min_frames} frames, got {arr.shape[0]}")
    return arr.astype(np.float64)


def _check_fps(fps: float, name: str) -> float:
    if not (np.isfinite(fps) and fps > 0):
        raise MetricError(f"{name}: fps must be positive, got {fps}")
    return float(fps)


def _window_means(values: np.ndarray, centres: np.ndarray, lo: int, hi: int, w: int) -> np.ndarray:
    """Mean of ``values[k]`` (k indexed from ``lo`` to ``hi``) over ``|k - c| <= w`` per centre c."""
    csum = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    start = np.clip(centres - w, lo, hi) - lo
    stop = np.clip(centres + w, lo, hi) - lo + 1
    count = (stop - start).reshape(-1, *([1] * (values.ndim - 1)))
    return (csum[stop] - csum[start]) / count


def kinetic_features_aist(
    poses: np.ndarray,
    fps: float = skeleton.FPS,
    window: int = KINETIC_WINDOW,
    upstream_bug: bool = False,
) -> np.ndarray:
    """AIST++/FACT kinetic features of one dance (T >= 3, 14, 2): 42 values, joint-major.

    For each joint j, in the AIST++ layout ``[h_0, v_0, e_0, h_1, v_1, e_1, ...]``:

    * ``h_j`` = mean over i = 1..T-1 of ``vx_i ** 2`` and ``v_j`` = mean of ``vy_i ** 2``: the
      horizontal and vertical average kinetic energy (no factor 1/2), where ``v_i`` is the
      mean of the frame-to-frame displacements ``p[k+1] - p[k]`` over the ``window`` frames
      either side of i (clipped at the ends), times ``fps``;
    * ``e_j`` = mean over i = 1..T-1 of ``|a_i|``: the energy expenditure (mean *absolute*
      acceleration, not squared), ``a_i`` the mean over the same window of the second
      differences ``(p[k+1] - 2 p[k] + p[k-1]) * fps**2``, k = 1..T-2.

    ``upstream_bug=True`` reproduces the operator-precedence bug of ``calc_average_acceleration``
    in the AIST++ API, fairmotion and Bailando (fixed in the AIST++ API later; fairmotion PR 87,
    Bailando issue 46): the first velocity is written ``p[k] - p[k-1] / frame_time`` instead of
    ``(p[k] - p[k-1]) / frame_time``, so each second difference gains ``fps * (fps - 1) * p[k]``:
    the "acceleration" of a joint standing still at p is ``fps * (fps - 1) * |p|`` (3540 |p| at
    60 fps). ``e_j`` then measures mostly how far the joint is from the coordinate origin, grows
    with fps squared, and changes when the dance is translated. Velocities are unaffected.
    """
    x = _dance(poses, "kinetic_features_aist poses", min_frames=3)
    fps = _check_fps(fps, "kinetic_features_aist")
    if window < 1:  # with 0 the last frame has no acceleration term (upstream divides by 0)
        raise MetricError(f"kinetic_features_aist: window must be >= 1 frame, got {window}")
    t = x.shape[0]
    disp = np.diff(x, axis=0)  # (T-1, J, 2): p[k+1] - p[k], k = 0..T-2
    vel = _window_means(disp, np.arange(t - 1), 0, t - 2, window) * fps
    second = np.diff(disp, axis=0) * fps**2  # (T-2, J, 2): centred on k = 1..T-2
    if upstream_bug:
        second = second + fps * (fps - 1.0) * x[1:-1]
    acc = _window_means(second, np.arange(1, t), 1, t - 2, window)
    ke_h = np.mean(vel[..., 0] ** 2, axis=0)
    ke_v = np.mean(vel[..., 1] ** 2, axis=0)
    energy = np.mean(np.linalg.norm(acc, axis=-1), axis=0)
    return np.stack([ke_h, ke_v, energy], axis=-1).reshape(-1)


# ---------------------------------------------------------------------------- geometric

# Mueller et al.'s boolean relational features as the AIST++ API lists them (32, numbered from
# 1 in that order). Each entry: (number, kind, joints, threshold or angle range). Joint names
# are AIST++'s; see _POINTS for how each maps onto our 14 joints. The five features that need
# a plane through three 3-D points or the toes (1, 2, 15, 16, 28) are dropped on 2-D data.
GEOM_FEATURES: tuple[tuple[int, str, tuple[str, ...], object], ...] = (
    (3, "nplane", ("chest", "neck", "neck", "rwrist"), 0.2),
    (4, "nplane", ("chest", "neck", "neck", "lwrist"), 0.2),
    (5, "move", ("belly", "chest", "chest", "rwrist"), 1.8),
    (6, "move", ("belly", "chest", "chest", "lwrist"), 1.8),
    (7, "angle", ("relbow", "rshoulder", "relbow", "rwrist"), (0, 110)),
    (8, "angle", ("lelbow", "lshoulder", "lelbow", "lwrist"), (0, 110)),
    (9, "nplane", ("lshoulder", "rshoulder", "lwrist", "rwrist"), ("sw", 2.5)),
    (10, "move", ("lwrist", "rwrist", "rwrist", "lwrist"), 1.4),
    (11, "move", ("rwrist", "root", "lwrist", "root"), 1.4),
    (12, "move", ("lwrist", "root", "rwrist", "root"), 1.4),
    (13, "fast", ("rwrist",), 2.5),
    (14, "fast", ("lwrist",), 2.5),
    (17, "nplane", ("zero", "y_unit", "y_min", "rankle"), 1.2),
    (18, "nplane", ("zero", "y_unit", "y_min", "lankle"), 1.2),
    (19, "nplane", ("lhip", "rhip", "lankle", "rankle"), ("hw", 2.1)),
    (20, "angle", ("rknee", "rhip", "rknee", "rankle"), (0, 110)),
    (21, "angle", ("lknee", "lhip", "lknee", "lankle"), (0, 110)),
    (22, "fast", ("rankle",), 2.5),
    (23, "fast", ("lankle",), 2.5),
    (24, "angle", ("neck", "root", "rshoulder", "relbow"), (25, 180)),
    (25, "angle", ("neck", "root", "lshoulder", "lelbow"), (25, 180)),
    (26, "angle", ("neck", "root", "rhip", "rknee"), (50, 180)),
    (27, "angle", ("neck", "root", "lhip", "lknee"), (50, 180)),
    (29, "angle", ("neck", "root", "zero", "y_unit"), (70, 110)),
    (30, "nplane", ("zero", "minus_y_unit", "y_min", "rwrist"), -1.2),
    (31, "nplane", ("zero", "minus_y_unit", "y_min", "lwrist"), -1.2),
    (32, "fast", ("root",), 2.3),
)
GEOM_DROPPED = (1, 2, 15, 16, 28)
"""Upstream feature numbers without a 2-D equivalent (3-D plane normals, the toes)."""

_NAMED = {
    "rshoulder": "r_shoulder",
    "lshoulder": "l_shoulder",
    "relbow": "r_elbow",
    "lelbow": "l_elbow",
    "rwrist": "r_wrist",
    "lwrist": "l_wrist",
    "rhip": "r_hip",
    "lhip": "l_hip",
    "rknee": "r_knee",
    "lknee": "l_knee",
    "rankle": "r_ankle",
    "lankle": "l_ankle",
    "neck": "neck",
}
# spine points we lack, placed on the segment from mid-hip (root) to neck
_SPINE = {"root": 0.0, "belly": 0.25, "chest": 0.6}


def _points(q: np.ndarray) -> dict[str, np.ndarray]:
    """Every point name the features use, as (T, 2) arrays in y-up coordinates."""
    pts = {k: q[:, _J[v]] for k, v in _NAMED.items()}
    root = 0.5 * (pts["rhip"] + pts["lhip"])
    for name, frac in _SPINE.items():
        pts[name] = root + frac * (pts["neck"] - root)
    t = q.shape[0]
    pts["zero"] = np.zeros((t, 2))
    pts["y_unit"] = np.tile([0.0, 1.0], (t, 1))
    pts["minus_y_unit"] = np.tile([0.0, -1.0], (t, 1))
    pts["y_min"] = np.stack([np.zeros(t), q[..., 1].min(axis=1)], axis=-1)
    return pts


def _unit_dot(v: np.ndarray, direction: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(direction, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(v * direction, axis=-1) / norm  # NaN for a zero direction: compares False


def _geom_frame_values(pts: dict[str, np.ndarray], scale: dict[str, float], rate: float) -> list:
    """Per-frame booleans (frames 1..T-1) of each feature in GEOM_FEATURES."""
    cur = {k: v[1:] for k, v in pts.items()}
    prev = {k: v[:-1] for k, v in pts.items()}
    out = []
    for _, kind, js, param in GEOM_FEATURES:
        base, factor = (
            param if isinstance(param, tuple) and isinstance(param[0], str) else ("hl", param)
        )
        if kind == "nplane":  # distance of p from a along the direction n1 -> n2
            n1, n2, a, p = (cur[j] for j in js)
            val = _unit_dot(p - a, n2 - n1) > factor * scale[base]
        elif (
            kind == "move"
        ):  # velocity of j3 relative to j1 along j1 -> j2 (j4 unused, as upstream)
            j1, j2, j3, _ = js
            rel = (cur[j3] - cur[j1]) - (prev[j3] - prev[j1])
            val = _unit_dot(rel, cur[j2] - cur[j1]) * rate > factor * scale["hl"]
        elif kind == "fast":
            val = np.linalg.norm(cur[js[0]] - prev[js[0]], axis=-1) * rate > factor * scale["hl"]
        else:  # angle between j1 -> j2 and j3 -> j4, strictly inside the range (degrees)
            u, w = cur[js[1]] - cur[js[0]], cur[js[3]] - cur[js[2]]
            with np.errstate(invalid="ignore", divide="ignore"):
                cos = np.sum(u * w, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
                ang = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
            val = (ang > param[0]) & (ang < param[1])
        out.append(np.asarray(val, dtype=bool))
    return out


def body_scale(poses: np.ndarray) -> dict[str, float]:
    """Body lengths in pixels for the geometric thresholds: humerus, shoulder and hip width.

    The humerus length ``hl`` is the 90th percentile over frames and both arms of the 2-D
    shoulder-to-elbow distance (a high percentile, because an arm pointing at the camera
    looks short); shoulder and hip width follow from the SMPL template's ratios, since their
    2-D projections shrink whenever the dancer turns. Upstream uses the fixed template
    lengths in metres instead (the same for every dancer).
    """
    x = _dance(poses, "body_scale poses", min_frames=1)
    arms = np.concatenate(
        [
            np.linalg.norm(x[:, _J["r_shoulder"]] - x[:, _J["r_elbow"]], axis=-1),
            np.linalg.norm(x[:, _J["l_shoulder"]] - x[:, _J["l_elbow"]], axis=-1),
        ]
    )
    hl = max(float(np.percentile(arms, 90)), 1e-6)
    return {"hl": hl, "sw": SW_OVER_HL * hl, "hw": HW_OVER_HL * hl}


def geometric_features_muller(
    poses: np.ndarray, fps: float = skeleton.FPS, upstream: str = "none"
) -> np.ndarray:
    """AIST++'s geometric ("manual") features of one dance (T >= 2, 14, 2): 27 fractions in [0, 1].

    Each of Mueller et al.'s boolean relations kept on 2-D data (:data:`GEOM_FEATURES`, in
    upstream order, the five in :data:`GEOM_DROPPED` omitted) is evaluated on every frame
    1..T-1 (those with a previous frame) and averaged over frames: the fraction of the dance
    for which it holds. Image y is flipped so that "up" is up; root is the mid-hip; belly and
    chest are placed on the mid-hip-to-neck segment; thresholds are multiples of
    :func:`body_scale`; speeds are per second (``fps``).

    ``upstream`` reproduces the upstream code: ``"none"`` (our corrected reading), ``"api"``
    (the AIST++ API, whose velocity helpers divide by a frame time of 1/120 s on 60 fps data,
    doubling every speed compared against a threshold) or ``"fact"`` (the version behind FACT's
    published FID_g: ``"api"`` plus the fairmotion loop bug, which steps a counter by
    :data:`GEOM_SKIP` but advances the frame by one, so only the first ceil((T-1)/30) frames
    are used; see fairmotion issue 50 and the note in mint's ``calculate_fid_scores.py``).
    In every variant "move" features use their third joint as the moving one and ignore the
    fourth, as upstream does: features 5 and 6 thus measure the chest's speed along the torso,
    not the wrist's, and are almost always False.
    """
    if upstream not in ("none", "api", "fact"):
        raise MetricError(f"unknown upstream variant {upstream!r}: expected none, api or fact")
    x = _dance(poses, "geometric_features_muller poses", min_frames=2)
    fps = _check_fps(fps, "geometric_features_muller")
    q = x * np.array([1.0, -1.0])  # y up
    rate = fps * (2.0 if upstream in ("api", "fact") else 1.0)
    values = np.stack(_geom_frame_values(_points(q), body_scale(x), rate), axis=-1)
    if upstream == "fact":
        values = values[: len(range(1, x.shape[0], GEOM_SKIP))]
    return values.mean(axis=0)


def geometric_features_fact(poses: np.ndarray, fps: float = skeleton.FPS) -> np.ndarray:
    """Geometric features with every upstream bug behind FACT's published FID_g reproduced."""
    return geometric_features_muller(poses, fps, upstream="fact")


# ---------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Variant:
    """One named metric variant: what it computes, where it comes from, how it differs."""

    name: str
    function: str
    source: str
    differs: str


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "kinetic_aist",
        "metrics.field_features.kinetic_features_aist",
        "AIST++ API kinetic features (FACT, Li et al. 2021, sec. 5.1, FID_k)",
        "mean v^2 (no 1/2) and mean |a| per joint, sliding window of 2 frames each side; "
        "metrics.kinetic_features uses 0.5 mean(v^2) and mean(|a|^2), no window",
    ),
    Variant(
        "kinetic_aist_upstream",
        "metrics.field_features.kinetic_features_aist(upstream_bug=True)",
        "AIST++ API / fairmotion / Bailando code before the acceleration fix",
        "as kinetic_aist, but acceleration gains fps (fps - 1) p: depends on position",
    ),
    Variant(
        "geometric_muller",
        "metrics.field_features.geometric_features_muller",
        "Mueller et al. 2005 relational features as listed in the AIST++ API (FID_g)",
        "27 boolean relations averaged over frames; metrics.geometric_features uses 48 "
        "continuous distances and angles (mean and std)",
    ),
    Variant(
        "geometric_api",
        "metrics.field_features.geometric_features_muller(upstream='api')",
        "AIST++ API manual.py as released (per-frame loop)",
        "as geometric_muller, speeds doubled (1/120 s frame time on 60 fps data)",
    ),
    Variant(
        "geometric_fact",
        "metrics.field_features.geometric_features_fact",
        "fairmotion extractor used for FACT's published FID_g (mint note, fairmotion issue 50)",
        "as geometric_api, on the first ceil((T-1)/30) frames only",
    ),
    Variant(
        "bas_fact",
        "metrics.field_beats.fact_beat_align_score",
        "FACT, Li et al. 2021, sec. 5.1 (BeatAlign); mint tools/calculate_beat_scores.py",
        "beats: strict minima of summed joint speed over +-10/60 s; sigma 3/60 s; averaged "
        "over kinematic beats; metrics.bas_kinematic smooths 3 frames, needs 5 px/s of motion, "
        "refines sub-frame and uses sigma 0.1 s",
    ),
    Variant(
        "bas_bailando",
        "metrics.field_beats.bailando_beat_align_score",
        "Bailando, Siyao et al. 2022, sec. 5 (BAS); utils/beat_align_score.py",
        "beats: order-1 minima of mean joint speed smoothed by a Gaussian of 5/60 s; sigma "
        "3/60 s; averaged over music beats; metrics.bas_music uses metrics' own beats and 0.1 s",
    ),
    Variant(
        "fid_infinity",
        "metrics.field_fid.fid_protocol",
        "Chong & Forsyth 2020, 'Effectively unbiased FID' (extrapolation in 1/N)",
        "FID_inf (extrapolated to N -> infinity) averaged over random 4-d projections; "
        "metrics.fid_from_features is the plain FID at whatever N is given",
    ),
)


def variants_table() -> pd.DataFrame:
    """The registry :data:`VARIANTS` as a DataFrame (name, function, source, differs)."""
    return pd.DataFrame([v.__dict__ for v in VARIANTS])
