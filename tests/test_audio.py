"""Tests for d2mlib.audio: loading, the 28 features, onsets, beats; every bad input named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft
import soundfile as sf

from d2mlib import audio
from d2mlib.audio import FEATURE_DIM, HOP, SAMPLE_RATE
from d2mlib.errors import AudioError

SR = SAMPLE_RATE


def click_track(bpm: float, seconds: float, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    """Decaying 1 kHz clicks (20 ms) at `bpm`, the first at t = 0."""
    y = np.zeros(int(round(seconds * sr)), np.float32)
    n = int(0.02 * sr)
    k = np.arange(n)
    burst = np.sin(2 * np.pi * 1000 * k / sr) * np.exp(-k / (0.004 * sr))
    for t in np.arange(0.0, seconds, 60.0 / bpm):
        i = int(round(t * sr))
        seg = y[i : i + n]
        seg += burst[: len(seg)].astype(np.float32)
    return amplitude * y


def sine(freq: float, seconds: float, sr: int = SR, amplitude: float = 0.3) -> np.ndarray:
    """A sine at `freq` Hz."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def music_like(seconds: float, seed: int) -> np.ndarray:
    """A chord, some noise and clicks: a signal with content in every band."""
    rng = np.random.default_rng(seed)
    y = sine(220, seconds) + sine(330, seconds, amplitude=0.2) + sine(1760, seconds, amplitude=0.05)
    y += 0.02 * rng.standard_normal(len(y)).astype(np.float32)
    return y + click_track(100, seconds, amplitude=0.3)


