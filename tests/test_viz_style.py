"""viz.plot_mels: the style chapters' grid of mel-spectrograms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from d2mlib import viz


def test_plot_mels_draws_one_panel_per_spectrogram_and_hides_the_rest() -> None:
    mels = [np.random.default_rng(i).uniform(-80, 0, (64, 30)) for i in range(3)]
    fig = viz.plot_mels(mels, ["a", "b", "c"], ["ballet", None, "hiphop"], ncols=2)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    shown = [ax for ax in panels if ax.axison]
    assert len(shown) == 3 and len(panels) == 4
    assert shown[0].get_title() == "a"
    assert (
        matplotlib.colors.to_hex(shown[0].title.get_color()) == viz.style_colour("ballet").lower()
    )
    assert shown[2].get_xlim() == pytest.approx((0.0, 2.0))  # 30 frames at 15 fps
    assert shown[0].get_xlabel() == "time (s)"


def test_plot_mels_refuses_mismatched_titles() -> None:
    with pytest.raises(ValueError):
        viz.plot_mels([np.zeros((4, 4))], ["a", "b"])
    with pytest.raises(ValueError):
        viz.plot_mels([], [])
