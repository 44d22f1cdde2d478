"""Reading a dataset in the original layout: the clip and unit index, train/val/test split by
video, and summary tables (counts, tempi, meta).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib import audio
from d2mlib.config import STYLES
from d2mlib.data.layout import (
    AUDIO_DIM,
    SEQ_LENGTHS,
    SPLITS,
    STATS_DIR,
    STATS_FILES,
    _strip_data_prefix,
    dataset_styles,
    list_file,
)
from d2mlib.errors import ConfigError, DataError
from d2mlib.skeleton import NUM_JOINTS, POSE_DIM, UNIT_FRAMES, Normaliser


@dataclass
class DatasetIndex:
    """The tables of a dataset: units, sequences and clips, each with its split."""

    data_dir: Path
    units: pd.DataFrame  # path, style, video, clip, k, split
    sequences: pd.DataFrame  # path, n, style, video, clip, k, split
    clips: pd.DataFrame  # style, video, clip, audio, frames, split
    stats: dict[str, np.ndarray] = field(repr=False)
    list_files: list[Path] = field(repr=False)
    styles: tuple[str, ...] = STYLES  # label order (layout.dataset_styles)

    @property
    def pose_normaliser(self) -> Normaliser:
        """Pose normaliser from stats/all_onbeat_{mean,std}.npy."""
        return Normaliser(self.stats["all_onbeat_mean"], self.stats["all_onbeat_std"])

    @property
    def audio_mean(self) -> np.ndarray:
        """Per-feature audio mean (28,)."""
        return self.stats["all_aud_mean"]

    @property
    def audio_std(self) -> np.ndarray:
        """Per-feature audio std (28,)."""
        return self.stats["all_aud_std"]


def split_by_video(
    videos: pd.DataFrame,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> pd.Series:
    """Assign each (style, video) row to "train", "val" or "test", deterministically.

    Per style, the distinct videos (sorted by name) are permuted by a generator seeded
    from `seed` and the style name, then cut ~80/10/10. A style with >= 3 videos has at
    least one video in each split; with 2 videos: train and test; with 1: train. Returns a
    Series aligned with `videos`' rows.
    """
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ConfigError(f"fractions must be three non-negative numbers, got {fractions}")
    f_val, f_test = fractions[1] / sum(fractions), fractions[2] / sum(fractions)
    assign: dict[tuple[str, str], str] = {}
    for style in sorted(set(videos["style"])):
        names = sorted(set(videos.loc[videos["style"] == style, "video"]))
        n = len(names)
        rng = np.random.default_rng([seed, zlib.crc32(style.encode())])
        order = [names[i] for i in rng.permutation(n)]
        if n >= 3:
            n_test = max(1, round(n * f_test))
            n_val = max(1, round(n * f_val))
            n_train = max(1, n - n_val - n_test)
            n_val = n - n_train - n_test
            labels = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
        else:
            labels = ["train", "test"][:n]
        assign.update({(style, v): lab for v, lab in zip(order, labels, strict=True)})
    return pd.Series(
        [assign[(s, v)] for s, v in zip(videos["style"], videos["video"], strict=True)],
        index=videos.index,
        name="split",
    )


def _read_list(path: Path, data_dir: Path, style: str, folder: str) -> list[dict[str, Any]]:
    """Rows (path, style, video, clip, k) of one unit list; DataError naming the file if bad."""
    if not path.is_file():
        raise DataError("unit list is missing", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"unreadable unit list ({exc})", path) from exc
    rows = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        rel = _strip_data_prefix(line)
        parts = Path(rel).parts
        if len(parts) < 5 or parts[-2] != folder or not parts[-1].endswith(".npy"):
            raise DataError(
                f"line {lineno}: {line!r} is not .../{{video}}/{{clip}}/{folder}/{{k}}.npy", path
            )
        try:
            k = int(Path(parts[-1]).stem)
        except ValueError as exc:
            raise DataError(f"line {lineno}: {line!r} has no integer index", path) from exc
        full = Path(rel) if Path(rel).is_absolute() else data_dir / rel
        rows.append(
            {
                "path": str(full),
                "style": style,
                "video": parts[-4],
                "clip": parts[-3],
                "k": k,
            }
        )
    if not rows:
        raise DataError("unit list is empty", path)
    return rows


def _load_stat(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError("statistics file is missing", path)
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable statistics file ({exc})", path) from exc
    value = np.asarray(value, dtype=np.float32).reshape(-1)
    if value.size != POSE_DIM:
        raise DataError(f"statistics file holds {value.size} values, expected {POSE_DIM}", path)
    if not np.all(np.isfinite(value)):
        raise DataError("statistics file holds NaN or infinite values", path)
    if path.stem.endswith("_std") and not np.all(value > 0):
        raise DataError("standard deviations must be positive", path)
    return value


def _load_array(path: str | Path, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Load a float array of the given shape (poses may be (..., 28) or (..., 14, 2))."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"unreadable {what} ({exc})", path) from exc
    if arr.shape != shape:
        if arr.size == int(np.prod(shape)) and arr.shape[:-1] + (arr.shape[-1] // 2, 2) == shape:
            arr = arr.reshape(shape)
        else:
            raise DataError(f"{what} has shape {arr.shape}, expected {shape}", path)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{what} has non-numeric dtype {arr.dtype}", path)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{what} holds NaN or infinite values", path)
    return arr.astype(np.float32, copy=False)


def _audio_frames(path: Path) -> int:
    """Number of frames of an audio feature file, read from its header; checks its width."""
    if not path.is_file():
        raise DataError("audio features file is missing", path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"unreadable audio features ({exc})", path) from exc
    if arr.ndim != 2 or arr.shape[1] != AUDIO_DIM:
        raise DataError(f"audio features have shape {arr.shape}, expected (frames, 28)", path)
    return int(arr.shape[0])


def _load_audio(path: str | Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"unreadable audio features ({exc})", path) from exc
    if arr.ndim != 2 or arr.shape[1] != AUDIO_DIM:
        raise DataError(f"audio features have shape {arr.shape}, expected (frames, 28)", path)
    if not np.all(np.isfinite(arr)):
        raise DataError("audio features hold NaN or infinite values", path)
    return arr.astype(np.float32, copy=False)


def read_dataset(
    data_dir: str | Path, check_arrays: bool = True, split_seed: int = 0
) -> DatasetIndex:
    """Read the unit lists, stats and audio headers of a dataset into tables with splits.

    Raises DataError naming the file for: a missing or empty list file, a listed path that
    does not exist, missing or malformed stats, a missing audio file or one of the wrong
    width; with `check_arrays` also for a unit or sequence of the wrong shape, NaN
    keypoints and NaN audio features (this loads every file once).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError("data directory does not exist", data_dir)
    units: list[dict[str, Any]] = []
    seqs: list[dict[str, Any]] = []
    lists: list[Path] = []
    styles = dataset_styles(data_dir)
    for style in styles:
        path = list_file(data_dir, style, "unit")
        units += _read_list(path, data_dir, style, "unit")
        lists.append(path)
        for n in SEQ_LENGTHS:
            path = list_file(data_dir, style, f"unitseq{n}")
            seqs += [dict(r, n=n) for r in _read_list(path, data_dir, style, f"seq{n}")]
            lists.append(path)
    stats = {name: _load_stat(data_dir / STATS_DIR / f"{name}.npy") for name in STATS_FILES}
    for row in units + seqs:
        if not os.path.isfile(row["path"]):
            raise DataError("listed file does not exist", row["path"])

    unit_df = pd.DataFrame(units, columns=["path", "style", "video", "clip", "k"])
    seq_df = pd.DataFrame(seqs, columns=["path", "n", "style", "video", "clip", "k"])
    keys = pd.concat([unit_df[["style", "video", "clip"]], seq_df[["style", "video", "clip"]]])
    clip_df = keys.drop_duplicates().reset_index(drop=True)
    clip_dir: dict[tuple[str, str, str], Path] = {}
    for row in units + seqs:  # the clip's folder is where its units are listed
        clip_dir.setdefault((row["style"], row["video"], row["clip"]), Path(row["path"]).parents[1])
    clip_df["audio"] = [
        str(clip_dir[(s, v, c)] / "aud" / f"c{c}_fps15.npy")
        for s, v, c in zip(clip_df["style"], clip_df["video"], clip_df["clip"], strict=True)
    ]
    clip_df["frames"] = [_audio_frames(Path(p)) for p in clip_df["audio"]]
    clip_df["split"] = split_by_video(clip_df, seed=split_seed)
    split_of = {
        (s, v): sp
        for s, v, sp in zip(clip_df["style"], clip_df["video"], clip_df["split"], strict=True)
    }
    for df in (unit_df, seq_df):
        df["split"] = [split_of[(s, v)] for s, v in zip(df["style"], df["video"], strict=True)]
    if check_arrays:
        for p in unit_df["path"]:
            _load_array(p, (UNIT_FRAMES, NUM_JOINTS, 2), "dance unit")
        for p, n in zip(seq_df["path"], seq_df["n"], strict=True):
            _load_array(p, (n, UNIT_FRAMES, NUM_JOINTS, 2), f"{n}-unit sequence")
        for p in clip_df["audio"]:
            _load_audio(p)
    return DatasetIndex(data_dir, unit_df, seq_df, clip_df, stats, lists, styles)


