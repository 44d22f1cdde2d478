"""Tests for the initial-pose chapter's helpers in d2mlib.metrics: the spread study and verdicts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from d2mlib import generate, studies
from d2mlib.errors import MetricError

FRAMES = 45


class FakeGenerator:
    """A dance whose first pose is offset by spread * 3 px (seed-dependent direction), the offset
    halving every frame, on top of seed-dependent movement."""

    def initial_pose(self, seed: int, spread: float = 1.0) -> np.ndarray:
        direction = np.array([np.cos(seed), np.sin(seed)])
        return np.full((14, 2), 200.0) + 3.0 * spread * direction

    def compose(self, music, seed=0, init_spread=1.0, warp=True):
        t = np.arange(FRAMES)[:, None, None]
        offset = (self.initial_pose(seed, init_spread) - 200.0)[None] * 0.5**t
        moves = 20 * np.sin(2 * np.pi * t / 15 + seed)  # different movements for each seed
        poses = 200.0 + offset + moves * np.ones((1, 14, 2))
        return SimpleNamespace(poses=poses, style="ballet")


def _music():
    return generate.Music(np.zeros((FRAMES, 28), np.float32), np.array([1.0, 2.0]), 3.0)


def test_initial_pose_study_measures_the_pose_offset_and_its_fading():
    table, profile = studies.initial_pose.initial_pose_study(
        FakeGenerator(), [_music(), _music()], [0, 1], spreads=[0.0, 1.0, 2.0], seeds=[0, 1, 2]
    )
    value = table.set_index(["spread", "seed", "metric"])["value"]
    for seed in (0, 1, 2):
        assert value[0.0, seed, "first_pose_px"] == pytest.approx(0.0)
        assert value[0.0, seed, "shift_px"] == pytest.approx(0.0)
        assert value[2.0, seed, "first_pose_px"] == pytest.approx(6.0)
        # sum of 6 * 0.5**t over 45 frames, averaged: the offset's mean distance
        assert value[2.0, seed, "shift_px"] == pytest.approx(12.0 / FRAMES, rel=1e-6)
    assert value[1.0, 0, "others_px"] > 1.0  # other seeds move differently
    curve = profile[profile["spread"] == 2.0].set_index("time_s")["shift_px"]
    assert curve.iloc[0] == pytest.approx(6.0)
    assert curve.iloc[1] == pytest.approx(3.0)
    assert curve.iloc[-1] < 1e-6
    assert {"beat_hit_rate", "beat_coverage", "bas_kinematic"} <= set(table["metric"])
    assert "embedding_to_others" not in set(table["metric"])  # no classifier given


def test_initial_pose_study_adds_kinetic_distances_when_given_real_dances():
    real = [FakeGenerator().compose(None, seed=s).poses for s in range(5)]
    table, _ = studies.initial_pose.initial_pose_study(
        FakeGenerator(), [_music()], [0], spreads=[0.0, 1.0], seeds=[0, 1], real=real
    )
    kin = table[table["metric"] == "kinetic_to_others"]["value"]
    assert len(kin) == 4 and np.all(kin > 0)


def test_initial_pose_study_needs_two_seeds():
    with pytest.raises(MetricError, match="2 seeds"):
        studies.initial_pose.initial_pose_study(FakeGenerator(), [_music()], [0], [0.0, 1.0], [0])


def test_spread_verdict_compares_means_against_the_seed_spread():
    assert studies.initial_pose.spread_verdict([10, 11, 12], [1, 2, 3]) == "larger than"
    assert studies.initial_pose.spread_verdict([1, 2, 3], [10, 11, 12]) == "smaller than"
    assert studies.initial_pose.spread_verdict([1, 5, 9], [2, 4, 6]).startswith("within")
    assert studies.initial_pose.spread_verdict([1, 2], [9, 9], "up", "down", "same") == "down"
