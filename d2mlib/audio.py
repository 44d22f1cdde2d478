"""Audio: loading files, the 28 features per frame the models read, onsets, beats and tempo.

Everything runs on mono audio at ``SAMPLE_RATE`` = 22050 Hz cut into non-overlapping frames of
``HOP`` = 1470 samples, so 15 feature frames per second: the frame rate of the dance poses.
Feature frame ``t`` covers samples ``[t * HOP, (t + 1) * HOP)``, i.e. seconds ``[t/15, (t+1)/15)``;
a tail shorter than one frame is dropped.

The features (``features``), the original dataset's recipe with one deliberate change:

1. each frame is pre-emphasised on its own, ``x[n] - 0.97 * x[n - 1]`` (the first sample is
   kept), so a frame's features depend on that frame's samples only;
2. multiplied by a symmetric Hamming window of 1470 samples;
3. zero-padded to ``N_FFT`` = 2048 points; power spectrum ``|X|^2`` (1025 bins). The original
   used a 512-point FFT that read only the first 512 samples of each frame; ours covers it all;
4. 40 triangular mel bands (librosa's Slaney mel scale and area normalisation) whose edges run
   from 133.33 Hz to 6855.5 Hz: the classic Auditory Toolbox bank (13 linear bands 66.7 Hz
   apart, then 27 log-spaced ones), the one the original's "133 to 6855 Hz" names;
5. natural log of each band energy, floored at ``MEL_FLOOR`` so silence stays finite;
6. orthonormal DCT-II of the 40 log energies, keeping ``c0 .. c12`` (13 values);
7. ``log(1 + mean(x ** 2))`` of the raw frame (before pre-emphasis and window): 14 static values;
8. forward differences of the 14 static values, ``d[t] = s[t + 1] - s[t]``, computed on the
   float32 static values, with ``d[last] = 0``: 28 values per frame.

Silence gives finite features: every log band energy is ``log(MEL_FLOOR)``, so
``c0 = sqrt(40) * log(MEL_FLOOR)`` (``SILENCE_C0``, about -145.6), ``c1 .. c12 = 0``, energy 0
and all differences 0.

Loudness normalisation (``load_audio(normalise=True)``): one gain for the whole file,
``g = min(10 ** (TARGET_RMS_DBFS / 20) / rms, 10 ** (PEAK_LIMIT_DBFS / 20) / peak)``: the RMS
goes to -20 dBFS unless that would lift the peak above -1 dBFS, in which case the peak is set to
-1 dBFS. It is a plain gain (no compression, no clipping), so two files that differ only in gain
load to the same samples. RMS is over the whole file, not a perceptual loudness (LUFS).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.fft

from d2mlib._io import write_bytes
from d2mlib.errors import AudioError

SAMPLE_RATE = 22050
HOP = 1470
FPS = SAMPLE_RATE // HOP  # 15 feature frames per second
FEATURE_DIM = 28

N_FFT = 2048
PRE_EMPHASIS = 0.97
N_MEL_BANDS = 40
MEL_FMIN = 400.0 / 3.0  # 133.33 Hz: lower edge of the first band
MEL_FMAX = 1000.0 * 6.4 ** (28.0 / 27.0)  # 6855.5 Hz: upper edge of the last band
N_CEPSTRA = 13
MEL_FLOOR = 1e-10
SILENCE_C0 = float(np.sqrt(N_MEL_BANDS) * np.log(MEL_FLOOR))

TARGET_RMS_DBFS = -20.0
PEAK_LIMIT_DBFS = -1.0
SILENCE_RMS_DBFS = -90.0  # RMS below this (about one 16-bit step) counts as silence

ONSET_HOP = HOP // 3  # 490 samples: three onset frames per feature frame
BEAT_HOP = 512  # librosa's default hop for beat tracking (23.2 ms at 22050 Hz)

_READ_BLOCK = 4096  # frames per read: a truncated file loses at most one block
_CHUNK_FRAMES = 4096  # feature frames per FFT batch (bounds memory for big batches)
_FORMATS = "wav, flac, ogg/vorbis/opus, mp3"


# ----------------------------------------------------------------------------- loading


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode `path` to (frames, channels) float32 and its sample rate; AudioError if it can't."""
    import soundfile as sf  # deferred: the GPU timing path runs without soundfile

    try:
        handle = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        return _decode_fallback(path, exc)
    blocks: list[np.ndarray] = []
    with handle:
        file_sr, channels = int(handle.samplerate), int(handle.channels)
        while True:
            try:
                block = handle.read(_READ_BLOCK, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                if not blocks:
                    raise AudioError(f"cannot be decoded as audio: {exc}", path) from exc
                break  # truncated or damaged: keep what decoded before the damage
            if len(block) == 0:
                break
            blocks.append(block)
    data = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
    return data, file_sr


def _decode_fallback(path: Path, first: Exception) -> tuple[np.ndarray, int]:
    """Try librosa's other decoders (audioread: needs ffmpeg for m4a/aac); AudioError if none."""
    import librosa  # deferred: importing librosa takes a second

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, file_sr = librosa.load(path, sr=None, mono=False)
    except Exception as exc:  # librosa raises bare EOFError / NoBackendError with no message
        detail = str(first).split(": ", 1)[-1].rstrip(".")
        raise AudioError(
            f"cannot be decoded as audio: not a readable {_FORMATS} file, or corrupt "
            f"(libsndfile: {detail or type(first).__name__}; "
            f"librosa's fallback: {type(exc).__name__} {exc}".rstrip()
            + ")",
            path,
        ) from exc
    y = np.asarray(y, dtype=np.float32)
    data = y[:, None] if y.ndim == 1 else y.T
    return np.ascontiguousarray(data), int(file_sr)


def _rms_dbfs(y: np.ndarray) -> float:
    """RMS level of `y` in dB relative to full scale (minus infinity for all zeros or no samples)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    return float(20.0 * np.log10(rms)) if rms > 0 else float("-inf")


def loudness_gain(y: np.ndarray) -> float:
    """The single gain `load_audio` applies: RMS to -20 dBFS, peak limited to -1 dBFS."""
    y64 = np.asarray(y, dtype=np.float64)
    rms = float(np.sqrt(np.mean(y64**2))) if y64.size else 0.0
    peak = float(np.max(np.abs(y64))) if y64.size else 0.0
    if rms == 0.0 or peak == 0.0:
        return 1.0
    return min(10 ** (TARGET_RMS_DBFS / 20) / rms, 10 ** (PEAK_LIMIT_DBFS / 20) / peak)


def load_audio(path: str | Path, sr: int = SAMPLE_RATE, normalise: bool = True) -> np.ndarray:
    """Load an audio file as float32 mono at `sr` Hz, loudness-normalised; AudioError if unusable.

    Reads wav, flac, ogg (vorbis, opus) and mp3 with soundfile's libsndfile; other formats go
    through librosa's fallback decoders (m4a/aac need an ffmpeg binary on PATH). Channels are
    averaged to mono, then the signal is resampled to `sr` (soxr, high quality). A truncated file
    loads the samples decoded before the damage (wav and mp3 lose nothing decodable, flac up to
    one 4096-frame block); a file damaged before its first samples is rejected. `normalise`
    applies `loudness_gain` (see the module docstring). Rejected, with the file named: a missing
    path, a directory, an empty or undecodable file, NaN or infinite samples, fewer samples than
    one feature frame (1/15 s) and silence (RMS below -90 dBFS, about one 16-bit step, after
    mixing to mono and resampling).
    """
    path = Path(path)
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(f"sample rate must be a positive integer, got {sr!r}", path)
    if not path.exists():
        raise AudioError("does not exist", path)
    if path.is_dir():
        raise AudioError("is a directory, not an audio file", path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise AudioError(f"cannot be read: {exc.strerror or exc}", path) from exc
    if size == 0:
        raise AudioError("is empty (0 bytes)", path)

    data, file_sr = _decode(path)
    n, channels = data.shape
    if n == 0:
        raise AudioError("holds no audio samples (header only, or damaged before its data)", path)
    if file_sr <= 0:
        raise AudioError(f"declares an invalid sample rate {file_sr}", path)
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise AudioError(f"holds {bad} NaN or infinite sample(s) out of {data.size}", path)

    y = data[:, 0] if channels == 1 else data.mean(axis=1, dtype=np.float64).astype(np.float32)
    if file_sr != sr:
        import librosa  # deferred: importing librosa takes a second

        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
        y = np.asarray(y, dtype=np.float32)

    min_samples = int(np.ceil(sr / FPS))
    if len(y) < min_samples:
        raise AudioError(
            f"is too short: {n} sample(s) at {file_sr} Hz ({n / file_sr:.4f} s); "
            f"need at least 1/{FPS} s ({min_samples} samples at {sr} Hz) for one feature frame",
            path,
        )
    level = _rms_dbfs(y)
    if level < SILENCE_RMS_DBFS:
        where = f" after mixing its {channels} channels to mono" if channels > 1 else ""
        what = "every sample is 0" if level == float("-inf") else f"RMS {level:.1f} dBFS"
        raise AudioError(f"is silent{where} ({what}; below {SILENCE_RMS_DBFS:.0f} dBFS)", path)
    if normalise:
        y = (y.astype(np.float64) * loudness_gain(y)).astype(np.float32)
    return np.ascontiguousarray(y, dtype=np.float32)


# ----------------------------------------------------------------------------- features


def _check_signal(y: np.ndarray, sr: int, what: str, batch: bool = True) -> np.ndarray:
    """Validate a signal (1-D, or 2-D batch if allowed) at the canonical rate; return it as array."""
    if sr != SAMPLE_RATE:
        raise AudioError(
            f"{what} expects mono audio at {SAMPLE_RATE} Hz, got sr={sr}; "
            "load it with load_audio (which resamples) first"
        )
    arr = np.asarray(y)
    ndims = (1, 2) if batch else (1,)
    if arr.ndim not in ndims:
        shape = "(N,) or (B, N)" if batch else "(N,)"
        raise AudioError(f"{what} expects samples of shape {shape}, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise AudioError(f"{what} expects real-valued samples, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise AudioError(f"{what} was given NaN or infinite samples")
    return arr


_MEL_CACHE: dict[tuple[int, float, float, str], np.ndarray] = {}


def _mel_pairs(n_mels: int, fmin: float, fmax: float, dtype: np.dtype) -> np.ndarray:
    """librosa's Slaney mel bank as (2 * 1025, n_mels), each row twice (see `_power_spectrum`)."""
    key = (n_mels, fmin, fmax, np.dtype(dtype).str)
    if key not in _MEL_CACHE:
        import librosa  # deferred: importing librosa takes a second

        fb = librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False
        )
        _MEL_CACHE[key] = np.ascontiguousarray(np.repeat(fb.T, 2, axis=0), dtype=dtype)
    return _MEL_CACHE[key]


