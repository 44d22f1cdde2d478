"""The dataset on disk (the original layout), its packed feature store, and the torch loaders.

Layout (the original Dancing2Music data's, which the synthetic world also writes)::

    unitList/{style}_unit.txt       "data/{style}/{video}/{clip}/unit/{k}.npy"  (32, 14, 2) float32
    unitList/{style}_unitseq3.txt   "data/{style}/{video}/{clip}/seq3/{k}.npy"  (3, 32, 14, 2)
    unitList/{style}_unitseq4.txt   "data/{style}/{video}/{clip}/seq4/{k}.npy"  (4, 32, 14, 2)
    {style}/{video}/{clip}/aud/c{clip}_fps15.npy   (frames, 28) audio features at 15 fps
    {style}/{video}/{clip}/aud/c{clip}.wav         synthetic only: mono 22050 Hz 16-bit PCM
    {style}/{video}/{clip}/meta.json               synthetic only: tempo, beat times, ...
    stats/all_onbeat_{mean,std}.npy, stats/all_aud_{mean,std}.npy   (28,) each

Unit k of a clip covers frames [32k, 32k + 32) of the clip's audio features; sequence
seq{n}/{k} holds units k .. k+n-1.

Reading many small .npy files per batch is what made the original loaders slow, so the
`FeatureStore` packs every unit and every audio frame once into two contiguous arrays that
the loaders memory-map and gather whole batches from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from d2mlib._io import save_npy, write_text
from d2mlib.errors import ConfigError, DataError
from d2mlib.skeleton import NUM_JOINTS, POSE_DIM, UNIT_FRAMES, Normaliser

STYLES: tuple[str, ...] = ("ballet", "zumba", "hiphop")
STYLE_INDEX: dict[str, int] = {s: i for i, s in enumerate(STYLES)}
AUDIO_DIM = 28
SEQ_LENGTHS: tuple[int, ...] = (3, 4)
SPLITS: tuple[str, ...] = ("train", "val", "test")
LIST_DIR = "unitList"
STATS_DIR = "stats"
STATS_FILES: tuple[str, ...] = (
    "all_onbeat_mean",
    "all_onbeat_std",
    "all_aud_mean",
    "all_aud_std",
)
MARKER = ".d2m_complete.json"  # written last by write_dataset: the dataset is complete
WRITING = ".d2m_writing.json"  # present while write_dataset runs
STORE_NAME = ".d2m_store"
STYLES_FILE = "styles.txt"  # a dataset of other styles lists their names here, in label order
STORE_VERSION = 1
JITTER_PIXELS = (50.0, 20.0)  # the original's random translation: x +-50 px, y +-20 px
_SAMPLE_RATE = 22050  # d2mlib.audio.SAMPLE_RATE, repeated so reading needs no librosa import


# --------------------------------------------------------------------------- paths


def default_data_dir(preset: str = "book") -> Path:
    """The data directory: $D2M_DATA if set, else ./data/<preset>."""
    env = os.environ.get("D2M_DATA")
    if env:
        return Path(env)
    return Path("data") / preset


def _strip_data_prefix(line: str) -> str:
    """Drop the original lists' leading "data/" (or "./data/") from a path."""
    for prefix in ("./data/", "data/"):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return line


def dataset_styles(data_dir: str | Path) -> tuple[str, ...]:
    """The style names of a dataset in label order: its styles.txt (one a line), else STYLES."""
    path = Path(data_dir) / STYLES_FILE
    if not path.is_file():
        return STYLES
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"unreadable style list ({exc})", path) from exc
    names = tuple(n for n in names if n)
    if not names or len(set(names)) != len(names) or any("/" in n for n in names):
        raise DataError(f"style list must name distinct styles, got {list(names)}", path)
    return names


def list_file(data_dir: str | Path, style: str, kind: str) -> Path:
    """Path of a unit list: kind is "unit", "unitseq3" or "unitseq4"."""
    return Path(data_dir) / LIST_DIR / f"{style}_{kind}.txt"


def audio_path(data_dir: str | Path, style: str, video: str, clip: str) -> Path:
    """Path of a clip's audio features (frames, 28) at 15 fps."""
    return Path(data_dir) / style / video / clip / "aud" / f"c{clip}_fps15.npy"


# --------------------------------------------------------------------------- writer


