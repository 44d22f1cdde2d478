"""The reader's dataset card and the second world (book/data.md, book/style.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from d2mlib import card, data
from d2mlib.errors import DataError
from d2mlib.studies import style_classification, world_card


@pytest.fixture(scope="module")
def smoke_card(smoke_data: Path) -> pd.DataFrame:
    return card.describe(smoke_data)


def test_card_value_reads_one_row_and_names_a_missing_one(smoke_card: pd.DataFrame) -> None:
    assert world_card.card_value(smoke_card, "clips") == 36
    assert world_card.card_value(smoke_card, "clips", style="ballet") == 12
    assert 0 <= world_card.card_value(smoke_card, "ambiguous_share", split="test") <= 1
    with pytest.raises(DataError, match="no 'clips' for style 'tango'"):
        world_card.card_value(smoke_card, "clips", style="tango")


def test_readable_card_uses_human_names_and_formats(smoke_card: pd.DataFrame) -> None:
    table = world_card.readable_card(smoke_card)
    assert len(table) == len(smoke_card)
    assert not table["quantity"].str.contains("_").any()
    row = table[table["quantity"] == world_card.CARD_NAMES["posture_style_accuracy"]].iloc[0]
    assert row["value"].endswith("%")
    assert world_card.format_card_value("clips", 1800.0) == "1,800"
    assert world_card.format_card_value("beat_hit_rate", 0.934) == "93%"
    assert world_card.format_card_value("music_movement_dependence", 0.4567) == "0.46"
    assert world_card.format_card_value("bas_music", float("nan")) == "n/a"
    assert world_card.format_card_value("music_movement_dependence_shuffled", -0.001) == "0.00"


def test_second_world_turns_up_the_ambiguity_and_is_cached(smoke_data: Path) -> None:
    second = world_card.second_world(smoke_data)
    assert second is not None and second.name == "smoke-amb50"
    assert world_card.ambiguity_of(smoke_data) == 0.25
    assert world_card.ambiguity_of(second) == 0.5
    meta = data.read_meta(data.read_dataset(second, check_arrays=False))
    first = data.read_meta(data.read_dataset(smoke_data, check_arrays=False))
    assert meta["borrowed"].ne("").mean() > first["borrowed"].ne("").mean()
    mtime = (second / "unitList").stat().st_mtime_ns
    assert world_card.second_world(smoke_data) == second  # cached: not rewritten
    assert (second / "unitList").stat().st_mtime_ns == mtime


def test_second_world_is_none_for_a_dataset_without_the_dial(tmp_path: Path) -> None:
    assert world_card.second_world(tmp_path) is None
    assert np.isnan(world_card.ambiguity_of(tmp_path))


def test_per_clip_scores_give_accuracy_and_recall_per_clip() -> None:
    preds = pd.DataFrame(
        {"clip": [0, 0, 1, 1, 2], "style": [0, 0, 2, 2, 1], "predicted": [0, 1, 2, 2, 0]}
    )
    table = style_classification.per_clip_scores({("paper", 3): preds})
    acc = table[table["metric"] == "accuracy"].set_index("clip")["value"]
    assert acc.to_dict() == {0: 0.5, 1: 1.0, 2: 0.0}
    rec = table[table["metric"] == "recall hiphop"]
    assert list(rec["clip"]) == [1] and rec["value"].iloc[0] == 1.0
    assert set(table["seed"]) == {3} and set(table["system"]) == {"paper"}


def test_recall_beside_student_compares_recall_with_the_students_recall() -> None:
    preds = pd.DataFrame({"style": [0, 0, 1, 1, 2, 2], "predicted": [0, 0, 1, 0, 2, 1]})
    scores = style_classification.scores_over_seeds({("paper", 0): preds})
    like = style_classification.recall_beside_student(scores)
    assert like.loc["ballet", "our recall"] == 1.0
    assert like.loc["zumba", "our recall"] == 0.5
    assert like.loc["ballet", "our precision"] == pytest.approx(2 / 3)
    assert like.loc["hiphop", "student's recall (printed as precision)"] == 0.526