def dataset_counts(index: DatasetIndex) -> pd.DataFrame:
    """Videos, clips, units, sequences, audio minutes and clips per split, by style (plus a total)."""
    clips, units, seqs = index.clips, index.units, index.sequences
    table = pd.DataFrame(
        {
            "videos": clips.groupby("style")["video"].nunique(),
            "clips": clips.groupby("style").size(),
            "units": units.groupby("style").size(),
            "seq3": seqs[seqs["n"] == 3].groupby("style").size(),
            "seq4": seqs[seqs["n"] == 4].groupby("style").size(),
            "audio minutes": clips.groupby("style")["frames"].sum() / (15 * 60),
        }
    )
    for split in SPLITS:
        table[f"{split} clips"] = clips[clips["split"] == split].groupby("style").size()
    table = table.reindex([s for s in index.styles if s in table.index]).fillna(0)
    table.loc["all"] = table.sum()
    ints = [c for c in table.columns if c != "audio minutes"]
    table[ints] = table[ints].astype(int)
    table["audio minutes"] = table["audio minutes"].round(1)
    table.index.name = "style"
    return table


def tracked_tempi(index: DatasetIndex, max_clips: int | None = None) -> pd.DataFrame:
    """Tempo (BPM) that librosa's beat tracker reads from each clip's .wav, where one exists."""

    rows = []
    per_style = None if max_clips is None else -(-max_clips // len(index.styles))
    clips = index.clips.groupby("style", sort=False).head(per_style) if per_style else index.clips
    for clip in clips.itertuples(index=False):
        wav = Path(clip.audio).with_name(Path(clip.audio).name.replace("_fps15.npy", ".wav"))
        if wav.is_file():
            tempo = audio.beats(audio.load_audio(wav)).tempo
            rows.append(
                {"style": clip.style, "video": clip.video, "clip": clip.clip, "tempo": tempo}
            )
    return pd.DataFrame(rows, columns=["style", "video", "clip", "tempo"])


def read_meta(index: DatasetIndex) -> pd.DataFrame:
    """One row per clip of a synthetic dataset: tempo, meter, key, borrowed traits (empty otherwise)."""
    rows = []
    for clip in index.clips.itertuples(index=False):
        path = Path(clip.audio).parent.parent / "meta.json"
        if not path.is_file():
            continue
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"unreadable clip metadata ({exc})", path) from exc
        borrowed = meta.get("borrowed") or {}
        rows.append(
            {
                "style": clip.style,
                "video": clip.video,
                "clip": clip.clip,
                "split": clip.split,
                "tempo": float(meta.get("tempo", np.nan)),
                "meter": meta.get("meter"),
                "key": meta.get("key"),
                "borrowed": ",".join(f"{k} from {v}" for k, v in sorted(borrowed.items())),
                "n_beats": len(meta.get("beat_times", [])),
            }
        )
    columns = ["style", "video", "clip", "split", "tempo", "meter", "key", "borrowed", "n_beats"]
    return pd.DataFrame(rows, columns=columns)
