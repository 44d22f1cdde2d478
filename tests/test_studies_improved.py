"""The improved-extractor chapter's study: configs trained alike, plateau, tidy tables, the
ambiguity-0.5 world written beside the data (d2mlib.studies.improved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from d2mlib import stats
from d2mlib.data import FeatureStore, dataset_complete
from d2mlib.data.layout import data_identity
from d2mlib.errors import ConfigError, MetricError
from d2mlib.studies import improved as imp


def test_extractor_configs_train_both_alike_and_keep_the_code_size():
    cfgs = imp.extractor_configs("book", seed=2, steps=150, lr=1e-3, precision="bf16")
    paper, better = cfgs["paper"], cfgs["improved"]
    assert paper.train_style == better.train_style
    assert (better.train_style.steps, better.train_style.lr) == (150, 1e-3)
    assert better.train_style.val_every == 150 // imp.VALIDATIONS
    assert better.train_style.precision == "bf16" and better.train_style.seed == 2
    assert (better.style.hidden, better.style.num_layers, better.style.window) == (512, 2, 90)
    assert better.style.project and better.style.dropout > 0
    assert better.style.code_dim == paper.style.code_dim == 30
    assert (paper.style.hidden, paper.style.window) == (30, 30)
    smoke = imp.extractor_configs("smoke", 0, 4, smoke_width=True)["improved"]
    assert smoke.style.hidden == imp.SMOKE_HIDDEN and smoke.style.code_dim == 8


def test_plateau_step_finds_where_a_rising_curve_levels_off():
    steps = np.arange(25, 325, 25)
    values = [0.5, 0.7, 0.85, 0.9, 0.905, 0.91, 0.905, 0.91, 0.9, 0.91, 0.905, 0.91]
    assert imp.plateau_step(steps, values, tolerance=0.01) == 100
    assert imp.plateau_step(steps, values, tolerance=0.2) == 75
    # one lucky evaluation does not set the level (running median of three)
    spiky = [0.5, 0.7, 0.9, 0.9, 0.9, 0.98, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    assert imp.plateau_step(steps, spiky, tolerance=0.01) == 75
    rising = np.linspace(0.4, 0.9, len(steps))
    assert imp.plateau_step(steps, rising, tolerance=0.01) == steps[-1]
    with pytest.raises(MetricError, match="plateau_step"):
        imp.plateau_step([1, 2], [0.5])
    with pytest.raises(MetricError, match="non-finite"):
        imp.plateau_step([1, 2], [0.5, np.nan])


def test_plateau_sentence_says_whether_training_ran_past_the_plateau():
    assert "remaining 100 of the 150 steps (67%" in imp.plateau_sentence(50, 150)
    assert "still be rising" in imp.plateau_sentence(150, 150)
    assert "still be rising" in imp.plateau_sentence(140, 150, last_logged=140)
    with pytest.raises(MetricError):
        imp.plateau_sentence(-1, 150)
    assert imp.plateau_phrase(50, 150).startswith("past the step (50)")
    assert "still rising" in imp.plateau_phrase(150, 150)
    with pytest.raises(MetricError):
        imp.plateau_phrase(10, 0)


def _predictions(hits: dict[int, list[int]]) -> pd.DataFrame:
    """A style_predictions-like table: windows of each clip, right (1) or wrong (0)."""
    rows = [
        {"clip": c, "style": 1, "predicted": 1 if h else 0} for c, hs in hits.items() for h in hs
    ]
    return pd.DataFrame(rows)


def test_clip_accuracy_table_scores_each_clip_and_splits_borrowing_clips():
    preds = {
        ("paper", 0): _predictions({3: [1, 0], 7: [1, 1, 1, 0]}),
        ("improved", 0): _predictions({3: [1], 7: [0, 0]}),
    }
    borrowing = pd.Series({3: True, 7: False}, dtype=object)
    table = imp.clip_accuracy_table(preds, "acc", borrowing)
    assert list(table.columns) == list(stats.COLUMNS)
    got = table.set_index(["system", "metric", "clip"])["value"]
    assert got[("paper", "acc", 3)] == 0.5 and got[("paper", "acc", 7)] == 0.75
    assert got[("improved", "acc", 3)] == 1.0 and got[("improved", "acc", 7)] == 0.0
    assert got[("paper", "acc on borrowing clips", 3)] == 0.5
    assert got[("improved", "acc on clean clips", 7)] == 0.0
    assert len(table) == 8
    assert len(imp.clip_accuracy_table(preds)) == 4  # no split without borrowing flags
    with pytest.raises(MetricError):
        imp.clip_accuracy_table({})


def _composed(styles: list[int], predicted: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"clip": range(len(styles)), "style": styles, "predicted": predicted})


def test_consistency_and_classified_as_tables_count_each_dance_once():
    composed = {
        "paper": _composed([0, 2, 2], [0, 0, 2]),
        "ballet only": _composed([0, 2, 2], [0, 0, 0]),
    }
    sc = imp.consistency_table(composed, seed=4)
    assert sc.groupby("system")["value"].sum().to_dict() == {"ballet only": 1.0, "paper": 2.0}
    assert set(sc["seed"]) == {4}
    shares = (
        imp.classified_as_table(composed, "hiphop").groupby(["system", "metric"])["value"].mean()
    )
    assert shares[("ballet only", "classified as ballet")] == 1.0
    assert shares[("paper", "classified as ballet")] == 0.5
    assert shares[("paper", "classified as hiphop")] == 0.5
    with pytest.raises(MetricError, match="zumba"):
        imp.classified_as_table(composed, "zumba")


def test_borrowing_sentence_carries_the_numbers_and_the_rules_verdict():
    text = imp.borrowing_sentence("does not differ detectably: +1 points", 0.6, 0.61, 0.95)
    assert "60%" in text and "61%" in text and "95%" in text and "does not differ" in text
    with pytest.raises(MetricError, match="fraction"):
        imp.borrowing_sentence("x", 60, 0.5, 0.5)


def test_ensure_world_writes_the_other_ambiguity_beside_the_data(smoke_data: Path):
    assert imp.ensure_world(smoke_data, 0.25) == smoke_data  # the world's own dial
    other = imp.ensure_world(smoke_data, 0.5)
    assert other == smoke_data.parent / "smoke-amb50"
    assert dataset_complete(other)["preset"] == "smoke-amb50"
    assert data_identity(other) != data_identity(smoke_data)  # runs never share a cache entry
    base = imp.borrowing_clips(FeatureStore.open(smoke_data), None)
    more = imp.borrowing_clips(FeatureStore.open(other), None)
    assert len(base) == len(more) == 36
    assert more.mean() > base.mean()
    assert imp.ensure_world(smoke_data, 0.5) == other  # complete: not rewritten
    with pytest.raises(ConfigError, match="smoke-amb70"):
        imp.ensure_world(smoke_data, 0.7)
    with pytest.raises(ConfigError, match="not a complete synthetic world"):
        imp.ensure_world(smoke_data.parent / "nowhere", 0.5)


def test_world_preset_names_the_twin_with_that_ambiguity():
    assert imp.world_preset("book", 0.25) == "book"
    assert imp.world_preset("book", 0.5) == "book-amb50"
    with pytest.raises(ConfigError):
        imp.world_preset("book", 0.9)
