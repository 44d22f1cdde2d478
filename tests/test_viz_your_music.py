"""Tests for the figure the "your music" chapter adds to d2mlib.viz: style probability bars."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from d2mlib import config, viz  # noqa: E402


def test_style_probs_bars_have_the_probabilities_and_style_colours() -> None:
    probs = np.array([0.2, 0.5, 0.3])
    fig = viz.plot_style_probs(probs, title="t")
    ax = fig.axes[0]
    bars = ax.patches
    assert [round(b.get_width(), 6) for b in bars] == [0.2, 0.5, 0.3]
    assert [to_hex(b.get_facecolor()) for b in bars] == [
        viz.STYLE_COLOURS[s].lower() for s in config.STYLES
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(config.STYLES)
    assert ax.get_xlim() == (0.0, 1.0)
    assert {t.get_text() for t in ax.texts} == {"0.20", "0.50", "0.30"}
    plt.close(fig)


def test_style_probs_draws_on_a_given_axes() -> None:
    fig, ax = plt.subplots()
    out = viz.plot_style_probs([1 / 3, 1 / 3, 1 / 3], ax=ax)
    assert out is fig
    assert len(ax.patches) == 3
    plt.close(fig)


@pytest.mark.parametrize(
    "probs", [[0.5, 0.5], [0.5, 0.6, 0.1], [-0.1, 0.6, 0.5], [np.nan, 0.5, 0.5]]
)
def test_style_probs_rejects_what_is_not_a_distribution_over_three_styles(probs: list) -> None:
    with pytest.raises(ValueError):
        viz.plot_style_probs(np.asarray(probs))
