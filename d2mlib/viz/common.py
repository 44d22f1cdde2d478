"""What every figure shares: one colour per style (Okabe-Ito palette) and axis helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from d2mlib.config import STYLES
from d2mlib.skeleton import BONES

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
STYLE_COLOURS: dict[str, str] = {
    "ballet": "#CC79A7",  # reddish purple
    "zumba": "#E69F00",  # orange
    "hiphop": "#0072B2",  # blue
    # the ballroom dances (d2mlib.ballroom): the rest of the palette
    "chacha": "#D55E00",  # vermillion
    "rumba": "#009E73",  # bluish green
    "waltz": "#56B4E9",  # sky blue
    "tango": "#000000",  # black
}
# Colours for series that are not styles (systems, devices, loss terms): the rest of the
# Okabe-Ito palette first, so a non-style series rarely wears a style's colour.
PALETTE: tuple[str, ...] = (
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#000000",
    "#999999",
    "#0072B2",
    "#E69F00",
    "#CC79A7",
)
NEUTRAL = "#333333"
_BONE_INDEX = np.asarray(BONES, dtype=np.int64)  # (13, 2)


def _style_key(style: str | int) -> str:
    """Canonical style name: 'Hip-hop', 'hip_hop' and 2 all mean 'hiphop'."""
    if isinstance(style, int | np.integer):
        if not 0 <= int(style) < len(STYLES):
            raise ValueError(f"style index {style} out of range 0..{len(STYLES) - 1}")
        return STYLES[int(style)]
    return str(style).lower().replace("-", "").replace("_", "").replace(" ", "")


def style_colour(style: str | int) -> str:
    """The colour of a style (name or index into STYLES), the same on every page."""
    key = _style_key(style)
    if key not in STYLE_COLOURS:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLE_COLOURS)}")
    return STYLE_COLOURS[key]


def _colours_for(values: Sequence[Any]) -> dict[Any, str]:
    """Style colours when every value is a style, else the palette in order of appearance."""
    uniq = list(dict.fromkeys(values))
    try:
        return {v: style_colour(v) for v in uniq}
    except ValueError:
        return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(uniq)}


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Use `ax` or make a fresh figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig, new = plt.subplots(figsize=figsize, layout="constrained")
    return fig, new


def _invert_y(ax: Axes) -> None:
    """Put y = 0 at the top (image coordinates), once."""
    if not ax.yaxis_inverted():
        ax.invert_yaxis()


"""Short two-line labels for the evaluation table's system names, for bar charts."""
