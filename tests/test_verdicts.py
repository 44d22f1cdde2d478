"""Verdict sentences: each function fed numbers on both sides of its thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from d2mlib import stats, verdicts
from d2mlib.errors import ConfigError, MetricError


def _row(effect, low, high, differs, **extra):
    """A stand-in for one stats.compare row."""
    return {"effect": effect, "ci_low": low, "ci_high": high, "differs": differs, **extra}


@pytest.mark.parametrize(
    ("row", "smallest", "expected"),
    [
        (_row(0.12, 0.05, 0.19, True), None, "differs: +0.12 (95% CI 0.05 to 0.19)"),
        (_row(-2.0, -2.6, -1.4, True), 0.5, "differs: -2.0 (95% CI -2.6 to -1.4)"),
        (_row(0.02, -0.05, 0.09, True), 0.1, "differs, by less than 0.1: +0.02"),
        (_row(0.01, -0.04, 0.06, False), None, "does not differ detectably: +0.01"),
        (_row(0.01, -0.04, 0.06, False), 0.1, "does not differ by as much as 0.1: +0.01"),
        (_row(0.01, -0.04, 0.11, False), 0.1, "inconclusive: +0.01 (95% CI -0.04 to 0.11"),
        (_row(15.0, -3.0, 33.0, False), 5.0, "inconclusive: +15 (95% CI -3 to 33"),
        (_row(1.0, np.nan, np.nan, False), None, "cannot be tested"),
        # the interval alone excludes 0, but Holm over the family does not find it
        (
            _row(0.26, 0.07, 0.46, False),
            0.05,
            "inconclusive: +0.26 (95% CI 0.07 to 0.46; not found",
        ),
        (
            _row(-0.3, -0.5, -0.1, False),
            None,
            "does not differ detectably: -0.30 (95% CI -0.50 to -0.10; not",
        ),
    ],
)
def test_difference_verdict_on_both_sides_of_its_thresholds(row, smallest, expected):
    text = verdicts.difference_verdict(row, smallest_effect=smallest)
    assert text.startswith(expected)
    assert "little" not in text


def test_difference_verdict_reads_compare_rows_and_units():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.1, (3, 20))
    table = pd.concat(
        pd.DataFrame(
            {
                "system": system,
                "metric": "hit",
                "seed": np.repeat(np.arange(3), 20),
                "clip": np.tile(np.arange(20), 3),
                "value": (base + shift + rng.normal(0, 0.1, base.shape)).ravel(),
            }
        )
        for system, shift in (("base", 0.0), ("new", 15.0))
    )
    result = stats.compare(table, "base", alpha=0.1)
    series, named = result.iloc[0], next(result.itertuples())
    for row in (series, named):
        text = verdicts.difference_verdict(row, unit=" points")
        assert text.startswith("differs: +15 points (90% CI 1") and text.endswith(" points)")
    with pytest.raises(MetricError, match="lacks field 'ci_low'"):
        verdicts.difference_verdict({"effect": 1.0, "differs": True})
    with pytest.raises(ConfigError, match="smallest_effect"):
        verdicts.difference_verdict(series, smallest_effect=0)


@pytest.mark.parametrize(
    ("row", "direction", "smallest", "expected"),
    [
        (_row(0.5, 0.2, 0.8, True), "higher", None, "confirmed"),
        (_row(-0.5, -0.8, -0.2, True), "higher", None, "refuted"),
        (_row(0.1, -0.2, 0.4, False), "higher", None, "inconclusive"),
        (_row(0.1, -0.2, 0.4, False), "higher", 0.3, "inconclusive"),
        (_row(0.0, -0.2, 0.25, False), "higher", 0.3, "refuted"),
        (_row(-0.5, -0.8, -0.2, True), "lower", None, "confirmed"),
        (_row(0.0, -0.25, 0.2, False), "lower", 0.3, "refuted"),
        (_row(0.0, -0.35, 0.2, False), "lower", 0.3, "inconclusive"),
        (_row(0.5, 0.2, 0.8, True), "differs", None, "confirmed"),
        (_row(0.0, -0.2, 0.2, False), "differs", 0.3, "refuted"),
        (_row(0.0, -0.2, 0.4, False), "differs", 0.3, "inconclusive"),
        (_row(0.0, -0.2, 0.2, False), "same", 0.3, "confirmed"),
        (_row(0.0, -0.2, 0.2, False), "same", None, "inconclusive"),
        (_row(0.5, 0.2, 0.8, True), "same", 0.3, "refuted"),
        (_row(0.1, 0.05, 0.15, True), "same", 0.3, "confirmed"),
        (_row(1.0, np.nan, np.nan, False), "higher", 0.3, "inconclusive"),
    ],
)
def test_claim_verdict_on_both_sides(row, direction, smallest, expected):
    assert verdicts.claim_verdict(row, direction, smallest_effect=smallest) == expected


def test_claim_verdict_rejects_unknown_direction():
    with pytest.raises(ConfigError, match="direction"):
        verdicts.claim_verdict(_row(0.0, -1.0, 1.0, False), "better")


@pytest.mark.parametrize(
    ("new", "old", "kwargs", "expected"),
    [
        (1.0, 1.3, {}, "1.3 times as fast"),
        (1.0, 1.06, {}, "1.06 times as fast"),  # an extra digit: "1.1" reads like the 1.05 bar
        (1.0, 1.04, {}, "about as fast (within 5%: 1.0 times as fast)"),
        (1.0, 1.0, {}, "about as fast"),
        (1.0, 0.96, {}, "about as fast"),
        (1.0, 0.9, {}, "slower (0.90 times as fast)"),
        (1.3, 1.0, {"lower_is_better": False}, "1.3 times as fast"),
        (1.0, 1.08, {"threshold": 1.1}, "about as fast (within 10%"),
        (1.0, 2.1, {"target": 2}, "2.1 times as fast; target 2 times met"),
        (1.0, 1.96, {"target": 2}, "1.96 times as fast; target 2 times not met"),
        (1.0, 0.5, {"target": 2}, "slower (0.50 times as fast); target 2 times not met"),
    ],
)
def test_ratio_verdict_on_both_sides_of_threshold_and_target(new, old, kwargs, expected):
    assert verdicts.ratio_verdict(new, old, **kwargs).startswith(expected)


def test_ratio_verdict_rejects_bad_numbers():
    with pytest.raises(MetricError, match="> 0"):
        verdicts.ratio_verdict(0.0, 1.0)
    with pytest.raises(MetricError, match="> 0"):
        verdicts.ratio_verdict(float("nan"), 1.0)
    with pytest.raises(ConfigError, match="threshold"):
        verdicts.ratio_verdict(1.0, 1.0, threshold=0.9)


@pytest.mark.parametrize(
    ("start", "end", "kwargs", "expected"),
    [
        (2.0, 0.3, {}, "fades: 15% of its start is left"),
        (1.0, 0.499, {}, "fades: 49.9% of its start is left"),
        (1.0, 0.5, {}, "persists: 50% of its start is left"),
        (1.0, 0.85, {}, "persists: 85%"),
        (1.0, 1.1, {}, "persists: 110%"),
        (1.0, 1.101, {}, "grows: to 110.1% of its start"),
        (1.0, 1.5, {}, "grows: to 150%"),
        (1.0, 0.6, {"fade_below": 0.7}, "fades: 60%"),
        (1.0, 1.15, {"grow_margin": 0.2}, "persists: 115%"),
        (1.0, -0.1, {}, "fades: -10%"),
    ],
)
def test_trend_verdict_on_both_sides_of_its_thresholds(start, end, kwargs, expected):
    assert verdicts.trend_verdict(start, end, **kwargs).startswith(expected)


def test_trend_verdict_rejects_bad_numbers():
    with pytest.raises(MetricError, match="start must be"):
        verdicts.trend_verdict(0.0, 1.0)
    with pytest.raises(ConfigError, match="fade_below"):
        verdicts.trend_verdict(1.0, 1.0, fade_below=1.5)


@pytest.mark.parametrize(
    ("x", "kwargs", "expected"),
    [
        (0.12345, {}, "0.123"),
        (0.0999, {"sig": 2}, "0.10"),
        (1.0, {}, "1.00"),
        (12345.0, {}, "12,300"),
        (-0.5, {"sig": 2, "sign": True}, "-0.50"),
        (0.5, {"sig": 2, "sign": True}, "+0.50"),
        (0.0, {"sign": True}, "0"),
        (1e-7, {}, "1.00e-07"),
        (float("nan"), {}, "n/a"),
    ],
)
def test_fmt_num_significant_digits(x, kwargs, expected):
    assert verdicts.fmt_num(x, **kwargs) == expected


def test_fmt_pct_ci_and_count_phrase():
    assert verdicts.fmt_pct(0.235) == "24%"
    assert verdicts.fmt_pct(0.235, 1) == "23.5%"
    assert verdicts.fmt_pct(0.05, sign=True) == "+5%"
    assert verdicts.fmt_pct(float("inf")) == "n/a"
    assert verdicts.fmt_ci(0.05, 0.19) == "0.05 to 0.19"
    assert verdicts.fmt_ci(-3.2, 12.4, unit=" px") == "-3 to 12 px"
    assert verdicts.count_phrase(1, "thread") == "1 thread"
    assert verdicts.count_phrase(2, "thread") == "2 threads"
    assert verdicts.count_phrase(0, "seed") == "0 seeds"
    assert verdicts.count_phrase(1200, "clip") == "1,200 clips"
    assert verdicts.count_phrase(2, "batch") == "2 batches"
    assert verdicts.count_phrase(3, "body") == "3 bodies"
    assert verdicts.count_phrase(2, "child", "children") == "2 children"
    with pytest.raises(MetricError, match="whole number"):
        verdicts.count_phrase(2.5, "thread")
    with pytest.raises(ConfigError, match="sig"):
        verdicts.fmt_num(1.0, sig=0)