class _Moments:
    """Running mean and variance of D-vectors, merged batch by batch (Chan et al.), in float64."""

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.mean.size)
        if x.shape[0] == 0:
            return
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.n * n_b / n)
        self.n = n

    def std(self, floor: float) -> np.ndarray:
        return np.maximum(np.sqrt(self.m2 / max(self.n, 1)), floor)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _wav_bytes(wav: np.ndarray, sr: int) -> bytes:
    """Mono 16-bit PCM WAV file contents."""
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.clip(wav, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _read_marker(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable dataset marker ({exc})", path) from exc
    if not isinstance(data, dict):
        raise DataError("dataset marker is not a JSON object", path)
    return data


def _check_target(out: Path, preset: str, seed: int) -> None:
    """Refuse to write into a directory holding another preset/seed or a foreign dataset."""
    for name in (MARKER, WRITING):
        marker = _read_marker(out / name)
        if marker is not None and (marker.get("preset"), marker.get("seed")) != (preset, seed):
            raise DataError(
                f"holds the synthetic dataset preset={marker.get('preset')!r} "
                f"seed={marker.get('seed')!r}; refusing to write preset={preset!r} seed={seed!r} "
                "over it (choose another directory or delete it)",
                out / name,
            )
        if marker is not None:
            return
    if (out / LIST_DIR).exists():
        raise DataError(
            "holds a dataset that d2mlib did not write (no marker); refusing to overwrite it",
            out / LIST_DIR,
        )


def _clip_files(clip: Any, feats: np.ndarray, units_per_clip: int) -> list[tuple[str, bytes]]:
    """(relative path, contents) of every file of one clip, in a fixed order."""
    base = f"{clip.style}/{clip.video}/{clip.clip}"
    poses = np.ascontiguousarray(clip.poses, dtype=np.float32)
    units = poses[: units_per_clip * UNIT_FRAMES].reshape(
        units_per_clip, UNIT_FRAMES, NUM_JOINTS, 2
    )
    files: list[tuple[str, bytes]] = []
    for k in range(units_per_clip):
        files.append((f"{base}/unit/{k}.npy", _npy_bytes(units[k])))
    for n in SEQ_LENGTHS:
        for k in range(units_per_clip - n + 1):
            files.append((f"{base}/seq{n}/{k}.npy", _npy_bytes(units[k : k + n])))
    files.append((f"{base}/aud/c{clip.clip}_fps15.npy", _npy_bytes(feats.astype(np.float32))))
    meta = dict(clip.meta)
    meta.update(
        style=clip.style,
        video=clip.video,
        clip=clip.clip,
        tempo=float(clip.tempo),
        beat_times=np.asarray(clip.beat_times, dtype=np.float64),
        frames=int(poses.shape[0]),
        fps=15,
        sample_rate=_SAMPLE_RATE,
        units=units_per_clip,
    )
    text = json.dumps(meta, sort_keys=True, indent=1, default=_json_default)
    files.append((f"{base}/meta.json", text.encode("utf-8")))
    return files


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _write_unsynced(path: Path, data: bytes) -> None:
    """Write by rename (a reader never sees a half-written file) without a per-file fsync.

    d2mlib._io fsyncs every file, which for the ~20,000 files of the book preset costs
    about a minute; write_dataset instead syncs once (os.sync) before its marker.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _process_batch(
    out: str, clips: list[Any], units_per_clip: int
) -> tuple[list[tuple[str, str, str]], np.ndarray, np.ndarray, int]:
    """Compute features for a batch of clips and write their files.

    Returns (style, video, clip) per clip, the pose vectors and audio frames for the
    statistics, and the bytes written.
    """
    from d2mlib import audio

    out_dir = Path(out)
    nbytes = 0
    signals = []
    for clip in clips:  # the features are those of the wav file as any reader loads it
        wav = out_dir / clip.style / clip.video / clip.clip / "aud" / f"c{clip.clip}.wav"
        data = _wav_bytes(clip.wav, _SAMPLE_RATE)
        _write_unsynced(wav, data)
        nbytes += len(data)
        signals.append(audio.load_audio(wav))
    if len({len(y) for y in signals}) == 1:
        feats = list(audio.features(np.stack(signals)))
    else:
        feats = [audio.features(y) for y in signals]
    keys = []
    for clip, f in zip(clips, feats, strict=True):
        frames = np.asarray(clip.poses).shape[0]
        if f.shape != (frames, AUDIO_DIM) or not np.all(np.isfinite(f)):
            raise DataError(
                f"audio features of clip {clip.style}/{clip.video}/{clip.clip} have shape "
                f"{f.shape} (want ({frames}, {AUDIO_DIM})) or non-finite values",
                out_dir,
            )
        for rel, data in _clip_files(clip, f, units_per_clip):
            _write_unsynced(out_dir / rel, data)
            nbytes += len(data)
        keys.append((clip.style, clip.video, clip.clip))
    poses = np.concatenate(
        [np.asarray(c.poses, np.float32)[: units_per_clip * UNIT_FRAMES] for c in clips]
    )
    return keys, poses.reshape(-1, POSE_DIM), np.concatenate(feats), nbytes


def write_dataset(
    out_dir: str | Path,
    preset: str = "book",
    seed: int = 0,
    progress: bool = True,
    workers: int = 2,
) -> dict[str, Any]:
    """Generate a synthetic dataset with d2mlib.synth and write it in the original layout.

    Each clip's audio features are d2mlib.audio.features of its written .wav file as
    d2mlib.audio.load_audio reads it (16-bit, loudness-normalised), so features of a
    reader's own music file are computed the same way.
    Every file is written atomically (write to a temporary name, then rename; one os.sync
    at the end instead of one fsync per file); the marker file (preset and seed) is written
    last. Writing into a directory that already holds the same preset and seed rewrites it
    (byte-identical); a directory holding another preset/seed, or a dataset d2mlib did not
    write, raises DataError. With `workers` > 1 the main process generates clips while a
    process pool computes features and writes them; the bytes are the same either way.
    Returns a summary (counts per style, bytes, seconds).
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    _check_target(out, preset, seed)

    from tqdm.auto import tqdm

    from d2mlib import synth

    config = dataclasses.replace(synth.synth_preset(preset), seed=seed)
    units_per_clip = int(config.units_per_clip)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)
    stamp = json.dumps({"preset": preset, "seed": seed}, sort_keys=True) + "\n"
    write_text(out / WRITING, stamp)

    keys: list[tuple[str, str, str]] = []
    pose_stats, aud_stats = _Moments(POSE_DIM), _Moments(AUDIO_DIM)
    nbytes = 0
    total = getattr(config, "clips_per_style", None)
    bar = tqdm(
        total=None if total is None else total * len(STYLES),
        desc=f"writing {preset}",
        unit="clip",
        disable=not progress,
    )

    def consume(result: tuple[list[tuple[str, str, str]], np.ndarray, np.ndarray, int]) -> None:
        nonlocal nbytes
        k, poses, feats, b = result
        keys.extend(k)
        pose_stats.add(poses)
        aud_stats.add(feats)
        nbytes += b
        bar.update(len(k))

    try:
        if workers <= 1:
            for batch in synth.generate_clips(config):
                consume(_process_batch(str(out), batch, units_per_clip))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                pending = []
                for batch in synth.generate_clips(config):
                    pending.append(pool.submit(_process_batch, str(out), batch, units_per_clip))
                    while len(pending) > 2 * workers:
                        consume(pending.pop(0).result())
                for fut in pending:
                    consume(fut.result())
    finally:
        bar.close()

    lines: dict[tuple[str, str], list[str]] = {}
    for style in STYLES:
        for kind in ("unit", "unitseq3", "unitseq4"):
            lines[(style, kind)] = []
    for style, video, clip in keys:
        base = f"data/{style}/{video}/{clip}"
        lines[(style, "unit")] += [f"{base}/unit/{k}.npy" for k in range(units_per_clip)]
        for n in SEQ_LENGTHS:
            lines[(style, f"unitseq{n}")] += [
                f"{base}/seq{n}/{k}.npy" for k in range(units_per_clip - n + 1)
            ]
    for (style, kind), rows in lines.items():
        text = "".join(f"{r}\n" for r in rows)
        write_text(list_file(out, style, kind), text)
        nbytes += len(text)
    stats = {
        "all_onbeat_mean": pose_stats.mean,
        "all_onbeat_std": pose_stats.std(1e-3),
        "all_aud_mean": aud_stats.mean,
        "all_aud_std": aud_stats.std(1e-6),
    }
    for name, value in stats.items():
        save_npy(out / STATS_DIR / f"{name}.npy", value.astype(np.float32))
        nbytes += 128 + 4 * value.size
    os.sync()  # every clip file reaches the disk before the marker says "complete"
    (out / WRITING).unlink(missing_ok=True)
    write_text(out / MARKER, stamp)

    clips = {s: sum(1 for k in keys if k[0] == s) for s in STYLES}
    return {
        "preset": preset,
        "seed": seed,
        "data_dir": str(out),
        "clips": clips,
        "units": {s: len(lines[(s, "unit")]) for s in STYLES},
        "sequences": {s: {n: len(lines[(s, f"unitseq{n}")]) for n in SEQ_LENGTHS} for s in STYLES},
        "videos": {s: len({k[1] for k in keys if k[0] == s}) for s in STYLES},
        "audio_frames": int(aud_stats.n),
        "bytes": int(nbytes),
        "seconds": time.perf_counter() - t0,
    }


def dataset_complete(data_dir: str | Path) -> dict[str, Any] | None:
    """The marker (preset, seed) of a complete synthetic dataset, or None."""
    return _read_marker(Path(data_dir) / MARKER)


def ensure_dataset(
    data_dir: str | Path, preset: str = "book", seed: int = 0, progress: bool = True
) -> Path:
    """Write the synthetic dataset into `data_dir` unless it is already complete; return the dir.

    A directory with unit lists but no d2mlib marker (the original data, e.g. via $D2M_DATA)
    is used as it is. A complete dataset of another preset/seed raises DataError.
    """
    data_dir = Path(data_dir)
    marker = dataset_complete(data_dir)
    if marker is not None:
        if (marker.get("preset"), marker.get("seed")) != (preset, seed):
            raise DataError(
                f"holds preset={marker.get('preset')!r} seed={marker.get('seed')!r}, "
                f"not preset={preset!r} seed={seed!r}",
                data_dir / MARKER,
            )
        return data_dir
    if (data_dir / LIST_DIR).is_dir() and not (data_dir / WRITING).exists():
        return data_dir
    write_dataset(data_dir, preset=preset, seed=seed, progress=progress)
    return data_dir


# --------------------------------------------------------------------------- reader


@dataclass
class DatasetIndex:
    """The tables of a dataset: units, sequences and clips, each with its split."""

    data_dir: Path
    units: pd.DataFrame  # path, style, video, clip, k, split
    sequences: pd.DataFrame  # path, n, style, video, clip, k, split
    clips: pd.DataFrame  # style, video, clip, audio, frames, split
    stats: dict[str, np.ndarray] = field(repr=False)
    list_files: list[Path] = field(repr=False)
    styles: tuple[str, ...] = STYLES  # label order (dataset_styles)

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


# --------------------------------------------------------------------------- feature store


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
    from d2mlib import audio

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


class _StaleStore(Exception):
    """The packed store is missing, truncated or built from other sources."""


def _fingerprint(index: DatasetIndex) -> str:
    """Hash of the list files, the stats and the sizes/mtimes of every source file."""
    h = hashlib.sha256(f"d2m-store-v{STORE_VERSION}\n".encode())
    for path in index.list_files:
        h.update(f"{path.name}\n".encode())
        h.update(path.read_bytes())
    for name in STATS_FILES:
        h.update((index.data_dir / STATS_DIR / f"{name}.npy").read_bytes())
    prefix = str(index.data_dir) + os.sep
    for p in [*index.units["path"], *index.sequences["path"], *index.clips["audio"]]:
        st = os.stat(p)
        rel = p[len(prefix) :] if p.startswith(prefix) else p  # same store from any cwd
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


_STORE_ARRAYS = ("pool", "audio", "seq_rows", "unit_rows", "audio_offsets")


def _build_store(index: DatasetIndex, fingerprint: str, store_dir: Path) -> None:
    """Pack the dataset into a temporary directory, then rename it to `store_dir`."""
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.build-", dir=store_dir.parent))
    try:
        n_units = len(index.units)
        pool = [
            np.empty((n_units, UNIT_FRAMES, NUM_JOINTS, 2), dtype=np.float32),
        ]
        for i, p in enumerate(index.units["path"]):
            pool[0][i] = _load_array(p, (UNIT_FRAMES, NUM_JOINTS, 2), "dance unit")
        unit_row = {
            (s, v, c, int(k)): i
            for i, (s, v, c, k) in enumerate(
                zip(*(index.units[col] for col in ("style", "video", "clip", "k")), strict=True)
            )
        }
        n_pool = n_units
        max_n = max(SEQ_LENGTHS)
        seq_rows = np.full((len(index.sequences), max_n), -1, dtype=np.int64)
        seqs = index.sequences
        for i, (p, n, s, v, c, k) in enumerate(
            zip(*(seqs[col] for col in ("path", "n", "style", "video", "clip", "k")), strict=True)
        ):
            arr = _load_array(p, (n, UNIT_FRAMES, NUM_JOINTS, 2), f"{n}-unit sequence")
            rows = [unit_row.get((s, v, c, int(k) + j)) for j in range(n)]
            if all(r is not None for r in rows) and np.array_equal(arr, pool[0][rows]):
                seq_rows[i, :n] = rows
            else:  # not made of listed units: keep its own copy at the end of the pool
                pool.append(arr)
                seq_rows[i, :n] = np.arange(n_pool, n_pool + n)
                n_pool += n
        pool_arr = np.concatenate(pool) if len(pool) > 1 else pool[0]
        frames = index.clips["frames"].to_numpy(dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(frames)]).astype(np.int64)
        audio = np.empty((int(offsets[-1]), AUDIO_DIM), dtype=np.float32)
        for i, p in enumerate(index.clips["audio"]):
            arr = _load_audio(p)
            if arr.shape[0] != frames[i]:
                raise DataError("audio features changed while packing", p)
            audio[offsets[i] : offsets[i + 1]] = arr
        arrays = {
            "pool": pool_arr,
            "audio": audio,
            "seq_rows": seq_rows,
            "unit_rows": np.arange(n_units, dtype=np.int64),
            "audio_offsets": offsets,
        }
        manifest: dict[str, Any] = {
            "version": STORE_VERSION,
            "fingerprint": fingerprint,
            "data_dir": str(index.data_dir),
            "counts": {
                "units": n_units,
                "sequences": len(seqs),
                "clips": len(index.clips),
                "pool_rows": int(pool_arr.shape[0]),
                "audio_frames": int(audio.shape[0]),
            },
            "arrays": {},
        }
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
            manifest["arrays"][name] = {
                "file": f"{name}.npy",
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "bytes": (tmp / f"{name}.npy").stat().st_size,
            }
        for name, df in (
            ("units", index.units),
            ("sequences", index.sequences),
            ("clips", index.clips),
        ):
            df.to_csv(tmp / f"{name}.csv", index=False)
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        old = None
        if store_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.old-", dir=store_dir.parent))
            os.replace(store_dir, old / "store")
        # if another process put its store there first, open() validates whichever won
        with contextlib.suppress(OSError):
            os.replace(tmp, store_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _open_arrays(store_dir: Path, fingerprint: str | None) -> tuple[dict, dict[str, np.ndarray]]:
    """Validate the manifest and memory-map the arrays; _StaleStore if anything is off."""
    try:
        manifest = json.loads((store_dir / "manifest.json").read_text(encoding="utf-8"))
        if manifest["version"] != STORE_VERSION:
            raise _StaleStore("store version")
        if fingerprint is not None and manifest["fingerprint"] != fingerprint:
            raise _StaleStore("fingerprint")
        arrays = {}
        for name in _STORE_ARRAYS:
            spec = manifest["arrays"][name]
            path = store_dir / spec["file"]
            if path.stat().st_size != spec["bytes"]:
                raise _StaleStore(f"{path} size")
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if list(arr.shape) != spec["shape"] or str(arr.dtype) != spec["dtype"]:
                raise _StaleStore(f"{path} shape")
            arrays[name] = arr
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _StaleStore(str(exc)) from exc
    return manifest, arrays


class FeatureStore:
    """All units and audio frames of a dataset, packed once and memory-mapped.

    `pool` (P, 32, 14, 2) float32 holds every unit (rows 0..N-1, in the units table's
    order) followed by any sequence frames that are not copies of listed units;
    `audio` (F, 28) float32 holds every clip's features back to back
    (clip i at rows audio_offsets[i]:audio_offsets[i+1]). Sequences are index rows into
    the pool. Tables carry a `split` column (by video).
    """

    def __init__(self, index: DatasetIndex, store_dir: Path, manifest: dict, arrays: dict):
        self.index = index
        self.data_dir = index.data_dir
        self.store_dir = store_dir
        self.manifest = manifest
        self._arrays = arrays
        self.pose_normaliser = index.pose_normaliser
        self.audio_mean = index.audio_mean
        self.audio_std = index.audio_std
        self.units_table = index.units
        self.sequences_table = index.sequences
        self.clips_table = index.clips
        self.styles = index.styles
        self.unit_style = _style_codes(index.units["style"], index.styles)
        self.sequence_style = _style_codes(index.sequences["style"], index.styles)
        self.clip_style = _style_codes(index.clips["style"], index.styles)
        clip_pos = {
            key: i
            for i, key in enumerate(
                zip(index.clips["style"], index.clips["video"], index.clips["clip"], strict=True)
            )
        }
        seqs = index.sequences
        self.sequence_clip = np.array(
            [clip_pos[k] for k in zip(seqs["style"], seqs["video"], seqs["clip"], strict=True)],
            dtype=np.int64,
        )
        offsets = arrays["audio_offsets"]
        n = seqs["n"].to_numpy(dtype=np.int64)
        start = seqs["k"].to_numpy(dtype=np.int64) * UNIT_FRAMES
        self.sequence_audio_start = offsets[self.sequence_clip] + start
        self.sequence_audio_complete = (
            start + n * UNIT_FRAMES <= index.clips["frames"].to_numpy()[self.sequence_clip]
        )

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        store_dir: str | Path | None = None,
        rebuild: bool = False,
    ) -> FeatureStore:
        """Open the packed store of `data_dir`, (re)building it if missing, stale or damaged."""
        index = read_dataset(data_dir, check_arrays=False)
        store = Path(store_dir) if store_dir is not None else index.data_dir / STORE_NAME
        fingerprint = _fingerprint(index)
        if not rebuild:
            try:
                manifest, arrays = _open_arrays(store, fingerprint)
                return cls(index, store, manifest, arrays)
            except _StaleStore:
                pass
        _build_store(index, fingerprint, store)
        try:
            manifest, arrays = _open_arrays(store, fingerprint)
        except _StaleStore as exc:
            raise DataError(
                f"feature store is unusable right after building it ({exc})", store
            ) from exc
        return cls(index, store, manifest, arrays)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = None  # memmaps are reopened by path in the receiving process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _, self._arrays = _open_arrays(self.store_dir, None)

    @property
    def pool(self) -> np.ndarray:
        """Every unit (and non-unit sequence frames): memmap (P, 32, 14, 2) float32 pixels."""
        return self._arrays["pool"]

    @property
    def audio(self) -> np.ndarray:
        """Every clip's audio features back to back: memmap (F, 28) float32."""
        return self._arrays["audio"]

    @property
    def audio_offsets(self) -> np.ndarray:
        """Clip i's audio is audio[audio_offsets[i]:audio_offsets[i + 1]]."""
        return self._arrays["audio_offsets"]

    @property
    def seq_rows(self) -> np.ndarray:
        """(S, 4) pool rows of each sequence (-1 padded for n = 3)."""
        return self._arrays["seq_rows"]

    def unit_indices(self, split: str | None = None) -> np.ndarray:
        """Row numbers (into the units table and the pool) of the units in `split`."""
        return _split_rows(self.units_table, split)

    def units(self, split: str | None = None) -> np.ndarray:
        """Units of a split as raw pixels (N, 32, 14, 2) float32."""
        return self.pool[self.unit_indices(split)]

    def unit_styles(self, split: str | None = None) -> np.ndarray:
        """Style index (int64) of each unit of a split."""
        return self.unit_style[self.unit_indices(split)]

    def sequence_indices(self, n: int, split: str | None = None) -> np.ndarray:
        """Row numbers of the n-unit sequences of a split whose audio is complete."""
        rows = _split_rows(self.sequences_table, split)
        keep = (self.sequences_table["n"].to_numpy()[rows] == n) & self.sequence_audio_complete[
            rows
        ]
        return rows[keep]

    def sequences(self, n: int, split: str | None = None) -> np.ndarray:
        """n-unit sequences of a split as raw pixels (S, n, 32, 14, 2)."""
        rows = self.sequence_indices(n, split)
        return self.pool[self.seq_rows[rows, :n]]

    def clip_audio(self, i: int) -> np.ndarray:
        """Audio features (frames, 28) of clip i of the clips table (a memmap view)."""
        return self.audio[self.audio_offsets[i] : self.audio_offsets[i + 1]]

    def normalise_audio(self, feats: np.ndarray) -> np.ndarray:
        """Audio features (..., 28) minus the dataset mean, over the dataset std."""
        return (np.asarray(feats, np.float32) - self.audio_mean) / self.audio_std

    def clip_indices(self, split: str | None = None) -> np.ndarray:
        """Row numbers of the clips of a split."""
        return _split_rows(self.clips_table, split)

    def __repr__(self) -> str:
        c = self.manifest["counts"]
        return (
            f"FeatureStore({self.data_dir}, units={c['units']}, sequences={c['sequences']}, "
            f"clips={c['clips']}, audio_frames={c['audio_frames']})"
        )


