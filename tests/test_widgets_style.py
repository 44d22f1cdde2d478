"""data.window_material and widgets.style_explorer (the style chapters)."""

from __future__ import annotations

import numpy as np
import pytest

from d2mlib import audio, chapter, config, data, widgets


@pytest.fixture(scope="module")
def index(smoke_data):
    return data.read_dataset(smoke_data, check_arrays=False)


def test_window_material_cuts_the_clips_poses_and_audio_to_the_window(index) -> None:
    row = int(np.flatnonzero(index.clips["style"] == "zumba")[1])
    poses, wav, name = data.window_material(index, row, 30, 30)
    full, y, _, _ = data.clip_material(index, "zumba", 1)
    assert poses.shape == (30, 14, 2)
    np.testing.assert_array_equal(poses, full[30:60])
    assert wav is not None and len(wav) == 30 * audio.HOP
    np.testing.assert_array_equal(wav, y[30 * audio.HOP : 60 * audio.HOP])
    assert "zumba" in name and "2.0-4.0 s" in name


def test_style_explorer_trains_and_shows_accuracy_and_confusion(smoke_data, tmp_path) -> None:
    ch = chapter.setup(seed=0, smoke=True, data_dir=smoke_data, runs_dir=tmp_path)
    panel = widgets.style_explorer(ch, config.preset("smoke"), steps=2)
    outputs = panel.output.outputs
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "test accuracy" in text and "2 steps" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert list(tmp_path.glob("style-smoke-*"))  # the run was trained and cached
    panel.controls["rnn"].value = "lstm"
    panel.run()
    assert len(list(tmp_path.glob("style-smoke-*"))) == 2
