"""The model's pipeline as one figure: audio to dance, with the trained parts marked (intro)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from d2mlib.viz.common import NEUTRAL, PALETTE

# (label, second line, trained by which stage or None for fixed code)
PIPELINE: tuple[tuple[str, str, str | None], ...] = (
    ("audio", "the song", None),
    ("features", "28-d,\n15 fps", None),
    ("style\nextractor", "30-d\nstyle code", "style"),
    ("composer", "music to\nmovement", "comp"),
    ("dance\nunits", "pose and\nmovement\ncodes", "comp"),
    ("decoder", "32-frame\nunits", "decomp"),
    ("dance", "14 joints,\n15 fps", None),
)
STAGE_LABELS = {
    "style": "stage 1: style extractor",
    "decomp": "stage 2: decomposition (VAEs)",
    "comp": "stage 3: composition (adversarial)",
}


def plot_pipeline(width: float = 11.0) -> Figure:
    """Boxes and arrows from audio to dance, coloured by the training stage that learns each."""
    colours = {"style": PALETTE[0], "decomp": PALETTE[1], "comp": PALETTE[2]}
    n = len(PIPELINE)
    fig, ax = plt.subplots(figsize=(width, 2.8), layout="constrained")
    box_w, gap = 1.15, 0.4
    for i, (name, sub, stage) in enumerate(PIPELINE):
        x = i * (box_w + gap)
        face = colours[stage] if stage else "white"
        ax.add_patch(
            FancyBboxPatch(
                (x, 0.0),
                box_w,
                1.0,
                boxstyle="round,pad=0.04",
                fc=face,
                ec=NEUTRAL,
                alpha=0.9 if stage else 1.0,
                lw=1.2,
            )
        )
        ax.text(x + box_w / 2, 0.72, name, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x + box_w / 2, 0.3, sub, ha="center", va="center", fontsize=10)
        if i < n - 1:
            ax.add_patch(
                FancyArrowPatch(
                    (x + box_w + 0.04, 0.5),
                    (x + box_w + gap - 0.04, 0.5),
                    arrowstyle="-|>",
                    mutation_scale=14,
                    color=NEUTRAL,
                    lw=1.4,
                )
            )
    handles = [
        plt.Rectangle((0, 0), 1, 1, fc=colours[k], ec=NEUTRAL, alpha=0.9) for k in STAGE_LABELS
    ]
    ax.legend(
        handles,
        list(STAGE_LABELS.values()),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=3,
        frameon=False,
        fontsize=10,
    )
    ax.set_xlim(-0.1, n * (box_w + gap) - gap + 0.1)
    ax.set_ylim(-0.1, 1.1)
    ax.set_aspect("auto")
    ax.axis("off")
    return fig