def _style_codes(styles: pd.Series, order: Sequence[str] = STYLES) -> np.ndarray:
    index = {name: i for i, name in enumerate(order)}
    return np.array([index[s] for s in styles], dtype=np.int64)


def _split_rows(table: pd.DataFrame, split: str | None) -> np.ndarray:
    if split is None or split == "all":
        return np.arange(len(table), dtype=np.int64)
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS} or 'all', got {split!r}")
    return np.flatnonzero(table["split"].to_numpy() == split).astype(np.int64)


# --------------------------------------------------------------------------- loaders


def _chunks(order: np.ndarray, batch_size: int, drop_last: bool) -> list[np.ndarray]:
    """Consecutive batches of `order`; drop_last never empties an epoch (a tiny split
    smaller than one batch gives one short batch)."""
    n = len(order) // batch_size if drop_last else -(-len(order) // batch_size)
    if n == 0 and len(order) > 0:
        return [order]
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(n)]


def _balanced(
    rng: np.random.Generator, styles: np.ndarray, n_batches: int, batch_size: int
) -> list[np.ndarray]:
    """Batches of positions drawn so that the styles present appear equally often."""
    present = np.unique(styles)
    by_style = np.argsort(styles, kind="stable")
    counts = np.array([np.count_nonzero(styles == s) for s in present])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    total = n_batches * batch_size
    which = np.arange(total) % len(present)
    which = which.reshape(n_batches, batch_size) if n_batches else which.reshape(0, batch_size)
    which = rng.permuted(which, axis=1).reshape(-1)
    pick = starts[which] + np.floor(rng.random(total) * counts[which]).astype(np.int64)
    return list(by_style[pick].reshape(n_batches, batch_size))


