"""Diversity, Multimodality (mean pairwise distances of embeddings) and Style consistency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import pdist

from d2mlib.validate import check_features, check_same_length, metric_error


def _mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows of x (N >= 2)."""
    return float(pdist(x, metric="euclidean").mean())


def diversity(features: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the embeddings (N, D) of dances for different music.

    Identical dances score exactly 0. Needs at least 2 dances.
    """
    x = check_features(features, "diversity features", min_rows=2)
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
        raise metric_error("multimodality: empty set (no groups)")
    dims = set()
    values = []
    for i, g in enumerate(items):
        x = check_features(g, f"multimodality group {i}", min_rows=2)
        dims.add(x.shape[1])
        values.append(_mean_pairwise_distance(x - x.mean(axis=0)))
    if len(dims) != 1:
        raise metric_error(
            f"multimodality: groups have mismatched feature dimensions {sorted(dims)}"
        )
    return float(np.mean(values))


def style_consistency(predicted: np.ndarray, target: np.ndarray) -> float:
    """Fraction of dances whose predicted style index equals their music's style index."""
    pred = np.asarray(predicted)
    tgt = np.asarray(target)
    if pred.ndim != 1 or tgt.ndim != 1:
        raise metric_error(
            f"style_consistency: expected 1-D label arrays, got {pred.shape} and {tgt.shape}"
        )
    if pred.size == 0:
        raise metric_error("style_consistency: empty set (no predictions)")
    check_same_length(pred, tgt, "predictions", "target styles")
    for arr, nm in ((pred, "predictions"), (tgt, "target styles")):
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
                raise metric_error(f"style_consistency: {nm} must be finite integers")
            if not np.all(arr == np.round(arr)):
                raise metric_error(f"style_consistency: {nm} must be integer style indices")
    return float(np.mean(pred.astype(np.int64) == tgt.astype(np.int64)))
