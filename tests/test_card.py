"""Tests of d2mlib.card: the dataset card of any dataset in the original layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from d2mlib import card, cli, skeleton, synth
from d2mlib.config import STYLES
from d2mlib.data import read_dataset
from d2mlib.errors import DataError
from tests.test_data import CLIPS, UNITS, VIDEOS, write_tiny_dataset


def _values(table: pd.DataFrame) -> pd.Series:
    rows = table[table["split"] == "all"]
    return rows.set_index(["quantity", "style"])["value"]


def test_logistic_accuracy_separates_separable_styles_and_not_random_labels() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 60)
    x = rng.normal(size=(180, 4)) + 4.0 * np.eye(4)[y]  # each class shifted on its own axis
    assert card.logistic_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0
    noise = rng.normal(size=(180, 4))
    assert card.logistic_accuracy(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.5


def test_dependence_is_one_for_movement_that_copies_the_music_and_near_zero_shuffled() -> None:
    rng = np.random.default_rng(0)
    music = [rng.normal(size=8) for _ in range(200)]
    move = [2.0 * m + 5.0 for m in music]  # per-clip offsets cancel
    assert card.dependence(music, move, np.arange(200)) == pytest.approx(1.0)
    shuffled = card.dependence(music, move, np.roll(np.arange(200), 1))
    assert abs(shuffled) < 0.1


def test_joint_angles_of_a_straight_arm_and_a_right_angle() -> None:
    poses = np.zeros((1, 14, 2))
    J = skeleton.JOINT
    poses[0, J["r_shoulder"]] = (0.0, 0.0)
    poses[0, J["r_elbow"]] = (0.0, 1.0)
    poses[0, J["r_wrist"]] = (0.0, 2.0)  # straight: pi
    poses[0, J["l_shoulder"]] = (0.0, 0.0)
    poses[0, J["l_elbow"]] = (0.0, 1.0)
    poses[0, J["l_wrist"]] = (1.0, 1.0)  # bent: pi / 2
    angles = card.joint_angles(poses)
    assert angles.shape == (1, 8)
    assert angles[0, :2] == pytest.approx([np.pi, np.pi / 2])


def test_describe_the_smoke_world(smoke_data: Path) -> None:
    table = card.describe(smoke_data)
    assert list(table.columns) == card.COLUMNS
    v = _values(table)
    index = read_dataset(smoke_data, check_arrays=False)
    preset = synth.synth_preset("smoke")
    for style in STYLES:
        assert v[("clips", style)] == preset.clips_per_style
        assert v[("videos", style)] == preset.videos_per_style
        assert v[("units", style)] == preset.clips_per_style * preset.units_per_clip
        lo, hi = v[("tempo_min", style)], v[("tempo_max", style)]
        assert synth.TEMPO_RANGES[style][0] - 1e-9 <= lo <= hi
    assert v[("clips", "all")] == len(index.clips)
    assert v[("minutes", "all")] == pytest.approx(index.clips["frames"].sum() / 900)
    splits = table[(table["quantity"] == "videos") & (table["split"] != "all")]
    assert splits["value"].sum() == v[("videos", "all")]  # each video in exactly one split
    assert 0.0 <= v[("posture_style_accuracy", "all")] <= 1.0
    note = table.loc[table["quantity"] == "beat_hit_rate", "note"].item()
    assert note.startswith("true beats")
    assert v[("beat_hit_rate", "all")] >= 0.9
    assert (
        v[("music_movement_dependence", "all")] > v[("music_movement_dependence_shuffled", "all")]
    )


def test_describe_the_original_format_fixture(tmp_path: Path) -> None:
    root = write_tiny_dataset(tmp_path / "data")
    table = card.describe(root)
    v = _values(table)
    for style in STYLES:
        assert v[("clips", style)] == VIDEOS * CLIPS
        assert v[("videos", style)] == VIDEOS
        assert v[("units", style)] == VIDEOS * CLIPS * UNITS
        assert np.isnan(v[("tempo_min", style)])  # no meta.json, no .wav: nothing to read
    assert np.isnan(v[("beat_hit_rate", "all")])
    assert "ambiguous_share" not in set(table["quantity"])
    assert 0.0 <= v[("posture_style_accuracy", "all")] <= 1.0
    assert np.isfinite(v[("music_movement_dependence", "all")])


def test_cli_describe_writes_the_card_and_fails_in_one_line_on_a_malformed_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tiny_dataset(tmp_path / "data")
    out = tmp_path / "card.csv"
    assert cli.main(["describe", "--data", str(root), "--out", str(out)]) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == card.COLUMNS and len(written) > 20
    capsys.readouterr()
    unit = root / "ballet" / "vid00" / "000" / "unit" / "1.npy"
    np.save(unit, np.zeros((5, 3), np.float32))
    with pytest.raises(DataError, match="dance unit has shape") as err:
        card.describe(root)
    assert str(unit) in str(err.value) and "\n" not in str(err.value)
    (root / "unitList" / "zumba_unit.txt").unlink()
    assert cli.main(["describe", "--data", str(root)]) == 1
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert "zumba_unit.txt" in message and "missing" in message