class _PlannedBatches(IterableDataset):
    """Yields whole batches from a per-epoch plan; worker w makes batches w, w+W, ..."""

    salt = 0

    def __init__(self, store: FeatureStore, seed: int) -> None:
        super().__init__()
        self.store = store
        self.seed = int(seed)
        self.epoch = 0

    def plan(self, rng: np.random.Generator) -> list[Any]:
        raise NotImplementedError

    def make(self, item: Any, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.plan(np.random.default_rng([self.seed, 0, self.salt])))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        plan = self.plan(np.random.default_rng([self.seed, self.epoch, self.salt]))
        for b in range(wid, len(plan), nw):
            yield self.make(plan[b], np.random.default_rng([self.seed, self.epoch, self.salt, b]))


class _UnitBatches(_PlannedBatches):
    salt = 1

    def __init__(self, store, split, batch_size, seed, jitter, shuffle, drop_last, balanced):
        super().__init__(store, seed)
        self.rows = store.unit_indices(split)
        self.batch_size, self.jitter, self.shuffle = batch_size, jitter, shuffle
        self.drop_last, self.balanced = drop_last, balanced
        norm = store.pose_normaliser
        self.mean, self.std = norm.mean, norm.std

    def plan(self, rng: np.random.Generator) -> list[np.ndarray]:
        if self.balanced:
            n_batches = max(1, len(self.rows) // self.batch_size)
            styles = self.store.unit_style[self.rows]
            return [self.rows[b] for b in _balanced(rng, styles, n_batches, self.batch_size)]
        order = rng.permutation(self.rows) if self.shuffle else self.rows
        return _chunks(order, self.batch_size, self.drop_last)

    def make(self, rows: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        poses = self.store.pool[rows]  # (B, 32, 14, 2) gather from the memmap
        b = poses.shape[0]
        out = []
        for _ in range(2):
            x = poses
            if self.jitter:
                shift = (rng.random((b, 1, 1, 2)) * 2 - 1) * np.array(JITTER_PIXELS)
                x = poses + shift.astype(np.float32)
            vec = (x.reshape(b, UNIT_FRAMES, POSE_DIM) - self.mean) / self.std
            out.append(torch.from_numpy(np.ascontiguousarray(vec, dtype=np.float32)))
        style = torch.from_numpy(self.store.unit_style[rows].copy())
        return out[0], out[1], style


class _SequenceBatches(_PlannedBatches):
    salt = 2

    def __init__(self, store, split, batch_size, seed, n_units, shuffle, drop_last, balanced):
        super().__init__(store, seed)
        self.rows = {n: store.sequence_indices(n, split) for n in n_units}
        self.batch_size, self.shuffle = batch_size, shuffle
        self.drop_last, self.balanced = drop_last, balanced
        norm = store.pose_normaliser
        self.mean, self.std = norm.mean, norm.std

    def plan(self, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
        plan: list[tuple[int, np.ndarray]] = []
        for n, rows in self.rows.items():
            if self.balanced:
                n_batches = max(1, len(rows) // self.batch_size) if len(rows) else 0
                styles = self.store.sequence_style[rows]
                chunks = [rows[b] for b in _balanced(rng, styles, n_batches, self.batch_size)]
            else:
                order = rng.permutation(rows) if self.shuffle else rows
                chunks = _chunks(order, self.batch_size, self.drop_last)
            plan += [(n, c) for c in chunks]
        if self.shuffle:
            plan = [plan[i] for i in rng.permutation(len(plan))]
        return plan

    def make(self, item: tuple[int, np.ndarray], rng: np.random.Generator) -> tuple:
        n, rows = item
        store = self.store
        b = len(rows)
        poses = store.pool[store.seq_rows[rows, :n].reshape(-1)]
        units = (poses.reshape(b, n, UNIT_FRAMES, POSE_DIM) - self.mean) / self.std
        frames = store.sequence_audio_start[rows][:, None] + np.arange(n * UNIT_FRAMES)
        aud = (store.audio[frames.reshape(-1)] - store.audio_mean) / store.audio_std
        aud = aud.reshape(b, n * UNIT_FRAMES, AUDIO_DIM)
        return (
            torch.from_numpy(np.ascontiguousarray(units, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(aud, dtype=np.float32)),
            torch.from_numpy(store.sequence_style[rows].copy()),
        )


class _AudioBatches(_PlannedBatches):
    salt = 3

    def __init__(self, store, split, batch_size, seed, window, shuffle, random_offsets, drop_last):
        super().__init__(store, seed)
        clips = store.clip_indices(split)
        frames = store.clips_table["frames"].to_numpy(dtype=np.int64)[clips]
        keep = frames >= window
        self.clips, self.frames = clips[keep], frames[keep]
        self.counts = self.frames // window
        self.batch_size, self.window, self.shuffle = batch_size, window, shuffle
        self.random_offsets, self.drop_last = random_offsets, drop_last

    def plan(self, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        clip = np.repeat(self.clips, self.counts)
        frames = np.repeat(self.frames, self.counts)
        if self.random_offsets:
            local = np.floor(rng.random(len(clip)) * (frames - self.window + 1)).astype(np.int64)
        else:  # fixed tiling: windows 0, w, 2w, ... of each clip
            first = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
            local = (np.arange(len(clip)) - np.repeat(first, self.counts)) * self.window
        start = self.store.audio_offsets[clip] + local
        order = rng.permutation(len(clip)) if self.shuffle else np.arange(len(clip))
        return [
            (start[c], self.store.clip_style[clip[c]])
            for c in _chunks(order, self.batch_size, self.drop_last)
        ]

    def make(self, item: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> tuple:
        start, style = item
        frames = start[:, None] + np.arange(self.window)
        aud = (self.store.audio[frames.reshape(-1)] - self.store.audio_mean) / self.store.audio_std
        aud = aud.reshape(len(start), self.window, AUDIO_DIM)
        return (
            torch.from_numpy(np.ascontiguousarray(aud, dtype=np.float32)),
            torch.from_numpy(np.asarray(style, dtype=np.int64).copy()),
        )


class EpochLoader(DataLoader):
    """A DataLoader over planned batches that reshuffles each time it is iterated."""

    def __init__(self, dataset: _PlannedBatches, num_workers: int = 0) -> None:
        super().__init__(
            dataset,
            batch_size=None,
            num_workers=num_workers,
            persistent_workers=False,
        )
        self._next_epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the plan of `epoch`."""
        self._next_epoch = int(epoch)

    def __iter__(self):  # noqa: D105
        self.dataset.epoch = self._next_epoch
        self._next_epoch += 1
        return super().__iter__()


def _check_batch(batch_size: int, n: int, what: str) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if n == 0:
        raise DataError(f"no {what} in this split")


def unit_loader(
    store: FeatureStore,
    split: str = "train",
    batch_size: int = 64,
    seed: int = 0,
    jitter: bool = True,
    shuffle: bool = True,
    drop_last: bool = True,
    balanced: bool = False,
    num_workers: int = 0,
) -> EpochLoader:
    """Batches (x1, x2, style) of dance units: x1, x2 (B, 32, 28) float32 normalised.

    The two copies of each unit get independent random translations (x +-50 px,
    y +-20 px, in pixels, before normalisation); style is int64 (B,). `balanced` draws
    every style equally often (with replacement) instead of shuffling all units.
    """
    ds = _UnitBatches(store, split, batch_size, seed, jitter, shuffle, drop_last, balanced)
    _check_batch(batch_size, len(ds.rows), "units")
    return EpochLoader(ds, num_workers)


def sequence_loader(
    store: FeatureStore,
    split: str = "train",
    batch_size: int = 32,
    seed: int = 0,
    n_units: Sequence[int] = SEQ_LENGTHS,
    shuffle: bool = True,
    drop_last: bool = True,
    balanced: bool = False,
    num_workers: int = 0,
) -> EpochLoader:
    """Batches (units (B, n, 32, 28), audio (B, n*32, 28), style (B,)), both normalised.

    n is fixed within a batch; batches of each n in `n_units` are interleaved. The audio
    is the clip's features for exactly the frames of those units.
    """
    for n in n_units:
        if n not in SEQ_LENGTHS:
            raise ConfigError(f"n_units must be drawn from {SEQ_LENGTHS}, got {n}")
    ds = _SequenceBatches(
        store, split, batch_size, seed, tuple(n_units), shuffle, drop_last, balanced
    )
    _check_batch(batch_size, sum(len(r) for r in ds.rows.values()), "sequences")
    return EpochLoader(ds, num_workers)


def audio_loader(
    store: FeatureStore,
    split: str = "train",
    batch_size: int = 64,
    seed: int = 0,
    window: int = 30,
    shuffle: bool = True,
    random_offsets: bool | None = None,
    drop_last: bool = False,
    num_workers: int = 0,
) -> EpochLoader:
    """Batches (audio (B, window, 28) normalised, style (B,)) of audio windows.

    Each clip gives frames // window windows an epoch: at random offsets when
    `random_offsets` (default: in the train split), else tiled at 0, window, 2 * window...
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    if random_offsets is None:
        random_offsets = split == "train"
    ds = _AudioBatches(store, split, batch_size, seed, window, shuffle, random_offsets, drop_last)
    _check_batch(batch_size, int(ds.counts.sum()), f"clips with >= {window} audio frames")
    return EpochLoader(ds, num_workers)


# --------------------------------------------------------------------------- naive loader


class NaiveUnitDataset(Dataset):
    """The original code's way: one np.load per sample, normalised frame by frame in Python."""

    def __init__(self, index: DatasetIndex, split: str, seed: int, jitter: bool) -> None:
        rows = _split_rows(index.units, split)
        self.paths = index.units["path"].to_numpy()[rows]
        self.styles = _style_codes(index.units["style"].iloc[rows], index.styles)
        self.mean = index.stats["all_onbeat_mean"]
        self.std = index.stats["all_onbeat_std"]
        self.seed, self.jitter = seed, jitter
        self.calls = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        self.calls += 1
        rng = np.random.default_rng([self.seed, int(i), self.calls])
        poses = np.load(self.paths[i])
        copies = []
        for _ in range(2):
            shift = (rng.random(2) * 2 - 1) * np.array(JITTER_PIXELS) if self.jitter else 0.0
            out = np.zeros((UNIT_FRAMES, POSE_DIM), dtype=np.float32)
            for t in range(UNIT_FRAMES):
                out[t] = ((poses[t] + shift).reshape(POSE_DIM) - self.mean) / self.std
            copies.append(torch.from_numpy(out))
        return copies[0], copies[1], int(self.styles[i])


def keep_styles(loader: EpochLoader, store: FeatureStore, keep: Sequence[int]) -> None:
    """Restrict a loader made here to the styles in `keep` (indices into the store's styles)."""
    ds = loader.dataset
    if hasattr(ds, "clips"):  # audio windows
        mask = np.isin(store.clip_style[ds.clips], keep)
        ds.clips, ds.frames, ds.counts = ds.clips[mask], ds.frames[mask], ds.counts[mask]
    elif isinstance(ds.rows, dict):  # sequences of n units
        ds.rows = {n: r[np.isin(store.sequence_style[r], keep)] for n, r in ds.rows.items()}
    else:  # units
        ds.rows = ds.rows[np.isin(store.unit_style[ds.rows], keep)]


def naive_unit_loader(
    data_dir: str | Path,
    split: str = "train",
    batch_size: int = 64,
    seed: int = 0,
    jitter: bool = True,
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
) -> DataLoader:
    """The per-sample loader of the original code (for timing against `unit_loader`)."""
    index = read_dataset(data_dir, check_arrays=False)
    ds = NaiveUnitDataset(index, split, seed, jitter)
    _check_batch(batch_size, len(ds), "units")
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
