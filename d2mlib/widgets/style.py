"""The style chapter's explorer: one window of music, the extractor's verdict, its neighbours."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from d2mlib.config import STYLES
from d2mlib.data.store import FeatureStore
from d2mlib.studies.style_classification import classification_scores, style_predictions
from d2mlib.train.runs import load_run, train_stage
from d2mlib.viz.results import confusion_table, plot_confusion
from d2mlib.widgets.controls import _dropdown_with, hidden_size_dropdown, rnn_toggle, seed_box
from d2mlib.widgets.panel import RerunPanel, rerun_panel


def style_explorer(
    ch: Any,
    base: Any,
    steps: int | None = None,
    seed: int = 0,
    hidden_options: Sequence[int] = (8, 16, 30, 64, 128, 256, 512),
    window_options: Sequence[int] = (15, 30, 60, 90),
) -> RerunPanel:
    """Chapters "style"/"improved": retrain the music style extractor of config `base` with a chosen
    seed, hidden size, rnn type and window; shows test accuracy and the confusion matrix.

    Runs are cached like every other run (the defaults reproduce `base`'s run); `steps`
    overrides the training length (the chapter's smoke or book setting when None).
    """

    r = dataclasses.replace

    def show(seed: int, hidden_size: int, rnn: str, window: int) -> list[object]:
        style = r(base.style, hidden=int(hidden_size), rnn=rnn, window=int(window))
        if not style.project:
            style = r(style, code_dim=int(hidden_size))
        t = r(base.train_style, seed=int(seed), steps=int(steps or base.train_style.steps))
        cfg = r(
            base, style=style, train_style=t, composer=r(base.composer, style_dim=style.code_dim)
        )
        run = train_stage("style", cfg, ch.data_dir, ch.runs_dir, progress=False)
        model = load_run(run.path)[0]["style"]
        store = FeatureStore.open(ch.data_dir)
        table = style_predictions(model, store, "test")
        scores = classification_scores(table["style"], table["predicted"])
        counts = confusion_table(table["style"], table["predicted"], STYLES)
        fig = plot_confusion(counts, STYLES, title=f"test windows, seed {seed}")
        text = (
            f"{rnn.upper()} hidden {hidden_size}, window {window} frames, {t.steps} steps: "
            f"test accuracy {scores['accuracy']:.1%} over {len(table)} windows"
        )
        return [text, fig]

    controls = {
        "seed": seed_box(seed),
        "hidden_size": hidden_size_dropdown(base.style.hidden, hidden_options),
        "rnn": rnn_toggle(base.style.rnn),
        "window": _dropdown_with(window_options, base.style.window, "window (frames)"),
    }
    return rerun_panel(show, controls, "Retrain the music style extractor", "Train")
