"""Everything about beats in one place: kinematic beats of a dance, how they meet the music's
beats (hit rate, coverage, Beat Align Score), and warping a dance's timing onto the beats.

Kinematic beats are minima of the mean joint speed (`kinematic_beats`, frames;
`kinematic_beat_times`, seconds, smoothed over ``KIN_SMOOTHING`` frames with at least
``KIN_MIN_MOTION`` px/s around them). A hit is a kinematic beat within ``HIT_TOLERANCE`` s of a
musical beat; the Beat Align Score (AIST++/FACT and Bailando directions) uses ``BAS_SIGMA``. A
frozen dance has no kinematic beats: its coverage, hit rate and scores are 0.0. Musical beats come
from `d2mlib.audio.beats` (librosa's tracker; `music_beat_times` for a file). The warping
(`match_beats`, `warp_to_beats`, `align_to_beats`) moves each kinematic beat by at most
``DEFAULT_MAX_SHIFT`` frames onto its nearest musical beat, as the generator does after composing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from d2mlib import audio, skeleton
from d2mlib.errors import DataError
from d2mlib.skeleton import FPS, joint_speed, smooth
from d2mlib.validate import (
    check_dance,
    check_dance_set,
    check_same_length,
    check_times,
    metric_error,
)

KIN_SMOOTHING = 3
KIN_MIN_MOTION = 5.0
HIT_TOLERANCE = 0.1
BAS_SIGMA = 0.1


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
        raise metric_error(f"kinematic_beat_times: fps must be positive, got {fps}")
    idx = kinematic_beats(x, fps=fps, smoothing=smoothing, min_motion=min_motion)
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
    kin = check_times(kinematic, "kinematic beats")
    mus = check_times(music, "musical beats")
    if not tolerance >= 0:
        raise metric_error(f"tolerance must be >= 0 seconds, got {tolerance}")
    if kin.size == 0 or mus.size == 0:
        return 0
    return int(np.count_nonzero(_nearest_distance(kin, mus) <= tolerance + 1e-9))


def beat_coverage(kinematic: np.ndarray, music: np.ndarray) -> float:
    """Beat coverage: kinematic beats / musical beats (NaN when the music has no beats)."""
    kin = check_times(kinematic, "kinematic beats")
    mus = check_times(music, "musical beats")
    return float(kin.size / mus.size) if mus.size else float("nan")


def beat_hit_rate(
    kinematic: np.ndarray, music: np.ndarray, tolerance: float = HIT_TOLERANCE
) -> float:
    """Beat hit rate: kinematic beats within `tolerance` of a musical beat / kinematic beats.

    A dance without kinematic beats (a frozen dance) hits nothing: 0.0 by definition.
    """
    kin = check_times(kinematic, "kinematic beats")
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
        raise metric_error(f"unknown BAS direction {direction!r}: expected 'kinematic' or 'music'")
    if not (np.isfinite(sigma) and sigma > 0):
        raise metric_error(f"BAS sigma must be positive seconds, got {sigma}")
    kin = check_times(kinematic, "kinematic beats")
    mus = check_times(music, "musical beats")
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
    check_same_length(items, beats, "dances", "music beat arrays")
    n_kin = n_mus = n_hit = 0
    bas_k, bas_m = [], []
    for i, (dance, mb) in enumerate(zip(items, beats, strict=True)):
        mus = check_times(mb, f"musical beats[{i}]")
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


def music_beat_times(wav_path: str | Path) -> np.ndarray:
    """Musical beats (s) of an audio file: librosa's beat tracker via d2mlib.audio.beats."""

    return np.asarray(audio.beats(audio.load_audio(wav_path)).times, dtype=np.float64)


DEFAULT_MAX_SHIFT = 4  # frames a kinematic beat may move when warping (0.27 s at 15 fps)


