"""Tests for d2mlib.audio.save_wav (the "your music" chapter writes its default music with it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from d2mlib import audio
from d2mlib.errors import AudioError


def test_save_wav_round_trips_through_load_audio(tmp_path: Path) -> None:
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = audio.save_wav(tmp_path / "sub" / "tone.wav", y)
    assert path == tmp_path / "sub" / "tone.wav"
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (audio.SAMPLE_RATE, 1, "PCM_16")
    back = audio.load_audio(path, normalise=False)
    assert back.shape == y.shape
    assert np.max(np.abs(back - y)) < 2e-4  # 16-bit quantisation


def test_save_wav_clips_samples_outside_the_unit_range(tmp_path: Path) -> None:
    path = audio.save_wav(tmp_path / "loud.wav", np.array([2.0, -3.0, 0.25] * 1000))
    back, _ = sf.read(path)
    assert back.max() <= 1.0 and back.min() >= -1.0
    assert back[0] == pytest.approx(1.0, abs=1e-4) and back[1] == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize(
    "y, sr",
    [(np.zeros((2, 100)), 22050), (np.array([0.0, np.nan]), 22050), (np.zeros(100), 0)],
)
def test_save_wav_rejects_bad_input_naming_the_file(tmp_path: Path, y: np.ndarray, sr: int) -> None:
    with pytest.raises(AudioError, match="bad.wav"):
        audio.save_wav(tmp_path / "bad.wav", y, sr)
    assert not (tmp_path / "bad.wav").exists()
