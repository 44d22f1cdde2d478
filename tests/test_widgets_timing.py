"""Tests for the timing chapter's widget pieces in d2mlib.widgets: step timing and its panel."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

from d2mlib import widgets  # noqa: E402
from d2mlib.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("stage", ["style", "decomp", "comp"])
def test_sized_config_changes_only_the_chosen_stage_hidden_size_and_rnn(stage: str) -> None:
    cfg = widgets.sized_config("smoke", stage, 24, "lstm")
    assert cfg.style.rnn == cfg.dance_unit.rnn == cfg.composer.rnn == "lstm"
    hidden = {
        "style": cfg.style.hidden,
        "decomp": cfg.dance_unit.enc_hidden,
        "comp": cfg.composer.dance_enc_hidden,
    }
    assert hidden[stage] == 24
    assert all(v != 24 for k, v in hidden.items() if k != stage)


def test_sized_config_rejects_unknown_stage_and_bad_hidden_size() -> None:
    with pytest.raises(ConfigError, match="unknown stage"):
        widgets.sized_config("smoke", "dance", 16, "gru")
    with pytest.raises(ConfigError, match="hidden size"):
        widgets.sized_config("smoke", "decomp", 0, "gru")


@pytest.mark.parametrize("stage", ["style", "decomp", "comp"])
def test_time_training_step_phases_add_up_to_the_total(stage: str) -> None:
    table, n_params = widgets.time_training_step(stage, "smoke", 4, 8, "gru", repeats=2)
    assert list(table.index) == ["total", "forward", "backward", "optimiser"]
    assert (table["n"] == 2).all() and (table["median"] > 0).all()
    parts = table.loc[["forward", "backward", "optimiser"], "median"].sum()
    assert parts == pytest.approx(table.loc["total", "median"], rel=0.5)
    assert n_params > 0


def test_time_training_step_counts_more_parameters_for_a_bigger_hidden_size() -> None:
    _, small = widgets.time_training_step("decomp", "smoke", 2, 8, "gru", repeats=1)
    _, big = widgets.time_training_step("decomp", "smoke", 2, 32, "gru", repeats=1)
    assert big > small


def test_step_timer_panel_shows_a_summary_and_a_figure() -> None:
    ch = SimpleNamespace(preset="smoke", smoke=True)
    panel = widgets.step_timer(ch, stage="decomp", batch_size=8, hidden_size=16, repeats=1)
    outputs = panel.output.outputs
    assert len(outputs) == 2
    assert "decomp training step" in outputs[0]["data"]["text/plain"]
    assert "image/png" in outputs[1]["data"]
    assert panel.values() == {"stage": "decomp", "batch_size": 8, "hidden_size": 16, "rnn": "gru"}
