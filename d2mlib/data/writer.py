"""Writing the synthetic world (`d2mlib.synth`) to disk in the original layout, atomically, with
its audio features computed from the written .wav files.
"""

from __future__ import annotations

import dataclasses
import io
import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from d2mlib import audio, synth
from d2mlib._io import file_lock, save_npy, write_text
from d2mlib.config import STYLES
from d2mlib.data.layout import (
    _SAMPLE_RATE,
    AUDIO_DIM,
    LIST_DIR,
    MARKER,
    SEQ_LENGTHS,
    STATS_DIR,
    WRITING,
    _read_marker,
    dataset_complete,
    list_file,
)
from d2mlib.errors import DataError
from d2mlib.skeleton import NUM_JOINTS, POSE_DIM, UNIT_FRAMES


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
    import soundfile  # deferred: the GPU timing path runs without soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.clip(wav, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


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

    Long because its steps (generate, feature, write, sync, mark) share one try/finally that removes a half-written dataset.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    _check_target(out, preset, seed)

    config = dataclasses.replace(synth.synth_preset(preset), seed=seed)
    units_per_clip = int(config.units_per_clip)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)
    marker = {"preset": preset, "seed": seed, "world": synth.WORLD_VERSION}
    stamp = json.dumps(marker, sort_keys=True) + "\n"
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


def ensure_dataset(
    data_dir: str | Path, preset: str = "book", seed: int = 0, progress: bool = True
) -> Path:
    """Write the synthetic dataset into `data_dir` unless it is already complete; return the dir.

    A directory with unit lists but no d2mlib marker (the original data, e.g. via $D2M_DATA)
    is used as it is. A complete dataset of another preset/seed raises DataError.
    """
    data_dir = Path(data_dir)
    with file_lock(data_dir):  # a chapter executed alongside may be writing it: wait for it
        return _ensure_dataset(data_dir, preset, seed, progress)


def _ensure_dataset(data_dir: Path, preset: str, seed: int, progress: bool) -> Path:
    """ensure_dataset's work, under its lock."""
    marker = dataset_complete(data_dir)
    if marker is not None:
        if (marker.get("preset"), marker.get("seed")) != (preset, seed):
            raise DataError(
                f"holds preset={marker.get('preset')!r} seed={marker.get('seed')!r}, "
                f"not preset={preset!r} seed={seed!r}",
                data_dir / MARKER,
            )
        return data_dir
    stale = (data_dir / MARKER).exists()  # written by an older world: rewrite it
    if (data_dir / LIST_DIR).is_dir() and not (data_dir / WRITING).exists() and not stale:
        return data_dir
    write_dataset(data_dir, preset=preset, seed=seed, progress=progress)
    return data_dir