def reference_features(y: np.ndarray) -> np.ndarray:
    """The documented recipe, one frame at a time in float64 (slow and plain on purpose)."""
    fb = librosa.filters.mel(
        sr=SR, n_fft=2048, n_mels=40, fmin=400 / 3, fmax=1000 * 6.4 ** (28 / 27), htk=False
    )
    window = np.hamming(HOP)
    rows = []
    for t in range(len(y) // HOP):
        frame = y[t * HOP : (t + 1) * HOP].astype(np.float64)
        emph = np.concatenate([frame[:1], frame[1:] - 0.97 * frame[:-1]])
        power = np.abs(np.fft.rfft(emph * window, n=2048)) ** 2
        logmel = np.log(np.maximum(fb @ power, 1e-10))
        ceps = scipy.fft.dct(logmel, type=2, norm="ortho")[:13]
        rows.append(np.concatenate([ceps, [np.log1p(np.mean(frame**2))]]))
    static = np.array(rows)
    delta = np.zeros_like(static)
    delta[:-1] = np.diff(static, axis=0)
    return np.concatenate([static, delta], axis=1)


# ----------------------------------------------------------------------------- features


def test_constants_give_fifteen_non_overlapping_frames_per_second() -> None:
    assert SAMPLE_RATE / HOP == 15
    assert FEATURE_DIM == 28
    np.testing.assert_allclose(audio.frame_times(4), [0, 1 / 15, 2 / 15, 3 / 15])


def test_features_of_three_second_click_track_are_45_frames_of_28_float32() -> None:
    feats = audio.features(click_track(120, 3.0))
    assert feats.shape == (45, 28)
    assert feats.dtype == np.float32
    assert np.all(np.isfinite(feats))


def test_features_drop_a_partial_last_frame() -> None:
    y = music_like(2.0, seed=0)[: 10 * HOP + 1000]
    assert audio.features(y).shape == (10, FEATURE_DIM)
    assert audio.features(y[: HOP - 1]).shape == (0, FEATURE_DIM)


def test_features_match_a_per_frame_reference_of_the_documented_recipe() -> None:
    y = music_like(1.0, seed=1)
    y *= audio.loudness_gain(y)
    np.testing.assert_allclose(audio.features(y), reference_features(y), rtol=1e-4, atol=2e-4)


def test_batch_features_equal_per_clip_features() -> None:
    batch = np.stack([music_like(2.0, seed=s) * g for s, g in [(0, 1.0), (1, 0.1), (2, 2.0)]])
    out = audio.features(batch)
    assert out.shape == (3, 30, FEATURE_DIM)
    assert out.dtype == np.float32
    for clip, got in zip(batch, out, strict=True):
        np.testing.assert_allclose(got, audio.features(clip), rtol=1e-5, atol=1e-4)


def test_delta_half_is_the_forward_difference_of_the_static_half() -> None:
    feats = audio.features(music_like(2.0, seed=3))
    np.testing.assert_array_equal(feats[:-1, 14:], np.diff(feats[:, :14], axis=0))
    np.testing.assert_array_equal(feats[-1, 14:], 0.0)
    assert np.abs(feats[:-1, 14:]).max() > 0.1  # the differences are not trivially zero


def test_features_of_silence_are_finite_and_the_documented_constant() -> None:
    feats = audio.features(np.zeros(SR, np.float32))
    assert np.all(np.isfinite(feats))
    np.testing.assert_allclose(feats[:, 0], audio.SILENCE_C0, rtol=1e-6)
    np.testing.assert_allclose(audio.SILENCE_C0, np.sqrt(40) * np.log(audio.MEL_FLOOR))
    np.testing.assert_allclose(feats[:, 1:], 0.0, atol=1e-5)


@pytest.mark.parametrize("gain", [1.0, 1e3, 1e6, 1e12])
def test_features_of_very_loud_input_are_finite(gain: float) -> None:
    y = music_like(1.0, seed=4).astype(np.float64) * gain
    feats = audio.features(y)
    assert np.all(np.isfinite(feats))
    # louder input raises c0 by 2 * sqrt(40) * log(gain): nothing saturates
    base = audio.features(music_like(1.0, seed=4))
    np.testing.assert_allclose(
        feats[:, 0] - base[:, 0], 2 * np.sqrt(40) * np.log(gain), rtol=1e-4, atol=1e-2
    )


@pytest.mark.parametrize("band", [2, 10, 18, 27, 36])
def test_sine_puts_most_mel_energy_in_the_band_centred_on_its_frequency(band: int) -> None:
    centres = librosa.mel_frequencies(42, fmin=400 / 3, fmax=1000 * 6.4 ** (28 / 27))[1:-1]
    logmel = audio.log_mel(sine(centres[band], 1.0))
    assert logmel.shape == (15, 40)
    assert np.all(np.argmax(logmel, axis=1) == band)
    np.testing.assert_allclose(audio.mel_band_edges()[1:-1], centres)


def test_log_mel_and_cepstra_agree() -> None:
    y = music_like(1.0, seed=5)
    ceps = scipy.fft.dct(audio.log_mel(y).astype(np.float64), type=2, norm="ortho", axis=1)
    np.testing.assert_allclose(audio.features(y)[:, :13], ceps[:, :13], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("y", "sr", "problem"),
    [
        (np.zeros(SR, np.float32), 44100, "22050"),
        (np.zeros((2, 2, SR), np.float32), SR, "shape"),
        (np.array([0.0, np.nan] * SR, np.float32), SR, "NaN"),
        (np.zeros(SR, np.complex64), SR, "real"),
    ],
)
def test_features_reject_wrong_rate_shape_or_values(y: np.ndarray, sr: int, problem: str) -> None:
    with pytest.raises(AudioError, match=problem):
        audio.features(y, sr=sr)


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("file_sr", [8000, 11025, 16000, 44100, 48000])
def test_load_resamples_any_rate_to_22050_keeping_duration_and_pitch(
    tmp_path: Path, file_sr: int
) -> None:
    path = tmp_path / f"tone_{file_sr}.wav"
    sf.write(path, sine(440.0, 2.0, sr=file_sr), file_sr)
    y = audio.load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SR - 2.0) < 1e-3
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * SR / len(y) - 440.0) < 1.0


