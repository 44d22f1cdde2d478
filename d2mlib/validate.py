"""Input checks shared by the metrics and the beat functions: one-line MetricErrors naming the problem."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from d2mlib import skeleton
from d2mlib.errors import D2MError, MetricError


def metric_error(message: str) -> MetricError:
    """The MetricError for `message` (raise it)."""
    return MetricError(message)


def check_features(x: np.ndarray, name: str, min_rows: int = 1) -> np.ndarray:
    """Return `x` as float64 (N, D) or raise MetricError naming what is wrong."""
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise metric_error(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise metric_error(f"{name}: expected features of shape (N, D), got {arr.shape}")
    if arr.shape[0] == 0:
        raise metric_error(f"{name}: empty set (no rows)")
    if arr.shape[1] == 0:
        raise metric_error(f"{name}: features have dimension 0")
    if arr.shape[0] < min_rows:
        raise metric_error(f"{name}: needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise metric_error(
            f"{name}: holds {int(np.count_nonzero(~np.isfinite(arr)))} NaN or infinite values"
        )
    return arr.astype(np.float64, copy=False)


def check_dance(poses: np.ndarray, name: str = "dance", min_frames: int = 1) -> np.ndarray:
    """Return one dance as float64 (T, 14, 2) or raise MetricError (bad shape, NaN, too short)."""
    try:
        arr = skeleton.check_poses(poses)
    except D2MError as err:
        raise metric_error(f"{name}: {err.problem}") from None
    if arr.ndim != 3:
        raise metric_error(f"{name}: expected one dance of shape (T, 14, 2), got {arr.shape}")
    if arr.shape[0] < min_frames:
        raise metric_error(f"{name}: needs at least {min_frames} frames, got {arr.shape[0]}")
    return arr.astype(np.float64)


def check_dance_set(
    dances: np.ndarray | Sequence[np.ndarray], name: str = "dances", min_frames: int = 1
) -> list[np.ndarray]:
    """Return a set of dances as a list of float64 (T_i, 14, 2) arrays or raise MetricError."""
    if isinstance(dances, np.ndarray):
        if dances.ndim < 3:
            raise metric_error(
                f"{name}: expected a set of dances (N, T, 14, 2), got {dances.shape}"
            )
        items = list(dances)
    else:
        items = list(dances)
    if not items:
        raise metric_error(f"{name}: empty set (no dances)")
    return [check_dance(d, f"{name}[{i}]", min_frames) for i, d in enumerate(items)]


def check_times(times: np.ndarray, name: str) -> np.ndarray:
    """Beat times in seconds as a finite, sorted 1-d float array; MetricError otherwise."""
    arr = np.asarray(times, dtype=np.float64)
    if arr.ndim != 1:
        raise metric_error(
            f"{name}: expected a 1-D array of beat times in seconds, got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise metric_error(f"{name}: beat times hold NaN or infinite values")
    return np.sort(arr)


def check_same_length(a: Sequence, b: Sequence, name_a: str, name_b: str) -> None:
    """MetricError naming both when `a` and `b` differ in length."""
    if len(a) != len(b):
        raise metric_error(f"mismatched lengths: {len(a)} {name_a} but {len(b)} {name_b}")
