"""The decision rule: error control and power by simulation, known answers, and bad input."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from d2mlib import stats
from d2mlib.errors import ConfigError, MetricError

ALPHA = 0.05


def _table(grids: dict[tuple[str, str], np.ndarray], per_run: bool = False) -> pd.DataFrame:
    """A tidy table from {(system, metric): (seeds x clips) grid}; clips c0.. shared by all."""
    parts = []
    for (system, metric), grid in grids.items():
        s, c = grid.shape
        parts.append(
            pd.DataFrame(
                {
                    "system": system,
                    "metric": metric,
                    "seed": np.repeat(np.arange(s), c),
                    "clip": np.nan if per_run else np.tile([f"c{k}" for k in range(c)], s),
                    "value": grid.ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _simulated_table(rng, effects, n_seeds, n_clips, sds) -> pd.DataFrame:
    """One simulated call: system 'new' against 'base' on len(effects) metrics (same clips)."""
    ys, yb = stats._simulate(np.asarray(effects, float), n_seeds, n_clips, sds, rng)
    grids = {}
    for j in range(len(effects)):
        grids[("base", f"m{j}")] = yb[j]
        grids[("new", f"m{j}")] = ys[j]
    return _table(grids, per_run=n_clips == 0)


def _null_flag_rate(rng, n_calls, n_rows, n_seeds, n_clips, sds) -> float:
    """Share of simulated calls, no effect anywhere, in which any row is flagged.

    Runs compare()'s own per-row test (_grid_test, _p_value) and Holm, vectorised over calls;
    test_compare_equals_its_vectorised_core shows compare() gives the same p-values.
    """
    ys, yb = stats._simulate(np.zeros((n_calls, n_rows)), n_seeds, n_clips, sds, rng)
    shape = (n_calls * n_rows, n_seeds, max(n_clips, 1))
    effect, var, df, _ = stats._grid_test(
        ys.reshape(shape), yb.reshape(shape), paired=n_clips > 0, per_run=n_clips == 0
    )
    p = stats._p_value(effect, var, df).reshape(n_calls, n_rows)
    return float((stats._holm_full(p) < ALPHA).any(axis=1).mean())


@pytest.mark.parametrize(
    ("n_seeds", "n_clips", "sds"),
    [
        (3, 20, (1.0, 1.0, 0.5, 1.0)),  # seed, clip, clip x system and cell noise all present
        (3, 45, (0.1, 1.0, 0.0, 3.0)),  # clip-level noise dominates
        (2, 45, (1.0, 1.0, 1.0, 1.0)),  # two seeds a side
        (3, 0, (1.0, 0.0, 0.0, 0.0)),  # a per-run metric: seeds only
        (1, 45, (0.0, 1.0, 0.5, 1.0)),  # one seed a side: clips only
    ],
)
def test_compare_controls_familywise_error_under_null(n_seeds, n_clips, sds):
    # 2000 calls of 12 rows each. The count of calls with any false difference must not exceed
    # the 95% binomial quantile under a true rate of 5% (<= 5.8% of calls).
    n_calls = 2000
    rate = _null_flag_rate(np.random.default_rng(11), n_calls, 12, n_seeds, n_clips, sds)
    assert rate * n_calls <= sps.binom.ppf(0.95, n_calls, ALPHA)


def test_compare_equals_its_vectorised_core():
    rng = np.random.default_rng(5)
    for _ in range(5):
        table = _simulated_table(rng, [0.0, 0.5, 2.0], 3, 30, (1.0, 1.0, 0.3, 1.0))
        result = stats.compare(table, "base").set_index("metric")
        wide = table.pivot_table(index=["system", "metric", "seed"], columns="clip", values="value")
        for j in range(3):
            ys, yb = (wide.loc[(s, f"m{j}")].to_numpy() for s in ("new", "base"))
            e, v, d, _ = stats._grid_test(ys[None], yb[None], paired=True, per_run=False)
            assert result.loc[f"m{j}", "p_value"] == pytest.approx(stats._p_value(e, v, d)[0])


@pytest.mark.parametrize(
    ("n_seeds", "n_clips", "sds", "effect"),
    [
        (3, 0, (1.0, 0.0, 0.0, 0.0), 10.0),  # 3 v 3 seeds, per-run: 10 seed sds
        (10, 45, (1.0, 1.0, 0.0, 1.0), 2.5),  # 10 v 10 seeds: 2.5 seed sds
        (3, 45, (0.25, 1.0, 0.0, 1.0), 3.0),  # clip noise dominant: 3 clip-noise sds
    ],
)
def test_compare_finds_stated_effect_as_often_as_power_says(n_seeds, n_clips, sds, effect):
    # 12 metrics per call, the first carries the effect. power() (Holm's first step) must promise
    # >= 80%, and compare() on 200 simulated tables must find it >= 80% of the time, within
    # 2.5 binomial standard errors of power()'s figure.
    rng = np.random.default_rng(7)
    promised = stats.power(
        effect,
        n_seeds,
        n_clips,
        sds[0],
        sds[1],
        interaction_sd=sds[2],
        noise_sd=sds[3],
        n_rows=12,
        n_sim=4000,
    )
    assert promised >= 0.8
    found, false = [], []
    for _ in range(200):
        result = stats.compare(
            _simulated_table(rng, [effect] + [0.0] * 11, n_seeds, n_clips, sds), "base"
        )
        found.append(bool(result["differs"].iloc[0]))
        false.append(bool(result["differs"].iloc[1:].any()))
    assert np.mean(found) >= 0.8
    assert abs(np.mean(found) - promised) <= 2.5 * np.sqrt(promised * (1 - promised) / 200) + 0.02
    assert np.mean(false) <= 0.08


def test_power_of_three_seeds_is_low_for_one_seed_sd():
    # The honest statement the book quotes: 3 v 3 seeds rarely detect a 1-seed-sd effect.
    assert stats.power(1.0, 3, 0, 1.0, n_rows=12) < 0.05
    assert stats.power(1.0, 3, 0, 1.0) < 0.2
    assert stats.power(0.0, 3, 45, 1.0, 1.0, noise_sd=1.0) <= 0.05 + 0.012


def test_minimum_detectable_effect_gives_target_power():
    mde = stats.minimum_detectable_effect(3, 0, 1.0, n_rows=12, n_sim=2000)
    assert 6.0 < mde < 12.0
    assert stats.power(mde, 3, 0, 1.0, n_rows=12, n_sim=2000) >= 0.8
    assert stats.power(0.9 * mde, 3, 0, 1.0, n_rows=12, n_sim=2000) < 0.8
    assert stats.minimum_detectable_effect(10, 0, 1.0, n_rows=12) < mde / 3


def test_compare_flags_clear_effects_only_with_direction():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.1, (3, 20))
    grids = {
        ("base", "fid"): base,
        ("new", "fid"): base + rng.normal(0, 0.1, (3, 20)) - 2.0,
        ("base", "beat"): base,
        ("new", "beat"): base + rng.normal(0, 0.1, (3, 20)),
        ("base", "div"): base,
        ("new", "div"): base + rng.normal(0, 0.1, (3, 20)) + 2.0,
    }
    result = stats.compare(
        _table(grids), "base", metrics_higher_better={"fid": False, "beat": True}
    ).set_index("metric")
    assert result.loc["fid", "differs"] and result.loc["div", "differs"]
    assert not result.loc["beat", "differs"]
    assert result.loc["fid", "effect"] == pytest.approx(-2.0, abs=0.1)
    assert result.loc["fid", "ci_low"] < -2.0 + 0.1 and result.loc["fid", "ci_high"] < 0
    assert list(result.loc[["fid", "beat", "div"], "better"]) == ["system", "neither", "unknown"]
    assert (result["ci_low_fw"] <= result["ci_low"]).all()
    assert result["paired"].all() and set(result["uncertainty"]) == {stats.SEEDS_AND_CLIPS}
    assert result["n_seeds"].eq(3).all() and result["n_clips"].eq(20).all()


def test_holm_adjusts_a_hand_example():
    # sorted .005 .01 .03 .04 -> x4 .02, x3 .03, x2 .06, x1 .04 -> running max .02 .03 .06 .06
    adjusted = stats.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm(np.array([0.5, np.nan, 0.01]))[[0, 2]], [0.5, 0.02])
    assert np.isnan(stats.holm(np.array([0.5, np.nan]))[1])
    np.testing.assert_allclose(stats._holm_full(np.array([[0.01, 0.04, 0.03, 0.005]])), [adjusted])


def test_compare_per_run_metric_is_welch_over_seeds():
    a, b = np.array([[1.0], [1.4], [0.9]]), np.array([[2.0], [2.6], [2.2], [2.4]])
    result = stats.compare(_table({("base", "fid"): b, ("new", "fid"): a}, per_run=True), "base")
    row = result.iloc[0]
    assert row["p_value"] == pytest.approx(sps.ttest_ind(a[:, 0], b[:, 0], equal_var=False).pvalue)
    assert row["uncertainty"] == stats.SEEDS_ONLY and row["n_clips"] == 0
    assert row["effect"] == pytest.approx(a.mean() - b.mean())


def test_compare_one_seed_is_paired_over_clips_and_says_so():
    rng = np.random.default_rng(1)
    b = rng.normal(size=(1, 30))
    a = b + 0.3 + rng.normal(0, 0.5, (1, 30))
    row = stats.compare(_table({("base", "acc"): b, ("new", "acc"): a}), "base").iloc[0]
    assert row["p_value"] == pytest.approx(sps.ttest_rel(a[0], b[0]).pvalue)
    assert row["uncertainty"] == stats.CLIPS_ONLY and row["paired"]


def test_compare_one_seed_per_run_is_untestable():
    grids = {("base", "fid"): np.array([[1.0]]), ("new", "fid"): np.array([[3.0]])}
    row = stats.compare(_table(grids, per_run=True), "base").iloc[0]
    assert np.isnan(row["p_value"]) and not row["differs"] and row["uncertainty"] == stats.NONE


def test_compare_unpaired_and_nested_clips():
    rng = np.random.default_rng(2)
    table = _table(
        {("base", "m"): rng.normal(size=(3, 10)), ("new", "m"): rng.normal(size=(3, 10))}
    )
    table.loc[table["system"] == "new", "clip"] += "x"  # other clips: unpaired
    assert not stats.compare(table, "base").iloc[0]["paired"]
    table.loc[(table["system"] == "new") & (table["seed"] == 1), "clip"] += "y"  # ragged grid
    row = stats.compare(table, "base").iloc[0]
    assert row["uncertainty"] == stats.SEEDS_NESTED
    means = table.groupby(["system", "seed"])["value"].mean()
    expect = sps.ttest_ind(means["new"], means["base"], equal_var=False).pvalue
    assert row["p_value"] == pytest.approx(expect)


def test_compare_interval_covers_true_effect():
    # Per-row 95% intervals over 300 simulated tables cover the true effect >= 93% of the time.
    rng = np.random.default_rng(3)
    hits = []
    for _ in range(300):
        r = stats.compare(_simulated_table(rng, [0.7], 3, 20, (0.5, 1.0, 0.3, 1.0)), "base")
        hits.append(bool(r["ci_low"].iloc[0] <= 0.7 <= r["ci_high"].iloc[0]))
    assert np.mean(hits) >= 0.93


def test_compare_is_fast_on_a_book_sized_table():
    rng = np.random.default_rng(0)
    grids = {(f"s{i}", f"m{j}"): rng.normal(size=(3, 45)) for i in range(6) for j in range(12)}
    table = _table(grids)
    start = time.perf_counter()
    result = stats.compare(table, "s0")
    assert time.perf_counter() - start < 2.0
    assert len(result) == 60 and result["p_adjusted"].ge(result["p_value"]).all()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.drop(columns="clip"), "lacks column(s) clip"),
        (lambda t: t.assign(value=t["value"].where(t.index != 3)), "non-finite"),
        (lambda t: t[~((t.system == "base") & (t.metric == "m1"))], "m1 have no rows for baseline"),
        (lambda t: pd.concat([t, t.iloc[[0]]]), "duplicate row"),
        (lambda t: t.assign(clip=t["clip"].where(t.system == "new")), "mixes per-run"),
    ],
)
def test_compare_rejects_bad_tables(mutate, message):
    rng = np.random.default_rng(0)
    table = _simulated_table(rng, [0.0, 0.0], 2, 3, (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(MetricError, match=re.escape(message)):
        stats.compare(mutate(table), "base")


def test_compare_rejects_unknown_baseline_and_alpha():
    table = _simulated_table(np.random.default_rng(0), [0.0], 2, 3, (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(MetricError, match="baseline 'paper' not among"):
        stats.compare(table, "paper")
    with pytest.raises(ConfigError, match="alpha"):
        stats.compare(table, "base", alpha=1.5)
    with pytest.raises(ConfigError, match="cannot be tested"):
        stats.power(1.0, 1, 0, 1.0)


def test_describe_rule_and_forest_table():
    text = stats.describe_rule()
    assert "Holm" in text and "0.05" in text and "seeds" in text and "clips" in text
    table = _simulated_table(np.random.default_rng(0), [0.0, 3.0], 3, 10, (0.1, 0.0, 0.0, 1.0))
    forest = stats.forest_table(stats.compare(table, "base"))
    assert list(forest["metric"]) == ["m0", "m1"] and "ci_low" in forest
    with pytest.raises(MetricError, match="lacks column"):
        stats.forest_table(forest.drop(columns="effect"))