def test_load_at_another_rate_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, sine(440.0, 1.0), SR)
    assert len(audio.load_audio(path, sr=16000)) == 16000


def test_stereo_loads_as_the_mean_of_its_channels_before_normalisation(tmp_path: Path) -> None:
    left, right = sine(440.0, 1.0), 0.5 * click_track(120, 1.0)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y = audio.load_audio(path, normalise=False)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)


def test_normalise_false_keeps_the_samples(tmp_path: Path) -> None:
    y0 = music_like(1.0, seed=6) * 0.1
    path = tmp_path / "raw.wav"
    sf.write(path, y0, SR, subtype="FLOAT")
    np.testing.assert_array_equal(audio.load_audio(path, normalise=False), y0)


def test_normalisation_sets_rms_to_minus_20_dbfs(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, 0.01 * music_like(2.0, seed=7), SR)
    y = audio.load_audio(path)
    assert abs(20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) + 20.0) < 0.01
    assert np.max(np.abs(y)) < 10 ** (-1 / 20)


def test_normalisation_limits_the_peak_to_minus_1_dbfs_for_spiky_audio(tmp_path: Path) -> None:
    path = tmp_path / "spiky.wav"
    sf.write(path, click_track(60, 2.0, amplitude=0.01), SR, subtype="FLOAT")
    y = audio.load_audio(path)
    assert abs(20 * np.log10(np.max(np.abs(y))) + 1.0) < 0.01
    assert 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) < -20.5


# 16-bit files carry quantisation noise near -90 dBFS whatever the gain, which moves the weakest
# mel bands of the quiet copy a little: hence the looser tolerance there.
@pytest.mark.parametrize(("subtype", "atol"), [("FLOAT", 5e-3), ("PCM_16", 0.05)])
def test_files_differing_only_in_gain_give_equal_features(
    tmp_path: Path, subtype: str, atol: float
) -> None:
    y0 = music_like(2.0, seed=8)
    quiet, loud = tmp_path / "quiet.wav", tmp_path / "loud.wav"
    sf.write(quiet, 0.05 * y0, SR, subtype=subtype)
    sf.write(loud, 0.8 * y0 / np.max(np.abs(y0)), SR, subtype=subtype)
    f_quiet = audio.features(audio.load_audio(quiet))
    f_loud = audio.features(audio.load_audio(loud))
    np.testing.assert_allclose(f_quiet, f_loud, rtol=1e-3, atol=atol)
    # without normalisation the two differ by the gain (c0 moves by 2 sqrt(40) log 16 = 35)
    raw_gap = audio.features(audio.load_audio(loud, normalise=False))[:, 0] - f_loud[:, 0]
    assert np.abs(raw_gap).min() > 1.0


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype", "tolerance_s"),
    [
        (".wav", "WAV", "PCM_16", 1e-6),
        (".flac", "FLAC", "PCM_24", 1e-6),
        (".ogg", "OGG", "VORBIS", 1e-6),
        (".mp3", "MP3", None, 0.1),  # mp3 frames pad the end
    ],
)
def test_each_supported_format_loads_with_its_duration(
    tmp_path: Path, suffix: str, fmt: str, subtype: str | None, tolerance_s: float
) -> None:
    path = tmp_path / f"clip{suffix}"
    sf.write(path, music_like(2.0, seed=9), SR, format=fmt, subtype=subtype)
    y = audio.load_audio(path)
    assert abs(len(y) / SR - 2.0) <= tolerance_s
    assert np.all(np.isfinite(y))


