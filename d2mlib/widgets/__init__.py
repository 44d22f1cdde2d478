"""The ipywidgets front ends of the book's chapters, and a kernel-free switcher for the static page.

Every front end is a `rerun_panel`: controls, a Run button, a note that live reruns need
JupyterLab, and an `ipywidgets.Output` holding the result. At build time (nbclient, myst-nb)
the panel computes its result once with the default control values, so the static page shows
it inside the embedded widget state, with the controls and the button disabled and a note
naming the command for a live kernel (`make lab`); in JupyterLab, pressing Run recomputes it
from the controls' current values. A static page has no kernel, so moving a control there changes
nothing: where exploring the static page matters, chapters precompute a few results and
switch between them with `choice_gallery` (plain HTML and a few lines of inline JS).

Results are written into the Output widget's `outputs` directly (as MIME bundles), not through
`with output:` capture, so they land in the widget state the same way in a kernel, under
nbclient and in plain Python (the tests). Matplotlib figures become PNGs and are closed, so
none is drawn twice.

This package re-exports the public names of its modules; see ARCHITECTURE.md for which module holds what.
"""

from d2mlib.widgets.controls import (
    audio_input,
    batch_size_dropdown,
    clip_slider,
    hidden_size_dropdown,
    rnn_toggle,
    save_upload,
    seed_box,
    spread_slider,
    style_dropdown,
)
from d2mlib.widgets.explorers import (
    data_explorer,
    initial_pose_explorer,
    music_explorer,
    short_training_run,
    training_explorer,
)
from d2mlib.widgets.panel import (
    AUDIO_ACCEPT,
    BATCH_SIZES,
    HIDDEN_SIZES,
    LIVE_NOTE,
    STATIC_NOTE,
    RerunPanel,
    choice_gallery,
    error_output,
    mime_outputs,
    rerun_panel,
)
from d2mlib.widgets.style import style_explorer
from d2mlib.widgets.timing import sized_config, step_timer, time_training_step

__all__ = [
    "AUDIO_ACCEPT",
    "BATCH_SIZES",
    "HIDDEN_SIZES",
    "LIVE_NOTE",
    "RerunPanel",
    "STATIC_NOTE",
    "audio_input",
    "batch_size_dropdown",
    "choice_gallery",
    "clip_slider",
    "data_explorer",
    "error_output",
    "hidden_size_dropdown",
    "initial_pose_explorer",
    "mime_outputs",
    "music_explorer",
    "rerun_panel",
    "rnn_toggle",
    "save_upload",
    "seed_box",
    "short_training_run",
    "sized_config",
    "spread_slider",
    "step_timer",
    "style_dropdown",
    "style_explorer",
    "time_training_step",
    "training_explorer",
]
