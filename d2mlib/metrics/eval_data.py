"""What an evaluation reads: the evaluated music with its real dances and beats, the reference
dances, and the training material the baselines draw from.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from d2mlib import skeleton
from d2mlib.beats import BAS_SIGMA, HIT_TOLERANCE, KIN_MIN_MOTION, KIN_SMOOTHING, music_beat_times
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError, MetricError
from d2mlib.metrics.classifier import DanceClassifierConfig
from d2mlib.validate import check_times, metric_error


@dataclass(frozen=True)
class EvalConfig:
    """What `evaluate` scores and with which metric parameters."""

    split: str = "test"  # the music (and real dances) evaluated
    reference_split: str = "train"  # the real set FID and feature normalisation compare against
    samples_per_music: int = 5  # dances per piece of music for multimodality
    multimodality_clips: int = 20  # pieces of music used for multimodality
    max_clips: int | None = None  # cap on the evaluated clips (smoke runs)
    fps: float = skeleton.FPS
    tolerance: float = HIT_TOLERANCE
    sigma: float = BAS_SIGMA
    smoothing: int = KIN_SMOOTHING
    min_motion: float = KIN_MIN_MOTION
    music_beats: str = (
        "librosa"  # "librosa": track the clip's audio; "meta": meta.json's beat_times
    )
    classifier: DanceClassifierConfig = dataclasses.field(default_factory=DanceClassifierConfig)

    def __post_init__(self) -> None:
        if self.samples_per_music < 2:
            raise ConfigError(
                f"EvalConfig.samples_per_music must be >= 2, got {self.samples_per_music}"
            )
        if self.music_beats not in ("librosa", "meta"):
            raise ConfigError(
                f"EvalConfig.music_beats must be 'librosa' or 'meta', got {self.music_beats!r}"
            )
        if self.multimodality_clips < 1:
            raise ConfigError(
                f"EvalConfig.multimodality_clips must be >= 1, got {self.multimodality_clips}"
            )


@dataclass
class EvalData:
    """The music to dance to, its real dances, and the training material the baselines draw on."""

    styles: np.ndarray  # (N,) style index of each evaluated piece of music
    dances: list[np.ndarray]  # the real dance of each piece (T_i, 14, 2)
    audio: list[np.ndarray]  # raw audio features (frames, 28) of each piece
    music_beats: list[np.ndarray | None]  # beat times (s) per piece; None: no audio to track
    wav_paths: list[Path | None]
    reference: list[np.ndarray]  # real dances of the reference split
    train_dances: list[np.ndarray]  # real dances of the training split (retrieval)
    train_audio: list[np.ndarray]
    train_units: np.ndarray  # (U, 32, 14, 2) training units (random-units baseline)
    audio_mean: np.ndarray
    audio_std: np.ndarray
    true_beats: list[np.ndarray | None] | None = None  # the world's beats (meta.json), if known
    train_styles: np.ndarray | None = None  # (len(train_dances),) style index of each


def _clip_dances(
    store: FeatureStore, split: str
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Real dances (the clip's units in order, concatenated), styles and clip rows of a split."""
    units, clips = store.units_table, store.clips_table
    by_clip: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    keys = zip(units["style"], units["video"], units["clip"], units["k"].to_numpy(), strict=True)
    for r, (style, video, clip, k) in enumerate(keys):
        by_clip.setdefault((style, video, clip), []).append((int(k), r))
    dances, keep = [], []
    for i in store.clip_indices(split):
        key = (clips["style"].iloc[i], clips["video"].iloc[i], clips["clip"].iloc[i])
        parts = sorted(by_clip.get(key, []))
        if parts:
            dances.append(np.concatenate([store.pool[r] for _, r in parts]).astype(np.float64))
            keep.append(i)
    keep_arr = np.asarray(keep, dtype=np.int64)
    return dances, store.clip_style[keep_arr], keep_arr


def _wav_of(feature_path: str) -> Path | None:
    path = Path(feature_path)
    wav = path.with_name(path.name.replace("_fps15.npy", ".wav"))
    return wav if wav.is_file() else None


def meta_beats(feature_path: str) -> np.ndarray | None:
    """The synthetic world's ground-truth beat times (meta.json beside the clip's aud/ folder)."""
    meta = Path(feature_path).parent.parent / "meta.json"
    if not meta.is_file():
        return None
    try:
        times = json.loads(meta.read_text(encoding="utf-8"))["beat_times"]
    except (OSError, ValueError, KeyError) as exc:
        raise MetricError(f"unreadable beat_times ({exc})", meta) from exc
    return check_times(np.asarray(times, dtype=np.float64), str(meta))


def load_eval_data(data_dir: str | Path, config: EvalConfig | None = None) -> EvalData:
    """Read the evaluated music, its real dances and the baselines' training material."""

    config = config or EvalConfig()
    store = FeatureStore.open(data_dir)
    dances, styles, rows = _clip_dances(store, config.split)
    if config.max_clips is not None:  # a style-balanced subset, not the first (one-style) clips
        keep = balanced_order(styles, config.max_clips)
        dances, styles, rows = [dances[i] for i in keep], styles[keep], rows[keep]
    if not dances:
        raise metric_error(f"no clips with dances in split {config.split!r} of {data_dir}")
    wavs = [_wav_of(store.clips_table["audio"].iloc[i]) for i in rows]
    truth = [meta_beats(store.clips_table["audio"].iloc[i]) for i in rows]
    if config.music_beats == "meta":
        beats = truth
    else:
        beats = [None if w is None else music_beat_times(w) for w in wavs]
    reference, _, _ = _clip_dances(store, config.reference_split)
    train, train_styles, train_rows = _clip_dances(store, "train")
    if not reference or not train:
        raise metric_error(
            f"no real dances in the {config.reference_split!r} or 'train' split of {data_dir}"
        )
    return EvalData(
        styles=np.asarray(styles, dtype=np.int64),
        dances=dances,
        audio=[np.asarray(store.clip_audio(int(i)), dtype=np.float32) for i in rows],
        music_beats=beats,
        wav_paths=wavs,
        reference=reference,
        train_dances=train,
        train_audio=[np.asarray(store.clip_audio(int(i)), dtype=np.float32) for i in train_rows],
        train_units=np.asarray(store.units("train"), dtype=np.float64),
        audio_mean=np.asarray(store.audio_mean, dtype=np.float64),
        audio_std=np.asarray(store.audio_std, dtype=np.float64),
        true_beats=truth if any(t is not None for t in truth) else None,
        train_styles=np.asarray(train_styles, dtype=np.int64),
    )


def balanced_order(styles: np.ndarray, n: int | None = None) -> np.ndarray:
    """Positions of up to `n` items taken round-robin over styles (first of each style, then
    the second of each, ...), each style in its original order: a capped subset stays balanced."""
    st = np.asarray(styles)
    if st.ndim != 1:
        raise metric_error(f"balanced_order: expected 1-D style labels, got {st.shape}")
    rank = np.zeros(st.size, dtype=np.int64)
    for value in np.unique(st):
        where = np.flatnonzero(st == value)
        rank[where] = np.arange(where.size)
    order = np.lexsort((np.arange(st.size), rank))
    return order if n is None else order[: max(int(n), 0)]
