"""Tests for the training chapter's helpers in d2mlib.metrics: reconstruction errors, verdicts, summary."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from d2mlib import studies
from d2mlib.errors import MetricError


def test_reconstruction_table_gives_hand_computed_errors_by_style():
    units = np.zeros((2, 4, 14, 2))
    units[1] += 10.0  # the second unit sits 10 px away on every coordinate
    units[1, 2:] += 4.0  # and moves 4 px in its second half
    recon = units + 1.5  # off by 1.5 px everywhere
    table = studies.training.reconstruction_table(units, recon, [0, 2], mean_pose=np.zeros((14, 2)))
    assert list(table.index) == ["ballet", "hiphop", "all"]
    assert table.loc["ballet", "model"] == pytest.approx(1.5)
    assert table.loc["ballet", "first pose held"] == pytest.approx(0.0)
    assert table.loc["hiphop", "first pose held"] == pytest.approx(2.0)
    assert table.loc["hiphop", "mean pose"] == pytest.approx(12.0)
    assert table.loc["all", "mean pose"] == pytest.approx(6.0)
    assert table.loc["all", "units"] == 2


def test_reconstruction_table_rejects_mismatched_shapes():
    with pytest.raises(MetricError, match="differ"):
        studies.training.reconstruction_table(
            np.zeros((2, 4, 14, 2)), np.zeros((2, 5, 14, 2)), [0, 1], np.zeros((14, 2))
        )


@pytest.mark.parametrize(
    ("model", "phrase"),
    [(1.0, "beats both"), (3.0, "beats the mean pose but not"), (9.0, "not yet beat either")],
)
def test_baseline_verdict_names_which_baselines_are_beaten(model, phrase):
    assert phrase in studies.training.baseline_verdict(model, first_pose=2.0, mean_pose=5.0)


def _dance_on_beats(beat_frames, n=60):
    """A joint swinging between rests on the given frames (kinematic beats there)."""
    x = np.zeros(n)
    keys = [0, *beat_frames, n - 1]
    for a, (k0, k1) in enumerate(zip(keys[:-1], keys[1:], strict=True)):
        t = np.arange(k0, k1 + 1)
        p0, p1 = (0.0, 40.0) if a % 2 == 0 else (40.0, 0.0)
        x[k0 : k1 + 1] = p0 + (p1 - p0) * (1 - np.cos(np.pi * (t - k0) / (k1 - k0))) / 2
    poses = np.full((n, 14, 2), 100.0)
    poses[:, :, 0] += x[:, None]
    return poses


def test_held_out_summary_counts_heard_styles_and_beat_hits():
    beats = np.array([15, 30, 45]) / 15.0
    on, off = _dance_on_beats([15, 30, 45]), _dance_on_beats([8, 22, 38])
    clips = [SimpleNamespace(style="zumba", poses=on, beat_times=beats) for _ in range(2)]
    dances = [SimpleNamespace(style="zumba", poses=off), SimpleNamespace(style="ballet", poses=on)]
    table = studies.training.held_out_summary(clips, dances)
    assert list(table.index) == ["zumba"]
    row = table.loc["zumba"]
    assert row["clips"] == 2
    assert row["heard as its style"] == pytest.approx(0.5)
    assert row["hit rate (real)"] == pytest.approx(1.0)
    assert row["hit rate (composed)"] == pytest.approx(0.5)
