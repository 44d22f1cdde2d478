"""Music-movement dependence: known answers on dances built to follow (or ignore) their music."""

from __future__ import annotations

import numpy as np
import pytest

from d2mlib import metrics
from d2mlib.errors import MetricError
from d2mlib.metrics.dependence import ENERGY_FEATURE, WINDOW, clip_dependence, window_series


def music_and_dance(n_windows: int, seed: int, follow: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features whose energy changes per window; a dance whose speed is exp(energy) (follow)
    or drawn independently of it."""
    rng = np.random.default_rng(seed)
    energy = rng.normal(0.0, 1.0, n_windows)
    feats = rng.normal(0.0, 0.1, (n_windows * WINDOW, 28))
    feats[:, ENERGY_FEATURE] = np.repeat(energy, WINDOW)
    speed = np.exp(energy if follow else rng.normal(0.0, 1.0, n_windows))
    step = np.repeat(speed, WINDOW) / 15.0  # px per frame
    x = np.cumsum(step)  # every joint moves right at that speed
    poses = np.zeros((n_windows * WINDOW, 14, 2))
    poses[:, :, 0] = x[:, None] + np.arange(14)[None, :]
    poses[:, :, 1] = 200.0
    return feats, poses


def test_a_dance_whose_speed_follows_the_energy_scores_near_one() -> None:
    feats, poses = music_and_dance(12, 0, follow=True)
    music, move = window_series(poses, feats)
    assert len(music) == len(move) == 12
    assert clip_dependence([poses], [feats])[0] > 0.95


def test_a_dance_that_ignores_its_music_scores_near_zero_on_average() -> None:
    values = []
    for seed in range(40):
        feats, poses = music_and_dance(12, seed, follow=False)
        values.append(clip_dependence([poses], [feats])[0])
    assert abs(np.mean(values)) < 0.1
    # and following dances paired with other clips' music lose their dependence
    clips = [music_and_dance(12, seed, follow=True) for seed in range(40)]
    own = clip_dependence([p for _, p in clips], [f for f, _ in clips])
    other = clip_dependence([p for _, p in clips], [f for f, _ in clips[1:] + clips[:1]])
    assert own.min() > 0.95
    assert abs(other.mean()) < 0.15


def test_short_clips_give_nan_and_bad_shapes_raise() -> None:
    feats, poses = music_and_dance(2, 0, follow=True)
    assert np.isnan(clip_dependence([poses], [feats])[0])
    with pytest.raises(MetricError, match="poses must be"):
        window_series(np.zeros((32, 28)), feats)
    with pytest.raises(MetricError, match="features must be"):
        window_series(poses, feats[:, :10])
    with pytest.raises(MetricError, match="1 dances for 2 pieces"):
        clip_dependence([poses], [feats, feats])


def test_dependence_is_a_per_clip_metric_of_the_evaluation_with_a_direction() -> None:
    assert "music_dependence" in metrics.METRIC_NAMES
    assert "music_dependence" in metrics.PER_CLIP_METRICS
    assert metrics.METRIC_DIRECTIONS["music_dependence"] == "higher"
