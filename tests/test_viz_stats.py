"""Forest plots and readable tables of the decision rule's results."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from d2mlib import stats, viz


def _result() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for system, shift in (("base", 0.0), ("a", 2.0), ("b", 0.0)):
        for seed in range(3):
            for clip in range(20):
                for metric in ("fid", "beat_hit_rate"):
                    value = rng.normal(shift + (seed - 1) * 0.1, 0.3)
                    rows.append((system, metric, seed, str(clip), value))
    table = pd.DataFrame(rows, columns=["system", "metric", "seed", "clip", "value"])
    return stats.compare(table, "base")


def test_plot_forest_marks_the_rows_that_differ() -> None:
    result = _result()
    fig = viz.plot_forest(result)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(result) == 4
    assert any("beat hit rate" in lab for lab in labels)
    filled = [
        ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markerfacecolor() != "white"
    ]
    assert len(filled) == int(result["differs"].sum()) >= 1


def test_readable_comparison_uses_human_metric_names() -> None:
    table = viz.readable_comparison(_result())
    assert "beat hit rate" in set(table["metric"])
    assert set(table["differs"]) <= {"yes", "no"}
    assert viz.metric_name("some_new_metric") == "some new metric"


def test_plot_forest_rejects_a_table_without_intervals() -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        viz.plot_forest(pd.DataFrame({"system": ["a"], "metric": ["fid"]}))