def seconds_to_frames(times: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Beat times in seconds -> nearest frame indices at `fps` (the unit the warper expects)."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(times)):
        raise DataError("beat times hold NaN or infinite values")
    return np.rint(times * fps).astype(np.int64)


def _pairs_to_anchors(
    source: np.ndarray, target: np.ndarray, n_src: int, n_out: int
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor lists (output frame -> source frame), strictly increasing, with both ends pinned."""
    source = np.asarray(source, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if source.shape != target.shape:
        raise DataError(f"need as many source as target beats, got {source.size} and {target.size}")
    keep = (source > 0) & (source < n_src - 1) & (target > 0) & (target < n_out - 1)
    source, target = source[keep], target[keep]
    order = np.argsort(target, kind="stable")
    source, target = source[order], target[order]
    anchors_out, anchors_src = [0.0], [0.0]
    for s, t in zip(source, target, strict=True):
        if t > anchors_out[-1] and s > anchors_src[-1]:
            anchors_out.append(float(t))
            anchors_src.append(float(s))
    anchors_out.append(float(n_out - 1))
    anchors_src.append(float(n_src - 1))
    return np.asarray(anchors_out), np.asarray(anchors_src)


def warp_to_beats(
    poses: np.ndarray,
    source_frames: np.ndarray,
    target_frames: np.ndarray,
    n_frames: int | None = None,
) -> np.ndarray:
    """Time-warp poses (T, 14, 2) so frame source_frames[i] moves to target_frames[i].

    The map from output time to source time is piecewise linear through the
    pairs, with the first and last frames pinned; pairs that would make it
    non-monotone (or sit on an end) are dropped. Poses between frames are
    interpolated linearly. Returns `n_frames` (default T) poses.
    """
    poses = skeleton.check_poses(poses)
    if poses.ndim != 3:
        raise DataError(f"warp_to_beats takes one dance (T, 14, 2), got {poses.shape}")
    n_src = poses.shape[0]
    n_out = n_src if n_frames is None else int(n_frames)
    if n_src < 2 or n_out < 2:
        return poses[np.linspace(0, n_src - 1, max(n_out, 0)).round().astype(int)]
    out_t, src_t = _pairs_to_anchors(source_frames, target_frames, n_src, n_out)
    u = np.interp(np.arange(n_out, dtype=np.float64), out_t, src_t)
    lo = np.clip(np.floor(u).astype(np.int64), 0, n_src - 1)
    hi = np.minimum(lo + 1, n_src - 1)
    a = (u - lo).astype(np.float32)[:, None, None]
    return (poses[lo] * (1 - a) + poses[hi] * a).astype(np.float32)


def match_beats(
    kinematic: np.ndarray, music: np.ndarray, max_shift: float = DEFAULT_MAX_SHIFT
) -> tuple[np.ndarray, np.ndarray]:
    """Pair kinematic beats with music beats (frames) at most `max_shift` apart, one-to-one, in order.

    Closest pairs are taken first; pairs that cross an earlier pair are dropped.
    Returns (source frames, target frames), sorted.
    """
    kin = np.asarray(kinematic, dtype=np.float64).reshape(-1)
    mus = np.asarray(music, dtype=np.float64).reshape(-1)
    if kin.size == 0 or mus.size == 0:
        return np.zeros(0), np.zeros(0)
    dist = np.abs(kin[:, None] - mus[None, :])
    cand = np.argwhere(dist <= max_shift)
    cand = cand[np.argsort(dist[cand[:, 0], cand[:, 1]], kind="stable")]
    used_k: set[int] = set()
    used_m: set[int] = set()
    pairs: list[tuple[float, float]] = []
    for i, j in cand:
        if i in used_k or j in used_m:
            continue
        if any((kin[i] - s) * (mus[j] - t) <= 0 for s, t in pairs):
            continue
        used_k.add(int(i))
        used_m.add(int(j))
        pairs.append((kin[i], mus[j]))
    pairs.sort()
    if not pairs:
        return np.zeros(0), np.zeros(0)
    src, tgt = np.asarray(pairs).T
    return src, tgt


def align_to_beats(
    poses: np.ndarray,
    beat_frames: np.ndarray,
    max_shift: float = DEFAULT_MAX_SHIFT,
    min_motion: float = 5.0,
) -> np.ndarray:
    """Beat warping: move the dance's kinematic beats onto the music's beats (frame indices).

    Kinematic beats are `skeleton.kinematic_beats`; each is paired with a
    music beat at most `max_shift` frames away (`match_beats`), and the dance
    is warped through the pairs (`warp_to_beats`). Length is unchanged.
    """
    poses = skeleton.check_poses(poses)
    beat_frames = np.asarray(beat_frames)
    if (
        beat_frames.size
        and not np.issubdtype(beat_frames.dtype, np.integer)
        and np.any(np.abs(beat_frames - np.rint(beat_frames)) > 1e-6)
    ):
        raise DataError(
            "beat_frames must be frame indices; convert seconds with seconds_to_frames()"
        )
    kin = kinematic_beats(poses, FPS, min_motion=min_motion)
    src, tgt = match_beats(kin, beat_frames, max_shift)
    return warp_to_beats(poses, src, tgt)


def kinematic_beats(
    poses: np.ndarray,
    fps: float = FPS,
    smoothing: int = 1,
    min_motion: float = 5.0,
) -> np.ndarray:
    """Frame indices of kinematic beats: local minima of the (smoothed) mean joint speed.

    A frame is a candidate when its speed is below the previous frame's and not
    above the next one's (so a plateau reports its first frame). It counts only when the
    larger of its two neighbouring peaks (the motion around it) exceeds
    `min_motion` pixels per second, so a still dance has no beats. Defaults:
    no smoothing, 5 px/s.
    """
    speed = smooth(joint_speed(poses, fps), smoothing)
    if speed.ndim != 1:
        raise DataError(f"kinematic_beats takes one dance (T, 14, 2), got {np.shape(poses)}")
    if speed.size < 3:
        return np.zeros(0, dtype=np.int64)
    interior = (speed[1:-1] < speed[:-2]) & (speed[1:-1] <= speed[2:])
    candidates = np.flatnonzero(interior) + 1
    if candidates.size == 0:
        return candidates.astype(np.int64)
    # motion around each minimum: the highest speed to its left and right up to the next minimum
    bounds = np.concatenate([[0], candidates, [speed.size - 1]])
    peak_left = np.array(
        [speed[a : b + 1].max() for a, b in zip(bounds[:-2], bounds[1:-1], strict=True)]
    )
    peak_right = np.array(
        [speed[a : b + 1].max() for a, b in zip(bounds[1:-1], bounds[2:], strict=True)]
    )
    keep = np.maximum(peak_left, peak_right) - speed[candidates] >= min_motion
    return candidates[keep].astype(np.int64)
