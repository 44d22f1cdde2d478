"""Tests for the comparison helpers the ablation and evaluation chapters use (d2mlib.metrics)."""

import numpy as np
import pandas as pd
import pytest

from d2mlib import metrics
from d2mlib.errors import MetricError


def _table(values: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    rows = [
        {"system": s, "seed": i, "metric": m, "value": v}
        for s, by_metric in values.items()
        for m, vals in by_metric.items()
        for i, v in enumerate(vals)
    ]
    return pd.DataFrame(rows, columns=list(metrics.TABLE_COLUMNS))


def test_compare_to_reference_flags_only_differences_beyond_the_pooled_spread() -> None:
    table = _table(
        {
            "full": {"fid": [1.0, 2.0, 3.0], "diversity": [5.0, 5.0, 5.0]},
            "ablated": {"fid": [1.5, 2.5, 3.5], "diversity": [7.0, 7.0, 7.0]},
        }
    )
    out = metrics.compare_to_reference(table, reference="full").set_index("metric")
    assert list(out["system"]) == ["ablated", "ablated"]
    assert out.loc["fid", "difference"] == pytest.approx(0.5)
    assert out.loc["fid", "spread"] == pytest.approx(1.0)  # both stds are 1
    assert not out.loc["fid", "larger"]
    assert out.loc["diversity", "difference"] == pytest.approx(2.0)
    assert out.loc["diversity", "spread"] == pytest.approx(0.0)
    assert out.loc["diversity", "larger"]


def test_compare_to_reference_pools_unequal_seed_counts_by_degrees_of_freedom() -> None:
    table = _table({"full": {"fid": [0.0, 2.0]}, "x": {"fid": [10.0, 10.0, 10.0]}})
    out = metrics.compare_to_reference(table)
    # ((2-1) * 2 + (3-1) * 0) / 3 = 2/3
    assert out.loc[0, "spread"] == pytest.approx(np.sqrt(2.0 / 3.0))
    assert out.loc[0, "larger"]


def test_compare_to_reference_does_not_judge_single_seeds() -> None:
    out = metrics.compare_to_reference(_table({"full": {"fid": [1.0]}, "x": {"fid": [9.0]}}))
    assert np.isnan(out.loc[0, "spread"])
    assert not out.loc[0, "larger"]


def test_compare_to_reference_rejects_a_missing_reference() -> None:
    with pytest.raises(MetricError, match="reference"):
        metrics.compare_to_reference(_table({"x": {"fid": [1.0, 2.0]}}), reference="full")


def test_describe_differences_names_the_metrics_or_says_none() -> None:
    table = _table(
        {
            "full": {"fid": [1.0, 1.1], "diversity": [5.0, 5.1]},
            "a": {"fid": [9.0, 9.1], "diversity": [5.0, 5.1]},
            "b": {"fid": [1.0, 1.1], "diversity": [5.0, 5.1]},
        }
    )
    comp = metrics.compare_to_reference(table)
    assert metrics.describe_differences(comp, "a") == "1 of 2 metrics (fid)"
    assert metrics.describe_differences(comp, "b") == "none of the 2 metrics"
    with pytest.raises(MetricError):
        metrics.describe_differences(comp, "missing")


def test_mean_spread_table_formats_mean_and_spread_and_marks_missing_cells() -> None:
    table = _table(
        {"full": {"fid": [1.0, 3.0], "diversity": [2.0, 2.0]}, "dataset": {"fid": [0.5]}}
    )
    out = metrics.mean_spread_table(table, digits=3)
    assert list(out.index) == ["fid", "diversity"]  # METRIC_NAMES order
    assert out.loc["fid", "full"] == "2 ± 1.4"
    assert out.loc["fid", "dataset"] == "0.5"  # one seed: no spread shown
    assert out.loc["diversity", "dataset"] == "–"


def test_per_seed_sampler_routes_each_seed_to_its_run() -> None:
    def make(tag: float):
        return lambda seed, k, clips: [np.full((3, 14, 2), tag + seed) for _ in clips]

    sampler = metrics.per_seed_sampler([make(100.0), make(200.0)])
    assert sampler(0, 0, [0])[0][0, 0, 0] == 100.0
    assert sampler(1, 0, [0, 1])[1][0, 0, 0] == 201.0
    assert sampler(2, 0, [0])[0][0, 0, 0] == 102.0  # wraps around
    with pytest.raises(MetricError):
        metrics.per_seed_sampler([])


def _on_beat_dance(beats: np.ndarray, frames: int = 90, fps: float = 15.0) -> np.ndarray:
    t = np.arange(frames) / fps
    speed_phase = np.zeros(frames)
    for b in beats:  # position moves like |sin| so the speed has a minimum at every beat
        speed_phase += np.exp(-((t - b) ** 2) / 0.02)
    x = np.cumsum(1.0 - speed_phase) * 5.0
    poses = np.tile(np.linspace(50, 200, 28).reshape(14, 2), (frames, 1, 1))
    return poses + x[:, None, None]


def test_beat_source_table_scores_each_system_against_each_beat_source() -> None:
    beats = np.arange(0.5, 6.0, 0.6)
    dance = _on_beat_dance(beats)
    shifted = [b + 0.3 for b in [beats]]
    out = metrics.beat_source_table(
        {"on_beat": [dance]},
        {"true": [beats], "shifted": shifted, "none": [None]},
    )
    assert list(out.index) == [("on_beat", "true"), ("on_beat", "shifted")]
    assert out.loc[("on_beat", "true"), "beat_hit_rate"] > 0.8
    assert (
        out.loc[("on_beat", "true"), "bas_kinematic"]
        > out.loc[("on_beat", "shifted"), "bas_kinematic"]
    )
    with pytest.raises(MetricError, match="mismatched"):
        metrics.beat_source_table({"a": [dance, dance]}, {"true": [beats]})


def test_balanced_order_interleaves_styles_so_a_cap_keeps_every_style() -> None:
    styles = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    order = metrics.balanced_order(styles)
    assert sorted(order.tolist()) == list(range(8))
    assert order[:3].tolist() == [0, 3, 5]  # first of each style, in split order
    assert styles[metrics.balanced_order(styles, 6)].tolist() == [0, 1, 2, 0, 1, 2]
    assert metrics.balanced_order(styles, 0).size == 0


def test_against_bounds_judges_each_metric_in_its_own_direction() -> None:
    table = _table(
        {
            "dataset": {"fid": [0.0], "diversity": [10.0], "style_consistency": [1.0]},
            "model": {"fid": [5.0, 7.0], "diversity": [9.0, 9.0], "style_consistency": [0.5, 0.5]},
            "retrieval": {"fid": [4.0], "diversity": [10.5], "style_consistency": [0.4]},
            "random_units": {"fid": [50.0], "diversity": [30.0], "style_consistency": [0.3]},
        }
    )
    out = metrics.against_bounds(table, "model").set_index("metric")
    assert list(out.index) == ["fid", "diversity", "style_consistency"]
    assert out.loc["fid", "system"] == pytest.approx(6.0)
    assert out.loc["fid", "best_floor"] == pytest.approx(4.0)  # lower is better
    assert not out.loc["fid", "beats_floors"]
    assert out.loc["diversity", "best_floor"] == pytest.approx(10.5)  # closest to the dataset's 10
    assert not out.loc["diversity", "beats_floors"]  # 9 is 1 away, retrieval 0.5
    assert out.loc["style_consistency", "beats_floors"]
    with pytest.raises(MetricError, match="nobody"):
        metrics.against_bounds(table, "nobody")
