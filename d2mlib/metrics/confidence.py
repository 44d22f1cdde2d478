"""Spread over seeds: mean and standard deviation, bootstrap resamples and confidence intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from d2mlib.validate import metric_error


def mean_and_spread(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value) of finite values."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise metric_error("mean_and_spread: empty set (no values)")
    if not np.all(np.isfinite(arr)):
        raise metric_error("mean_and_spread: values hold NaN or infinite entries")
    spread = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), spread


def bootstrap(
    metric: Callable[[np.ndarray], float], n_items: int, n_resamples: int = 200, seed: int = 0
) -> np.ndarray:
    """Values of `metric(indices)` over bootstrap resamples (with replacement) of n_items items."""
    if n_items < 1:
        raise metric_error("bootstrap: empty set (n_items < 1)")
    if n_resamples < 1:
        raise metric_error(f"bootstrap: n_resamples must be >= 1, got {n_resamples}")
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
        raise metric_error("bootstrap_ci: empty set (no values)")
    if not np.all(np.isfinite(arr)):
        raise metric_error("bootstrap_ci: values hold NaN or infinite entries")
    if not 0 < level < 1:
        raise metric_error(f"bootstrap_ci: level must be in (0, 1), got {level}")
    stats = bootstrap(lambda idx: float(statistic(arr[idx])), arr.size, n_resamples, seed)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))
