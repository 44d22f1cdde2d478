"""Tests for the training chapter's helpers in d2mlib.generate: unit reconstructions, held-out clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d2mlib import config, data, generate, skeleton, studies
from d2mlib.errors import DataError
from d2mlib.models.dance_unit import DanceUnit


def _units(n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 300, (n, 1, 14, 2))
    return (base + rng.normal(0, 5, (n, 32, 14, 2))).astype(np.float32)


def test_reconstruct_units_keeps_shape_and_does_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    model = DanceUnit(config.preset("smoke").dance_unit)
    units = _units()
    norm = skeleton.Normaliser(units.reshape(-1, 28).mean(0), units.reshape(-1, 28).std(0))
    whole = generate.reconstruct_units(model, norm, units)
    pieces = generate.reconstruct_units(model, norm, units, batch_size=2)
    assert whole.shape == units.shape and whole.dtype == np.float32
    assert np.all(np.isfinite(whole))
    np.testing.assert_allclose(whole, pieces, atol=1e-4)


def test_reconstruct_units_decodes_posterior_means_through_the_normaliser():
    torch.manual_seed(0)
    model = DanceUnit(config.preset("smoke").dance_unit)
    units = _units(3)
    mean, std = np.full(28, 200.0, np.float32), np.full(28, 50.0, np.float32)
    got = generate.reconstruct_units(model, skeleton.Normaliser(mean, std), units)
    x = torch.from_numpy(((units.reshape(3, 32, 28) - mean) / std).astype(np.float32))
    with torch.no_grad():
        q_init, q_mov = model.encode(x)
        expected = model.decode(q_init.mu, q_mov.mu).numpy() * std + mean
    np.testing.assert_allclose(got.reshape(3, 32, 28), expected, rtol=1e-4, atol=1e-3)


def test_held_out_clips_come_from_the_test_split_of_each_style(smoke_data):
    index = data.read_dataset(smoke_data)
    clips = studies.held_out.held_out_clips(index, 2)
    assert [c.style for c in clips] == ["ballet", "ballet", "zumba", "zumba", "hiphop", "hiphop"]
    test_videos = set(index.clips.loc[index.clips["split"] == "test", "video"])
    for clip in clips:
        assert clip.name.split(",")[0].split()[-1] in test_videos  # "<video>, clip <n>"
        assert clip.poses.ndim == 3 and clip.poses.shape[1:] == (14, 2)
        music = clip.music()
        assert len(music.features) == clip.poses.shape[0]
        np.testing.assert_array_equal(music.beat_times, clip.beat_times)


def test_split_clip_numbers_names_a_missing_split(smoke_data):
    index = data.read_dataset(smoke_data)
    numbers = studies.held_out.split_clip_numbers(index, "zumba", "val")
    clips = index.clips[index.clips["style"] == "zumba"].reset_index(drop=True)
    assert set(clips.loc[numbers, "split"]) == {"val"}
    with pytest.raises(DataError, match="holdout"):
        studies.held_out.split_clip_numbers(index, "zumba", "holdout")