def mel_band_edges() -> np.ndarray:
    """The 42 band edge frequencies (Hz) of the feature filter bank: band k peaks at edge k+1."""
    import librosa  # deferred: importing librosa takes a second

    return librosa.mel_frequencies(N_MEL_BANDS + 2, fmin=MEL_FMIN, fmax=MEL_FMAX, htk=False)


def _dct_matrix() -> np.ndarray:
    """Orthonormal DCT-II rows c0..c12 as a (40, 13) matrix to right-multiply log energies."""
    return scipy.fft.dct(np.eye(N_MEL_BANDS), type=2, norm="ortho", axis=0)[:N_CEPSTRA].T


def _frames(arr: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Cut (..., N) samples into non-overlapping frames: (rows, HOP) and the leading shape."""
    n_frames = arr.shape[-1] // HOP
    lead = (*arr.shape[:-1], n_frames)
    cut = arr[..., : n_frames * HOP].reshape(-1, HOP)
    return cut, lead


def _power_spectrum(frames: np.ndarray, window: np.ndarray, emphasis: bool) -> np.ndarray:
    """|rfft|^2 of pre-emphasised (if asked), windowed, zero-padded frames (rows, HOP).

    Returned as interleaved (re^2, im^2) pairs, (rows, 2 * (N_FFT // 2 + 1)), to be multiplied
    by a filter bank whose rows are each repeated twice (`_mel_pairs`): that sums re^2 + im^2 in
    the same matrix product. float32 for ordinary audio; float64 when a sample exceeds 1e4 in
    magnitude, so that very loud input cannot overflow.
    """
    dtype = np.float32 if float(np.max(np.abs(frames), initial=0.0)) <= 1e4 else np.float64
    f = frames.astype(dtype, copy=False)
    x = f * window.astype(dtype)
    if emphasis:
        x[:, 1:] -= (PRE_EMPHASIS * window[1:]).astype(dtype) * f[:, :-1]
    spec = scipy.fft.rfft(x, n=N_FFT, axis=1)
    pairs = spec.view(dtype)
    np.square(pairs, out=pairs)
    return pairs


def _log_mel_rows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log mel energies (rows, 40) and mean raw energies (rows,), float64, chunk by chunk."""
    window = np.hamming(HOP)
    logmel = np.empty((len(frames), N_MEL_BANDS), np.float64)
    energy = np.empty(len(frames), np.float64)
    for start in range(0, len(frames), _CHUNK_FRAMES):
        chunk = frames[start : start + _CHUNK_FRAMES]
        stop = start + len(chunk)
        energy[start:stop] = np.mean(np.square(chunk, dtype=np.float64), axis=1)
        pairs = _power_spectrum(chunk, window, emphasis=True)
        mel = (pairs @ _mel_pairs(N_MEL_BANDS, MEL_FMIN, MEL_FMAX, pairs.dtype)).astype(np.float64)
        logmel[start:stop] = np.log(np.maximum(mel, MEL_FLOOR))
    return logmel, energy


def log_mel(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Log energies of the 40 feature mel bands: (frames, 40) float32, or (B, frames, 40)."""
    arr = _check_signal(y, sr, "log_mel")
    frames, lead = _frames(arr)
    return _log_mel_rows(frames)[0].astype(np.float32).reshape(*lead, N_MEL_BANDS)


def features(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The 28 audio features per 1/15 s frame: (len(y) // HOP, 28) float32, or (B, frames, 28).

    Columns 0-12 are cepstra c0..c12, column 13 is log(1 + mean frame energy), columns 14-27 are
    their forward differences (zero on the last frame). The exact recipe is in the module
    docstring. `y` holds float samples nominally in [-1, 1] (as `load_audio` returns them).
    Vectorised over frames and clips; AudioError if `sr` is not 22050, the shape is
    not (N,) or (B, N), or a sample is NaN or infinite.
    """
    arr = _check_signal(y, sr, "features")
    frames, lead = _frames(arr)
    logmel, energy = _log_mel_rows(frames)
    static = np.empty((len(frames), 14), np.float32)
    static[:, :N_CEPSTRA] = logmel @ _dct_matrix()
    static[:, N_CEPSTRA] = np.log1p(energy)
    static = static.reshape(*lead, 14)
    delta = np.zeros_like(static)
    delta[..., :-1, :] = np.diff(static, axis=-2)
    return np.concatenate([static, delta], axis=-1)


def frame_times(n_frames: int) -> np.ndarray:
    """Start times in seconds of `n_frames` feature frames (frame t starts at t / 15 s)."""
    return np.arange(int(n_frames), dtype=np.float64) * (HOP / SAMPLE_RATE)


def mel_spectrogram(y: np.ndarray, sr: int = SAMPLE_RATE, n_mels: int = 64) -> np.ndarray:
    """A mel spectrogram for plots: (n_mels, len(y) // HOP) float32 in dB below the loudest cell.

    Same frames as the features (non-overlapping 1470 samples, 15 per second), Hann window,
    2048-point FFT, `n_mels` Slaney mel bands from 0 to 11025 Hz, power in dB relative to the
    maximum and clipped at -80 dB (so values lie in [-80, 0]; silence gives all 0).
    """
    arr = _check_signal(y, sr, "mel_spectrogram", batch=False)
    if int(n_mels) < 1:
        raise AudioError(f"mel_spectrogram needs n_mels >= 1, got {n_mels}")
    frames, _ = _frames(arr)
    window = np.hanning(HOP)
    mel = np.empty((len(frames), int(n_mels)), np.float64)
    for start in range(0, len(frames), _CHUNK_FRAMES):
        chunk = frames[start : start + _CHUNK_FRAMES]
        pairs = _power_spectrum(chunk, window, emphasis=False)
        fb = _mel_pairs(int(n_mels), 0.0, SAMPLE_RATE / 2, pairs.dtype)
        mel[start : start + len(chunk)] = pairs @ fb
    amin = 1e-10
    db = 10.0 * np.log10(np.maximum(mel, amin))
    db -= 10.0 * np.log10(max(float(mel.max()) if mel.size else amin, amin))
    return np.maximum(db, -80.0).T.astype(np.float32)


# ----------------------------------------------------------------------------- onsets and beats


def onset_strength(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Onset strength at the feature frame rate: (len(y) // HOP,) float32, 0 for silence.

    librosa's spectral-flux onset envelope (mean over 128 mel bands of the positive change in dB,
    2048-point FFT, centred frames) at a hop of 490 samples (45 per second); feature frame t takes
    the largest of the three onset values whose times fall in [t/15, (t+1)/15).
    """
    arr = _check_signal(y, sr, "onset_strength", batch=False)
    n_frames = len(arr) // HOP
    if n_frames == 0:
        return np.zeros(0, np.float32)
    import librosa  # deferred: importing librosa takes a second

    env = librosa.onset.onset_strength(
        y=arr.astype(np.float32), sr=SAMPLE_RATE, hop_length=ONSET_HOP, n_fft=N_FFT
    )
    need = 3 * n_frames
    if len(env) < need:
        env = np.pad(env, (0, need - len(env)))
    return env[:need].reshape(n_frames, 3).max(axis=1).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Beats:
    """Musical beats: global `tempo` in BPM (librosa's, in steps) and beat `times` in seconds."""

    tempo: float
    times: np.ndarray = field(repr=False)

    @property
    def spacing_tempo(self) -> float:
        """Tempo (BPM) from the mean spacing of the beat times; 0.0 with fewer than 2 beats."""
        if len(self.times) < 2:
            return 0.0
        return float(60.0 * (len(self.times) - 1) / (self.times[-1] - self.times[0]))


def beats(y: np.ndarray, sr: int = SAMPLE_RATE) -> Beats:
    """Track beats with librosa (hop 512 samples): Beats(tempo BPM, times s); silence -> 0, none.

    `tempo` is librosa's global estimate, which comes in steps set by the hop (at 22050 Hz a
    120 BPM clip reads 117.5); `Beats.spacing_tempo` gives the tempo from the beat times instead.
    Half- or double-tempo readings happen on real music. Silence (RMS below -90 dBFS) or a clip
    shorter than one FFT (2048 samples) gives tempo 0.0 and no beats. Any positive `sr` works.
    """
    if not isinstance(sr, int | np.integer | float) or sr <= 0:
        raise AudioError(f"beats needs a positive sample rate, got {sr!r}")
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise AudioError(f"beats expects samples of shape (N,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise AudioError("beats was given NaN or infinite samples")
    empty = np.zeros(0, np.float64)
    empty.setflags(write=False)
    if len(arr) < N_FFT or _rms_dbfs(arr) < SILENCE_RMS_DBFS:
        return Beats(0.0, empty)
    import librosa  # deferred: importing librosa takes a second

    tempo, times = librosa.beat.beat_track(
        y=arr.astype(np.float32), sr=sr, hop_length=BEAT_HOP, units="time"
    )
    times = np.asarray(times, dtype=np.float64)
    times.setflags(write=False)
    return Beats(float(np.atleast_1d(tempo)[0]), times)


# ----------------------------------------------------------------------------- convenience


@dataclass(frozen=True, eq=False)
class AudioAnalysis:
    """One audio file, analysed: samples, duration, features, onset strength and beats."""

    path: Path
    y: np.ndarray = field(repr=False)
    duration: float
    features: np.ndarray = field(repr=False)
    onset: np.ndarray = field(repr=False)
    beats: Beats

    @property
    def times(self) -> np.ndarray:
        """Start times (s) of the feature frames."""
        return frame_times(len(self.features))


def analyse(path: str | Path) -> AudioAnalysis:
    """Load `path` (loudness-normalised, 22050 Hz mono) and compute features, onsets and beats."""
    y = load_audio(path)
    return AudioAnalysis(
        path=Path(path),
        y=y,
        duration=len(y) / SAMPLE_RATE,
        features=features(y),
        onset=onset_strength(y),
        beats=beats(y),
    )


def save_wav(path: str | Path, y: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Write mono samples in [-1, 1] as a 16-bit PCM wav file, atomically; returns the path."""

    arr = np.asarray(y, dtype=np.float32)
    if arr.ndim != 1:
        raise AudioError(f"save_wav expects samples of shape (N,), got shape {arr.shape}", path)
    if not np.all(np.isfinite(arr)):
        raise AudioError("save_wav was given NaN or infinite samples", path)
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(f"save_wav needs a positive integer sample rate, got {sr!r}", path)
    import soundfile as sf  # deferred: the GPU timing path runs without soundfile

    buf = io.BytesIO()
    sf.write(buf, np.clip(arr, -1.0, 1.0), int(sr), format="WAV", subtype="PCM_16")
    path = Path(path)
    write_bytes(path, buf.getvalue())
    return path
