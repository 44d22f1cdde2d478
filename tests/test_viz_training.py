"""Tests for the training and initial-pose chapters' figures in d2mlib.viz."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from d2mlib import viz  # noqa: E402
from d2mlib.skeleton import BONES  # noqa: E402


def _units(k: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.uniform(100, 200, (k, 1, 14, 2)) + rng.normal(0, 3, (k, 32, 14, 2))).astype(
        np.float32
    )


def test_plot_reconstructions_draws_both_strips_for_each_unit():
    originals = _units(2)
    fig = viz.plot_reconstructions(originals, originals + 2, ["ballet", "hiphop"], frames=3)
    assert len(fig.axes) == 2
    lines = fig.axes[1].get_lines()
    assert len(lines) == 2 * 3 * len(BONES)  # original and reconstruction, 3 frames each
    solid = [ln for ln in lines if ln.get_linestyle() == "-"]
    assert {matplotlib.colors.to_hex(ln.get_color()) for ln in solid} == {
        viz.style_colour("hiphop").lower()
    }
    assert fig.axes[0].yaxis_inverted()
    plt.close(fig)


def test_plot_reconstructions_rejects_mismatched_units():
    with pytest.raises(ValueError, match="matching"):
        viz.plot_reconstructions(_units(2), _units(3), ["ballet", "zumba"])


def test_plot_pose_grid_lays_out_rows_and_hides_missing_cells():
    pose = _units(1)[0, 0]
    fig = viz.plot_pose_grid(
        {"spread 0": [pose, pose, pose], "spread 1": [pose]}, col_titles=["a", "b", "c"]
    )
    axes = np.asarray(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[0]] == ["a", "b", "c"]
    assert "spread 1" in axes[1, 0].get_ylabel()
    assert not axes[1, 1].axison and not axes[1, 2].axison
    plt.close(fig)


def test_plot_training_curves_smooths_training_and_keeps_validation_as_logged():
    steps = np.arange(1, 11)
    rows = [
        {"step": s, "epoch": 0, "split": "train", "term": "loss", "value": float(s % 2)}
        for s in steps
    ] + [
        {"step": s, "epoch": 0, "split": "val", "term": "loss", "value": v}
        for s, v in ((5, 3.0), (10, 1.0))
    ]
    fig = viz.plot_training_curves(pd.DataFrame(rows), ["loss"], smooth=10, logy=False)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    train_y = lines["loss (train)"].get_ydata()
    assert np.ptp(train_y) < 0.5  # smoothed: the 0/1 alternation is averaged out
    np.testing.assert_allclose(lines["loss (val)"].get_ydata(), [3.0, 1.0])
    assert lines["loss (val)"].get_color() == lines["loss (train)"].get_color()
    assert ax.get_ylabel() == "loss"
    plt.close(fig)
