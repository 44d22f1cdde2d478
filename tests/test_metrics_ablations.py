"""Tests for the comparisons the ablation and evaluation chapters make with the book's rule
(d2mlib.metrics.bounds, d2mlib.studies.ablations, d2mlib.studies.evaluation)."""

import numpy as np
import pandas as pd
import pytest

from d2mlib import metrics, stats
from d2mlib.errors import MetricError
from d2mlib.studies import ablations
from d2mlib.studies import evaluation as E


def _tidy(values: dict[str, dict[str, list]], clips: int = 0, seed: int = 0) -> pd.DataFrame:
    """A tidy table: per system and metric a list over seeds of a value (per-run, clips=0) or
    of per-clip arrays offset by that value (clips > 0, clip k adds k / 10)."""
    rows = []
    for s, by_metric in values.items():
        for m, vals in by_metric.items():
            for i, v in enumerate(vals):
                if clips:
                    rows += [
                        dict(system=s, metric=m, seed=i, clip=k, value=v + k / 10.0)
                        for k in range(clips)
                    ]
                else:
                    rows.append(dict(system=s, metric=m, seed=i, clip=pd.NA, value=v))
    return pd.DataFrame(rows, columns=list(metrics.TABLE_COLUMNS)).astype({"clip": "Int64"})


def test_for_compare_repeats_a_deterministic_system_over_the_seeds_of_the_others() -> None:
    table = _tidy({"full": {"fid": [5.0, 6.0, 7.0]}, "retrieval": {"fid": [4.0]}})
    out = metrics.for_compare(table)
    got = out[out.system == "retrieval"].sort_values("seed")
    assert got["seed"].tolist() == [0, 1, 2] and (got["value"] == 4.0).all()
    assert out["clip"].isna().all()
    with pytest.raises(MetricError, match="nobody"):
        metrics.for_compare(table, ["full", "nobody"])


def test_judge_floors_reads_model_minus_floor_in_each_metrics_direction() -> None:
    table = pd.concat(
        [
            _tidy(
                {
                    "full": {"fid": [5.0, 5.1, 4.9], "diversity": [3.0, 3.1, 2.9]},
                    "retrieval": {"fid": [9.0], "diversity": [3.0]},
                    "random_units": {"fid": [20.0, 20.2, 19.8], "diversity": [3.0, 3.0, 3.1]},
                }
            ),
            _tidy(
                {
                    "full": {"beat_hit_rate": [0.2, 0.21, 0.19]},
                    "retrieval": {"beat_hit_rate": [0.5]},
                    "random_units": {"beat_hit_rate": [0.5, 0.51, 0.49]},
                },
                clips=6,
            ),
        ]
    )
    out = metrics.judge_floors(table).set_index(["baseline", "metric"])
    assert "diversity" not in out.index.get_level_values("metric")  # "closer": no direction
    assert out.loc[("retrieval", "fid"), "effect"] == pytest.approx(5.0 - 9.0)
    assert out.loc[("retrieval", "fid"), "beats"]  # lower FID is better
    assert out.loc[("random_units", "fid"), "beats"]
    assert out.loc[("random_units", "beat_hit_rate"), "effect"] == pytest.approx(-0.3)
    assert not out.loc[("random_units", "beat_hit_rate"), "beats"]
    assert out.loc[("random_units", "beat_hit_rate"), "better"] == "baseline"
    assert out.loc[("random_units", "beat_hit_rate"), "uncertainty"] == stats.SEEDS_AND_CLIPS
    row = out.loc[("retrieval", "fid")]
    assert row["ci_low"] < row["effect"] < row["ci_high"] < 0
    summary = E.floors_summary(out.reset_index(), ["retrieval", "random_units"])
    assert summary["beats_all"] == ["fid"] and summary["loses_somewhere"] == ["beat_hit_rate"]
    assert summary["phrase"] == "1 of 2 metrics"


