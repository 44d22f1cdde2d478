"""Figures and animations for the book: skeletons, beats, losses, confusions, embeddings, timings.

Every plotting function takes an optional matplotlib ``ax`` and returns the Figure it drew on;
none prints or changes global rcParams. Each style has one colour on every page
(``STYLE_COLOURS``, from the Okabe-Ito colour-blind-safe palette). Poses are in pixels on the
original 256 x 500 canvas with y growing downwards, so pose axes are drawn with y inverted.

``animate_dance`` returns a self-contained HTML animation (frames and music embedded as
``data:`` URIs, no request leaves the page) whose frames follow the audio's playback position.
In a notebook, assign the returned figure (``fig = plot_pose(...)``) to avoid drawing it twice.

This package re-exports the public names of its modules; see ARCHITECTURE.md for which module holds what.
"""

from d2mlib.viz.animation import animate_dance, save_animation
from d2mlib.viz.common import NEUTRAL, PALETTE, STYLE_COLOURS, style_colour
from d2mlib.viz.music import (
    plot_beats,
    plot_features,
    plot_mels,
    plot_style_probs,
    plot_tempo_by_style,
)
from d2mlib.viz.pipeline import plot_pipeline
from d2mlib.viz.poses import (
    plot_pose,
    plot_pose_grid,
    plot_reconstructions,
    plot_unit,
    plot_units_grid,
)
from d2mlib.viz.results import (
    SYSTEM_LABELS,
    confusion_table,
    pca_2d,
    plot_confusion,
    plot_embedding_2d,
    plot_loss_curves,
    plot_metric_bars,
    plot_training_curves,
    relabel_systems,
)
from d2mlib.viz.stats import METRIC_NAMES, metric_name, plot_forest, readable_comparison
from d2mlib.viz.timing import (
    plot_bench,
    plot_bench_bars,
    plot_step_phases,
    plot_timing,
    timing_labels,
)

__all__ = [
    "plot_pipeline",
    "METRIC_NAMES",
    "NEUTRAL",
    "PALETTE",
    "STYLE_COLOURS",
    "SYSTEM_LABELS",
    "animate_dance",
    "confusion_table",
    "metric_name",
    "pca_2d",
    "plot_beats",
    "plot_bench",
    "plot_bench_bars",
    "plot_confusion",
    "plot_embedding_2d",
    "plot_features",
    "plot_forest",
    "plot_loss_curves",
    "plot_mels",
    "plot_metric_bars",
    "plot_pose",
    "plot_pose_grid",
    "plot_reconstructions",
    "plot_step_phases",
    "plot_style_probs",
    "plot_tempo_by_style",
    "plot_timing",
    "plot_training_curves",
    "plot_unit",
    "plot_units_grid",
    "readable_comparison",
    "relabel_systems",
    "save_animation",
    "style_colour",
    "timing_labels",
]
