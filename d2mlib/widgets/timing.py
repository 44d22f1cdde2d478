"""The timing chapter's step timer: one training step of a stage timed by phase."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import pandas as pd
import torch

from d2mlib import config
from d2mlib.config import STAGES
from d2mlib.errors import ConfigError
from d2mlib.stages import build_stage, fake_batch, spec, untrained_deps, with_hidden
from d2mlib.timing.measure import measure_phases, sync_for
from d2mlib.timing.training import timed_config
from d2mlib.viz.timing import plot_step_phases
from d2mlib.widgets.controls import batch_size_dropdown, hidden_size_dropdown, rnn_toggle
from d2mlib.widgets.panel import _WIDE, RerunPanel, rerun_panel


def sized_config(preset: str, stage: str, hidden_size: int, rnn: str) -> Any:
    """The preset with every recurrent layer's type set to `rnn` and `stage`'s recurrent hidden size."""
    return with_hidden(timed_config(preset, rnn), stage, hidden_size)


def time_training_step(
    stage: str,
    preset: str,
    batch_size: int,
    hidden_size: int,
    rnn: str,
    repeats: int = 3,
    device: str = "cpu",
) -> tuple[Any, int]:
    """Time one training step of an untrained `stage` (random batch): phases table and parameter count.

    Returns (DataFrame indexed by phase total/forward/backward/optimiser with median, q1, q3 in
    seconds and n, parameter count of the trained modules); one untimed warm-up step first.
    torch's global RNG is left as it was.
    """

    if int(batch_size) < 1 or int(repeats) < 1:
        raise ConfigError(f"need batch_size >= 1 and repeats >= 1, got {batch_size}, {repeats}")
    cfg = sized_config(preset, stage, hidden_size, rnn)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        deps = untrained_deps(cfg) if spec(stage).needs else None
        obj = build_stage(stage, cfg, device, deps)
        n_params = sum(p.numel() for m in obj.modules().values() for p in m.parameters())
        batch = fake_batch(stage, cfg, int(batch_size), device)
        counter = {"step": 0}

        def step() -> Any:
            counter["step"] += 1
            return obj.training_step(batch, counter["step"])

        phases = measure_phases(step, warmup=1, repeats=int(repeats), sync=sync_for(device))
    table = pd.DataFrame(
        {p: {"median": m.median, "q1": m.q1, "q3": m.q3, "n": m.n} for p, m in phases.items()}
    ).T
    return table, int(n_params)


def step_timer(
    ch: Any,
    stage: str = "decomp",
    batch_size: int = 64,
    hidden_size: int | None = None,
    rnn: str = "gru",
    repeats: int | None = None,
) -> RerunPanel:
    """Chapter "timing": stage, batch size, hidden size, rnn -> one training step timed, by phase.

    Untrained models at the chapter's preset sizes (the chosen stage's recurrent hidden size
    replaced), a random batch, one warm-up step, then `repeats` timed steps (2 in smoke mode,
    else 5). Nothing is written to disk; the numbers are this kernel's machine's.
    """

    default_hidden = spec(stage).hidden(config.preset(ch.preset))
    n_repeats = int(repeats if repeats is not None else (2 if ch.smoke else 5))

    def show(stage: str, batch_size: int, hidden_size: int, rnn: str) -> list[object]:
        table, n_params = time_training_step(
            stage, ch.preset, batch_size, hidden_size, rnn, n_repeats
        )
        total = table.loc["total"]
        summary = (
            f"one {stage} training step at {ch.preset} sizes, batch {batch_size}, "
            f"{rnn.upper()} hidden {hidden_size} ({n_params / 1e6:.2f} M parameters): median "
            f"{1e3 * total['median']:.1f} ms (IQR {1e3 * total['q1']:.1f} to "
            f"{1e3 * total['q3']:.1f} ms) over {int(total['n'])} steps after a warm-up"
        )
        bars = pd.DataFrame(
            {p: [table.loc[p, "median"]] for p in ("forward", "backward", "optimiser")},
            index=[f"{stage}, batch {batch_size}, {rnn.upper()} {hidden_size}"],
        )
        fig = plot_step_phases(bars)
        fig.axes[0].set_title("median time of each phase", fontsize=10)
        return [summary, fig]

    controls = {
        "stage": widgets.Dropdown(options=STAGES, value=stage, description="stage", style=_WIDE),
        "batch_size": batch_size_dropdown(batch_size),
        "hidden_size": hidden_size_dropdown(
            int(hidden_size if hidden_size is not None else default_hidden)
        ),
        "rnn": rnn_toggle(rnn),
    }
    return rerun_panel(show, controls, "Time one training step", "Time it")
