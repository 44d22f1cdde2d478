"""Tests for the initial-pose chapter's helpers in d2mlib.metrics: the spread study and verdicts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
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


def _per_run(table):
    """Means over clips per (spread, seed, metric)."""
    return table.groupby(["spread", "seed", "metric"])["value"].mean()


def test_initial_pose_study_measures_the_pose_offset_and_its_fading():
    table, profile = studies.initial_pose.initial_pose_study(
        FakeGenerator(), [_music(), _music()], [0, 1], spreads=[0.0, 1.0, 2.0], seeds=[0, 1, 2]
    )
    value = _per_run(table)
    for seed in (0, 1, 2):
        assert value[0.0, seed, "first_pose_px"] == pytest.approx(0.0)
        assert value[0.0, seed, "shift_px"] == pytest.approx(0.0)
        assert value[2.0, seed, "first_pose_px"] == pytest.approx(6.0)
        # sum of 6 * 0.5**t over 45 frames, averaged: the offset's mean distance
        assert value[2.0, seed, "shift_px"] == pytest.approx(12.0 / FRAMES, rel=1e-6)
    assert value[1.0, 0, "others_px"] > 1.0  # other seeds move differently
    # per-clip metrics have one row per clip, the first pose one per run (clip NaN)
    shift = table[(table["metric"] == "shift_px") & (table["spread"] == 2.0)]
    assert sorted(shift["clip"].unique()) == [0, 1] and len(shift) == 6
    assert table.loc[table["metric"] == "first_pose_px", "clip"].isna().all()
    curve = profile[profile["spread"] == 2.0].set_index("time_s")["shift_px"]
    assert curve.iloc[0] == pytest.approx(6.0)
    assert curve.iloc[1] == pytest.approx(3.0)
    assert curve.iloc[-1] < 1e-6
    assert {"beat_hit_rate", "beat_coverage", "bas_kinematic"} <= set(table["metric"])
    assert "embedding_to_others" not in set(table["metric"])  # no classifier given


def test_initial_pose_study_scores_unwarped_dances_by_default():
    seen = []

    class Recording(FakeGenerator):
        def compose(self, music, seed=0, init_spread=1.0, warp=True):
            seen.append(warp)
            return super().compose(music, seed, init_spread, warp)

    studies.initial_pose.initial_pose_study(Recording(), [_music()], [0], [0.0, 1.0], [0, 1])
    assert seen and not any(seen)


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


def _table(shift, others, hit_top, hit_0, seeds=(0, 1, 2, 3), clips=(0, 1, 2, 3, 4), noise=0.1):
    """A study table with chosen means and small seeded noise."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for clip in clips:
            for spread, metric, mean in (
                (2.0, "shift_px", shift),
                (0.0, "others_px", others),
                (2.0, "others_px", others),
                (2.0, "beat_hit_rate", hit_top),
                (0.0, "beat_hit_rate", hit_0),
            ):
                value = mean + noise * rng.standard_normal()
                rows.append(dict(spread=spread, seed=seed, clip=clip, metric=metric, value=value))
    return pd.DataFrame(rows)


def test_offset_comparison_finds_a_large_offset_and_not_an_equal_one():
    big = studies.initial_pose.offset_comparison(_table(30.0, 10.0, 0.3, 0.3), 2.0).iloc[0]
    assert big["differs"] and big["effect"] == pytest.approx(20.0, abs=0.2)
    assert big["system"] == "initial pose" and big["baseline"] == "another seed"
    same = studies.initial_pose.offset_comparison(_table(10.0, 10.0, 0.3, 0.3), 2.0).iloc[0]
    assert not same["differs"] and same["ci_low"] < 0 < same["ci_high"]


def test_spread_comparison_tests_each_metric_against_spread_zero():
    result = studies.initial_pose.spread_comparison(_table(30.0, 10.0, 0.6, 0.3), 2.0)
    row = result.set_index("metric").loc["beat_hit_rate"]
    assert row["differs"] and row["effect"] == pytest.approx(0.3, abs=0.05)
    assert row["better"] == "system"
    assert "shift_px" not in set(result["metric"])  # the reference distance is not compared
    flat = studies.initial_pose.spread_comparison(_table(30.0, 10.0, 0.3, 0.3), 2.0)
    assert not flat.set_index("metric").loc["beat_hit_rate", "differs"]


def test_summary_table_uses_readable_names_and_mean_with_sd():
    out = studies.initial_pose.summary_table(_table(30.0, 10.0, 0.6, 0.3, noise=0.0))
    assert list(out.columns) == ["spread 0", "spread 2"]
    assert out.loc["beat hit rate", "spread 2"] == "0.600 (sd 0.000)"
    assert out.loc["dance moved (px)", "spread 0"] == ""
    assert not any("_" in name for name in out.index)
    noisy = studies.initial_pose.summary_table(_table(30.0, 10.0, 0.6, 0.3, noise=1e-6))
    assert noisy.loc["beat hit rate", "spread 2"] == "0.600 (sd 0.000)"  # no 1.7e-06


def test_fade_reads_start_and_last_second_and_says_persists_when_most_is_left():
    t = np.arange(0, 4, 1 / 15)
    profile = pd.DataFrame({"spread": 2.0, "time_s": t, "shift_px": 10.0 - 0.3 * t})
    start, end, verdict = studies.initial_pose.fade(profile, 2.0)
    assert start == pytest.approx(10.0)
    assert 8.8 < end < 9.2 and verdict.startswith("persists")
    quick = profile.assign(shift_px=10.0 * 0.5**t)
    assert studies.initial_pose.fade(quick, 2.0)[2].startswith("fades")
    with pytest.raises(MetricError, match="no curve"):
        studies.initial_pose.fade(profile, 1.0)
