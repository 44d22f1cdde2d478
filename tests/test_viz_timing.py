"""Tests for the timing chapter's figures in d2mlib.viz: they show measured values and nothing else."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from d2mlib import viz  # noqa: E402


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "who": ["a", "a", "a", "b", "b"],
            "batch_size": [1, 4, 16, 1, 16],  # b never measured batch 4
            "median": [1.0, 2.0, 4.0, 0.5, 1.5],
            "q1": [0.9, 1.8, 3.5, 0.4, 1.4],
            "q3": [1.2, 2.1, 4.4, 0.6, 1.7],
        }
    )


def test_timing_labels_name_machine_device_and_threads_or_gpu() -> None:
    df = pd.DataFrame(
        {
            "machine": ["box", "gpu-box"],
            "device": ["cpu", "cuda"],
            "torch_threads": pd.array([2, 8], dtype="Int64"),
            "cuda_device": ["", "NVIDIA A100"],
        }
    )
    assert list(viz.timing_labels(df)) == ["box: cpu, 2 threads", "gpu-box: cuda (NVIDIA A100)"]


def test_plot_bench_draws_only_measured_points_with_iqr_whiskers() -> None:
    fig = viz.plot_bench(_rows(), "batch_size", hue="who", ylabel="s per step")
    ax = fig.axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    assert set(lines) == {"a", "b"}
    np.testing.assert_allclose(lines["a"].get_xdata(), [1, 4, 16])
    np.testing.assert_allclose(lines["a"].get_ydata(), [1.0, 2.0, 4.0])
    np.testing.assert_allclose(lines["b"].get_xdata(), [1, 16])  # no invented batch-4 point
    segs = ax.collections[0].get_segments()  # whiskers of line "a"
    assert [tuple(np.round(s[:, 1], 6)) for s in segs] == [(0.9, 1.2), (1.8, 2.1), (3.5, 4.4)]
    assert ax.get_ylabel() == "s per step" and ax.get_xscale() == "log"
    plt.close(fig)


def test_plot_bench_bars_leaves_unmeasured_cells_empty() -> None:
    df = pd.DataFrame(
        {
            "loader": ["unit", "unit", "audio"],
            "variant": ["store", "naive", "store"],
            "median": [100.0, 10.0, 50.0],
            "q1": [90.0, 9.0, 45.0],
            "q3": [110.0, 11.0, 55.0],
        }
    )
    fig = viz.plot_bench_bars(df, "loader", "variant", ylabel="samples/s")
    ax = fig.axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == [10.0, 50.0, 100.0]  # three bars, none for (audio, naive)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["store", "naive"]
    plt.close(fig)


def test_plot_step_phases_stacks_forward_backward_optimiser() -> None:
    table = pd.DataFrame(
        {"forward": [0.010, 0.002], "backward": [0.020, 0.004], "optimiser": [0.001, 0.001]},
        index=["decomp", "style"],
    )
    fig = viz.plot_step_phases(table)
    ax = fig.axes[0]
    first = [p for p in ax.patches if abs(p.get_y() + p.get_height() / 2) < 1e-9]
    assert [round(p.get_width(), 6) for p in first] == [10.0, 20.0, 1.0]  # ms
    assert [round(p.get_x(), 6) for p in first] == [0.0, 10.0, 30.0]  # stacked
    assert ax.get_xlabel() == "time per training step (ms)"
    plt.close(fig)


@pytest.mark.parametrize("fn", ["plot_bench", "plot_bench_bars"])
def test_timing_plots_refuse_an_empty_table(fn: str) -> None:
    empty = _rows().iloc[:0].assign(variant=[])
    with pytest.raises(ValueError):
        if fn == "plot_bench":
            viz.plot_bench(empty, "batch_size", hue="who")
        else:
            viz.plot_bench_bars(empty, "who", "variant")