def test_truncated_wav_loads_what_is_there(tmp_path: Path) -> None:
    full = tmp_path / "full.wav"
    sf.write(full, music_like(2.0, seed=10), SR, subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    y_cut, y_full = audio.load_audio(cut, normalise=False), audio.load_audio(full, normalise=False)
    assert 0.9 < len(y_cut) / SR < 1.1
    np.testing.assert_array_equal(y_cut, y_full[: len(y_cut)])


def test_truncated_flac_loads_its_intact_blocks(tmp_path: Path) -> None:
    full = tmp_path / "full.flac"
    sf.write(full, music_like(4.0, seed=11), SR, format="FLAC")
    data = full.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    y = audio.load_audio(cut, normalise=False)
    assert 1.0 < len(y) / SR < 2.1


# Each builder writes one bad input into the folder and returns its path.
def _missing(d: Path) -> Path:
    return d / "missing.wav"


def _directory(d: Path) -> Path:
    (d / "folder.wav").mkdir()
    return d / "folder.wav"


def _empty(d: Path) -> Path:
    (d / "empty.wav").write_bytes(b"")
    return d / "empty.wav"


def _random_bytes(d: Path) -> Path:
    (d / "random.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    return d / "random.wav"


def _random_mp3(d: Path) -> Path:
    (d / "random.mp3").write_bytes(np.random.default_rng(1).bytes(4000))
    return d / "random.mp3"


def _text(d: Path) -> Path:
    (d / "notes.ogg").write_text("this is not audio\n" * 50)
    return d / "notes.ogg"


def _header_only(d: Path) -> Path:
    sf.write(d / "header_only.wav", np.zeros(0, np.float32), SR)
    return d / "header_only.wav"


def _cut_ogg(d: Path) -> Path:
    sf.write(d / "whole.ogg", music_like(1.0, seed=12), SR, format="OGG", subtype="VORBIS")
    (d / "cut.ogg").write_bytes((d / "whole.ogg").read_bytes()[:300])
    return d / "cut.ogg"


def _nan(d: Path) -> Path:
    y = sine(440, 1.0)
    y[123] = np.nan
    sf.write(d / "nan.wav", y, SR, subtype="FLOAT")
    return d / "nan.wav"


def _inf(d: Path) -> Path:
    y = sine(440, 1.0).astype(np.float64)
    y[-1] = np.inf
    sf.write(d / "inf.wav", y, SR, subtype="DOUBLE")
    return d / "inf.wav"


def _silent(d: Path) -> Path:
    sf.write(d / "silent.wav", np.zeros(2 * SR, np.float32), SR)
    return d / "silent.wav"


def _cancelling_stereo(d: Path) -> Path:
    y = sine(440, 1.0)
    sf.write(d / "cancel.wav", np.stack([y, -y], axis=1), SR)
    return d / "cancel.wav"


def _single_sample(d: Path) -> Path:
    sf.write(d / "one.wav", np.array([0.5], np.float32), SR)
    return d / "one.wav"


def _too_short(d: Path) -> Path:
    sf.write(d / "short.wav", sine(440, 0.05), SR)  # 1102 samples < 1470
    return d / "short.wav"


def _too_short_8k(d: Path) -> Path:
    sf.write(d / "short8k.wav", sine(440, 0.06, sr=8000), 8000)
    return d / "short8k.wav"


BAD_INPUTS: list[tuple[Callable[[Path], Path], str]] = [
    (_missing, "does not exist"),
    (_directory, "is a directory"),
    (_empty, "is empty"),
    (_random_bytes, "cannot be decoded"),
    (_random_mp3, "cannot be decoded"),
    (_text, "cannot be decoded"),
    (_header_only, "no audio samples"),
    (_cut_ogg, "cannot be decoded"),
    (_nan, "NaN or infinite"),
    (_inf, "NaN or infinite"),
    (_silent, "is silent"),
    (_cancelling_stereo, "is silent after mixing"),
    (_single_sample, "too short"),
    (_too_short, "too short"),
    (_too_short_8k, "too short"),
]


@pytest.mark.parametrize(("build", "problem"), BAD_INPUTS, ids=[b.__name__ for b, _ in BAD_INPUTS])
def test_bad_input_raises_audio_error_naming_the_file_and_problem(
    tmp_path: Path, build: Callable[[Path], Path], problem: str
) -> None:
    path = build(tmp_path)
    with pytest.raises(AudioError) as info:
        audio.load_audio(path)
    assert path.name in str(info.value)
    assert problem in str(info.value)
    assert info.value.path == path


def test_bad_sample_rate_argument_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, sine(440, 1.0), SR)
    with pytest.raises(AudioError, match="tone.wav"):
        audio.load_audio(path, sr=0)


# ----------------------------------------------------------------------------- onsets, beats


def test_click_track_at_120_bpm_gives_beats_half_a_second_apart() -> None:
    found = audio.beats(click_track(120, 8.0))
    spacing = np.diff(found.times)
    assert len(found.times) >= 12
    assert np.all(np.abs(spacing - 0.5) < 0.03)
    # librosa's estimate comes in steps (117.45, 123.05 BPM at hop 512): within 4% of 120
    assert abs(found.tempo - 120) / 120 < 0.04
    assert abs(found.spacing_tempo - 120) < 1.0
    # beats land on clicks (at multiples of 0.5 s), within two beat-tracking hops
    assert np.all(np.abs(found.times - np.round(found.times * 2) / 2) < 2 * 512 / SR)


@pytest.mark.parametrize("bpm", [90, 140])
def test_beat_spacing_follows_the_tempo(bpm: float) -> None:
    found = audio.beats(click_track(bpm, 8.0))
    assert abs(found.spacing_tempo - bpm) / bpm < 0.02


def test_silence_gives_tempo_zero_and_no_beats() -> None:
    for y in (np.zeros(4 * SR, np.float32), np.zeros(100, np.float32)):
        found = audio.beats(y)
        assert found.tempo == 0.0
        assert found.times.shape == (0,)
        assert found.spacing_tempo == 0.0


def test_beats_reject_non_finite_samples() -> None:
    with pytest.raises(AudioError, match="NaN"):
        audio.beats(np.full(SR, np.nan))


def test_onset_strength_peaks_in_the_feature_frames_holding_clicks() -> None:
    y = click_track(120, 3.0)
    onset = audio.onset_strength(y)
    assert onset.shape == (45,) and onset.dtype == np.float32
    click_frames = [int(t * 15) for t in (0.5, 1.0, 1.5, 2.0, 2.5)]  # frame holding each click
    quiet = np.setdiff1d(np.arange(45), click_frames + [f + 1 for f in click_frames])
    assert onset[click_frames].min() > 5 * onset[quiet].max()
    assert all(onset[f] > onset[f + 1] for f in click_frames)  # the click's own frame peaks
    assert onset[0] == 0.0  # the envelope starts at 0: the click at t = 0 has nothing before it
    assert np.all(audio.onset_strength(np.zeros(SR)) == 0.0)


def test_mel_spectrogram_is_db_below_the_loudest_cell_on_feature_frames() -> None:
    spec = audio.mel_spectrogram(music_like(2.0, seed=13), n_mels=32)
    assert spec.shape == (32, 30)
    assert spec.max() == pytest.approx(0.0) and spec.min() >= -80.0
    assert np.all(np.isfinite(audio.mel_spectrogram(np.zeros(SR))))


def test_analyse_bundles_samples_features_onsets_and_beats(tmp_path: Path) -> None:
    path = tmp_path / "song.wav"
    sf.write(path, click_track(120, 6.0, sr=44100), 44100)
    result = audio.analyse(path)
    assert result.path == path
    assert result.duration == pytest.approx(6.0, abs=1e-3)
    assert result.features.shape == (90, FEATURE_DIM)
    assert result.onset.shape == (90,)
    assert len(result.times) == 90
    assert abs(result.beats.spacing_tempo - 120) < 2.0