def test_judge_ablations_finds_a_planted_difference_and_no_others() -> None:
    rng = np.random.default_rng(0)
    systems = ["full", "no_style_regressor", "no_movement_alignment", "no_dance_alignment"]
    values = {
        s: {
            "fid": list(10 + rng.normal(0, 0.5, 3) + (8.0 if s == "no_dance_alignment" else 0)),
            "style_consistency": list(0.6 + rng.normal(0, 0.01, 3)),
        }
        for s in systems
    }
    table = _tidy(values)
    result = ablations.judge_ablations(table, metrics=["fid", "style_consistency"])
    assert len(result) == 6 and set(result["baseline"]) == {"full"}
    flagged = result.loc[result["differs"], ["system", "metric"]].values.tolist()
    assert flagged == [["no_dance_alignment", "fid"]]
    assert ablations.sameness(result, "no_dance_alignment") == "refuted"
    assert ablations.sameness(result, "no_style_regressor") == "inconclusive"
    assert (
        E.differing(result, "no_dance_alignment") == "FID (classifier embedding) (1 of 2 metrics)"
    )
    assert E.differing(result, "no_style_regressor") == "none of 2 metrics"
    with pytest.raises(MetricError):
        ablations.sameness(result, "missing")


def test_judge_ceiling_skips_metrics_the_dataset_lacks() -> None:
    table = _tidy(
        {
            "dataset": {"fid": [1.0]},
            "full": {"fid": [9.0, 9.5, 8.5], "multimodality": [1.0, 1.1, 0.9]},
            "unit_recon": {"fid": [2.0]},
        }
    )
    out = metrics.judge_ceiling(table)
    assert set(out["metric"]) == {"fid"}
    full = out.set_index("system").loc["full"]
    assert full["effect"] == pytest.approx(8.0) and full["differs"]


def test_score_table_puts_metrics_in_rows_with_readable_names_and_formats() -> None:
    table = _tidy(
        {"full": {"fid": [1700.0, 1900.0], "diversity": [0.243, 0.243]}, "dataset": {"fid": [72.0]}}
    )
    out = E.score_table(table, ["dataset", "full"])
    assert list(out.columns) == ["dataset", "full"]
    assert out.index.tolist() == ["FID (classifier embedding) ↓", "diversity ≈ data"]
    assert out.iloc[0].tolist() == ["72.0", "1,800 ± 141"]
    assert out.iloc[1].tolist() == ["–", "0.243 ± 0.000"]


def test_per_seed_sampler_routes_each_seed_to_its_run() -> None:
    def make(tag: float):
        return lambda seed, k, clips: [np.full((3, 14, 2), tag + seed) for _ in clips]

    sampler = metrics.per_seed_sampler([make(100.0), make(200.0)])
    assert sampler(0, 0, [0])[0][0, 0, 0] == 100.0
    assert sampler(1, 0, [0, 1])[1][0, 0, 0] == 201.0
    assert sampler(2, 0, [0])[0][0, 0, 0] == 102.0  # wraps around
    with pytest.raises(MetricError):
        metrics.per_seed_sampler([])


def test_balanced_order_interleaves_styles_so_a_cap_keeps_every_style() -> None:
    styles = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    order = metrics.balanced_order(styles)
    assert sorted(order.tolist()) == list(range(8))
    assert order[:3].tolist() == [0, 3, 5]  # first of each style, in split order
    assert styles[metrics.balanced_order(styles, 6)].tolist() == [0, 1, 2, 0, 1, 2]
    assert metrics.balanced_order(styles, 0).size == 0


def test_fid_curve_shows_plain_fid_falling_with_n_for_a_set_against_itself() -> None:
    features = np.random.default_rng(0).normal(size=(400, 16))
    curve = E.fid_curve(features, marked=45, repeats=5)
    assert 45 in curve["n"].tolist() and curve["n"].max() == 200
    plain = curve["plain FID"].to_numpy()
    assert plain[0] > 5 * plain[-1]  # same distribution, yet small N reads as far apart
    assert abs(curve.attrs["fid_inf"]) < 0.05 * plain[0]
    assert E.curve_phrase(curve).startswith("N = 6: ")
    assert list(E.readable_curve(curve).columns) == ["plain FID", "plain sd", "protocol view"]


def test_variant_columns_name_only_variants_the_field_registry_knows() -> None:
    out = E.variant_columns()
    assert "FID_k (AIST++ kinetic features)" in out.index
    assert out.loc["FID_k (AIST++ kinetic features)", "field's variant"] == "kinetic_aist"
    assert out.loc["beat align score (over dance beats)", "field's variant"] == "bas_fact"
