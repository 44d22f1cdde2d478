"""Converting the dances and writing them in the original Dancing to Music layout."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib import audio, beats, data, skeleton
from d2mlib._io import save_npy, write_text
from d2mlib.ballroom.pose import bone_check, joints_3d, project, resample, side_check
from d2mlib.ballroom.source import (
    SOURCE_FPS,
    STYLES,
    SourceClip,
    find_clips,
    read_clip,
    style_of,
)
from d2mlib.errors import AudioError, D2MError, DataError

CLIP_NAME = "000"  # each dance is one video of one clip
OFFSETS = np.round(np.arange(-12, 13) / SOURCE_FPS, 4)  # candidate offsets -0.48 .. +0.48 s
MAX_AUDIO_PAD_S = 1.0  # music may end this much before the dance (padded with silence)
BEAT_MARGIN_S = 1.0  # audio either side of the dance read for the beat tracker
MARKER_PRESET = "ballroom"
SUMMARY_FILE = "ballroom.json"


# ----------------------------------------------------------------------------- music


def _cut(y: np.ndarray, start: int, length: int, path: Path) -> tuple[np.ndarray, int]:
    """Samples [start, start + length) of y, zero-padded up to MAX_AUDIO_PAD_S; (cut, padded)."""
    missing = max(0, start + length - len(y)) + max(0, -start)
    if missing > MAX_AUDIO_PAD_S * audio.SAMPLE_RATE:
        raise AudioError(
            f"too short for the dance: {missing / audio.SAMPLE_RATE:.2f} s of the dance's span "
            f"(from {start / audio.SAMPLE_RATE:.2f} s, {length / audio.SAMPLE_RATE:.1f} s long) "
            "lie outside the audio",
            path,
        )
    seg = y[max(start, 0) : max(start + length, 0)]
    lead = max(0, -start)
    return np.pad(seg, (lead, length - len(seg) - lead)), missing


def alignment_check(
    kin_times: np.ndarray, music_times: np.ndarray, offsets: np.ndarray = OFFSETS
) -> dict[str, Any]:
    """Beat hit rate of the dance shifted by each offset (s; positive: the dance sits later).

    Returns the hit rate at 0 (the configured alignment), the whole curve (one hit rate
    per offset), and the best offset and its hit rate. The best is sought within half a
    beat period (the music's median beat spacing) of 0, since beats are near-periodic and
    an offset one beat away scores about the same; ties go to the higher Beat Align Score
    (over kinematic beats, sigma 0.1 s), which peaks where the beats coincide.
    """
    curve = np.array([beats.beat_hit_rate(kin_times + d, music_times) for d in offsets])
    bas = np.array([beats.beat_align_score(kin_times + d, music_times) for d in offsets])
    zero = int(np.argmin(np.abs(offsets)))
    period = float(np.median(np.diff(music_times))) if len(music_times) > 2 else np.inf
    window = np.abs(offsets) <= period / 2 + 1e-9
    window[zero] = True
    order = np.lexsort((np.abs(offsets), -bas, -curve))  # hit rate, then BAS, then near 0
    best = int(order[window[order]][0])
    return {
        "hit_rate": float(curve[zero]),
        "best_offset_s": float(offsets[best]),
        "best_hit_rate": float(curve[best]),
        "bas": float(bas[zero]),
        "best_bas": float(bas[best]),
        "beat_period_s": period,
        "offsets_s": [float(d) for d in offsets],
        "hit_rates": [float(h) for h in curve],
    }


# ----------------------------------------------------------------------------- one clip


def _npy(array: np.ndarray) -> bytes:

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)  # inside the import's temporary folder: renamed whole at the end


def convert_clip(clip: SourceClip, shift_to_beats: bool = False) -> dict[str, Any]:
    """Poses (15 fps pixels), the aligned song span, features, beats and checks of one dance."""
    side = side_check(clip.points)
    j3 = joints_3d(clip.points, a_is_right=side >= 0.5)
    bones = bone_check(j3)
    joints = resample(j3, SOURCE_FPS, skeleton.FPS)
    centre = resample(clip.centre, SOURCE_FPS, skeleton.FPS)
    try:
        poses = project(joints, centre)
    except DataError as exc:
        raise DataError(exc.problem, clip.folder / "skeletons") from exc
    song = audio.load_audio(clip.audio_path, normalise=False)
    sr, frames = audio.SAMPLE_RATE, len(poses)
    start_s = clip.start_position / SOURCE_FPS
    margin = int(BEAT_MARGIN_S * sr)
    first = int(round(start_s * sr)) - margin
    around = song[max(first, 0) : first + frames * audio.HOP + 2 * margin]
    music = np.asarray(audio.beats(around).times) + max(first, 0) / sr - start_s
    kin = beats.kinematic_beat_times(poses)
    check = alignment_check(kin, music)
    shift = check["best_offset_s"] if shift_to_beats else 0.0
    begin = int(round((start_s + shift) * sr))
    wav, padded = _cut(song, begin, frames * audio.HOP, clip.audio_path)
    return {
        "poses": poses,
        "wav": wav,
        "music_beats": music - shift,
        "bones": bones,
        "side_a_right": side,
        "alignment": check,
        "shift_s": shift,
        "padded_s": padded / sr,
        "canvas_inside": float(
            np.mean(
                (poses[..., 0] >= 0)
                & (poses[..., 0] <= skeleton.CANVAS_WIDTH)
                & (poses[..., 1] >= 0)
                & (poses[..., 1] <= skeleton.CANVAS_HEIGHT)
            )
        ),
    }


def _clip_files(style: str, video: str, result: dict[str, Any], feats: np.ndarray) -> dict:
    """(relative path -> bytes) of one clip's unit, sequence, audio, pose and meta files."""
    base = f"{style}/{video}/{CLIP_NAME}"
    poses = result["poses"]
    n_units = len(poses) // skeleton.UNIT_FRAMES
    units = poses[: n_units * skeleton.UNIT_FRAMES].reshape(
        n_units, skeleton.UNIT_FRAMES, skeleton.NUM_JOINTS, 2
    )
    files = {f"{base}/unit/{k}.npy": _npy(units[k]) for k in range(n_units)}
    for n in data.SEQ_LENGTHS:
        files |= {f"{base}/seq{n}/{k}.npy": _npy(units[k : k + n]) for k in range(n_units - n + 1)}
    files[f"{base}/aud/c{CLIP_NAME}_fps15.npy"] = _npy(feats.astype(np.float32))
    files[f"{base}/poses.npy"] = _npy(poses)
    return files


def import_clip(folder: str | Path, out: str | Path, shift_to_beats: bool = False) -> dict:
    """Convert one dance folder and write its files under `out`; returns its summary row."""
    clip = read_clip(folder)
    res = convert_clip(clip, shift_to_beats)
    out = Path(out)
    base = out / clip.style / clip.name / CLIP_NAME
    wav_path = base / "aud" / f"c{CLIP_NAME}.wav"
    audio.save_wav(wav_path, res["wav"])
    feats = audio.features(audio.load_audio(wav_path))  # the wav as any reader loads it
    if feats.shape != (len(res["poses"]), data.AUDIO_DIM) or not np.all(np.isfinite(feats)):
        raise AudioError(f"features have shape {feats.shape} or non-finite values", wav_path)
    for rel, payload in _clip_files(clip.style, clip.name, res, feats).items():
        _write(out / rel, payload)
    beats = res["music_beats"]
    beats = beats[(beats >= 0) & (beats <= len(res["poses"]) / skeleton.FPS)]
    n_units = len(res["poses"]) // skeleton.UNIT_FRAMES
    row = {
        "clip": clip.name,
        "style": clip.style,
        "form": clip.form,
        "frames_25fps": len(clip.points),
        "frames": len(res["poses"]),
        "minutes": len(res["poses"]) / skeleton.FPS / 60,
        "units": n_units,
        "start_position": clip.start_position,
        "end_position": clip.end_position,
        "span_minus_length": clip.end_position - clip.start_position - len(clip.points),
        "shift_s": res["shift_s"],
        "audio_padded_s": res["padded_s"],
        "side_a_right": res["side_a_right"],
        "canvas_inside": res["canvas_inside"],
        "max_bone_cv": float(res["bones"][["cv right", "cv left"]].to_numpy().max()),
        "max_lr_asymmetry": float(np.abs(np.log(res["bones"]["right/left"])).max()),
        **{k: v for k, v in res["alignment"].items() if not isinstance(v, list)},
    }
    meta = {
        "source": str(clip.folder),
        "style": clip.style,
        "video": clip.name,
        "clip": CLIP_NAME,
        "fps": skeleton.FPS,
        "sample_rate": audio.SAMPLE_RATE,
        "frames": len(res["poses"]),
        "units": n_units,
        "tempo": float(60 / np.median(np.diff(beats))) if len(beats) > 1 else 0.0,
        "beat_times": [float(t) for t in beats],
        "alignment": res["alignment"],
        "bones": res["bones"].to_dict(orient="records"),
        "row": row,
    }
    _write(base / "meta.json", json.dumps(meta, indent=1, sort_keys=True).encode("utf-8"))
    row["_pose_vectors"] = res["poses"][: n_units * skeleton.UNIT_FRAMES].reshape(-1, 28)
    row["_features"] = feats
    return row


# ----------------------------------------------------------------------------- dataset


def _check_out(out: Path) -> None:
    """Refuse to replace a folder that is not empty and not a ballroom import."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError("exists and is not a folder", out)
    marker = data.dataset_complete(out) if (out / data.MARKER).exists() else None
    if marker is not None and marker.get("preset") == MARKER_PRESET:
        return
    if any(out.iterdir()):
        raise DataError("is not empty and holds no ballroom import; refusing to replace it", out)


def _write_lists(tmp: Path, rows: list[dict], styles: Sequence[str]) -> None:
    for style in styles:
        lines: dict[str, list[str]] = {"unit": [], "unitseq3": [], "unitseq4": []}
        for r in (r for r in rows if r["style"] == style):
            base = f"data/{style}/{r['clip']}/{CLIP_NAME}"
            lines["unit"] += [f"{base}/unit/{k}.npy" for k in range(r["units"])]
            for n in data.SEQ_LENGTHS:
                lines[f"unitseq{n}"] += [
                    f"{base}/seq{n}/{k}.npy" for k in range(r["units"] - n + 1)
                ]
        for kind, items in lines.items():
            write_text(data.list_file(tmp, style, kind), "".join(f"{x}\n" for x in items))
    write_text(tmp / data.STYLES_FILE, "".join(f"{s}\n" for s in styles))


def _write_stats(tmp: Path, rows: list[dict]) -> None:
    pose = np.concatenate([r.pop("_pose_vectors") for r in rows]).astype(np.float64)
    feats = np.concatenate([r.pop("_features") for r in rows]).astype(np.float64)
    stats = {
        "all_onbeat_mean": pose.mean(0),
        "all_onbeat_std": np.maximum(pose.std(0), 1e-3),
        "all_aud_mean": feats.mean(0),
        "all_aud_std": np.maximum(feats.std(0), 1e-6),
    }
    for name, value in stats.items():
        save_npy(tmp / data.STATS_DIR / f"{name}.npy", value.astype(np.float32))


def _run_clips(folders, tmp, shift, workers, progress) -> list[dict]:
    """import_clip over the folders (a process pool when workers > 1), in folder order."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(folders), desc="importing ballroom", unit="clip", disable=not progress)
    try:
        rows = []
        # the first clip here, before any pool: librosa compiles its beat tracker into numba's
        # on-disk cache on first use, and two processes compiling it at once leave an entry
        # that segfaults whoever loads it next; the pool's workers then only load it
        for f in folders if workers <= 1 else folders[:1]:
            rows.append(import_clip(f, tmp, shift))
            bar.update(1)
        if workers <= 1 or len(folders) == 1:
            return rows
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(import_clip, f, tmp, shift) for f in folders[1:]]
            for fut in futures:
                fut.add_done_callback(lambda _: bar.update(1))
            return rows + [fut.result() for fut in futures]
    finally:
        bar.close()


def import_ballroom(
    src: str | Path,
    out: str | Path,
    clips: Sequence[str] | None = None,
    styles: Sequence[str] = STYLES,
    shift_to_beats: bool = False,
    split_seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Import the ballroom dances under `src` into `out` in the original layout; a summary.

    `clips` picks dance folders by name (default all); `styles` the styles kept (in label
    order). Everything is written into a temporary folder beside `out` and renamed over it
    at the end, so an interrupted import leaves `out` as it was; a non-empty `out` that is
    not a ballroom import is refused. With `shift_to_beats` each dance's music is moved by
    the offset that maximises its beat hit rate (default: the configured alignment).
    """
    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    folders = find_clips(src)
    if clips is not None:
        names = {f.name: f for f in folders}
        missing = sorted(set(clips) - set(names))
        if missing:
            raise DataError(f"no dance folders named {', '.join(missing)}", src)
        folders = [names[c] for c in clips]
    styles = tuple(s for s in STYLES if s in styles)
    folders = [f for f in folders if style_of(f) in styles]
    if not folders:
        raise DataError(f"no dances of the styles {list(styles)}", src)
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        rows = _run_clips(folders, tmp, shift_to_beats, workers, progress)
        present = tuple(s for s in styles if any(r["style"] == s for r in rows))
        _write_lists(tmp, rows, present)
        _write_stats(tmp, rows)
        table = pd.DataFrame(rows)
        table["split"] = data.split_by_video(
            table.rename(columns={"clip": "video"}), seed=split_seed
        )
        seconds = time.perf_counter() - t0
        summary = {
            "source": str(src),
            "styles": list(present),
            "split_seed": split_seed,
            "shift_to_beats": shift_to_beats,
            "seconds": seconds,
            "clips": table.to_dict(orient="records"),
        }
        write_text(tmp / SUMMARY_FILE, json.dumps(summary, indent=1, default=float) + "\n")
        stamp = {"preset": MARKER_PRESET, "seed": split_seed, "source": str(src)}
        write_text(tmp / data.MARKER, json.dumps(stamp, sort_keys=True) + "\n")
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary["data_dir"] = str(out)
    summary["seconds"] = time.perf_counter() - t0
    return summary


def _replace_dir(tmp: Path, out: Path) -> None:
    """Rename the finished import `tmp` over `out` (moving an earlier import aside first)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "previous")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def summary_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Clips, minutes and units per style (and split) of an import summary."""
    table = pd.DataFrame(summary["clips"])
    grouped = table.groupby("style").agg(
        clips=("clip", "size"), minutes=("minutes", "sum"), units=("units", "sum")
    )
    for split in data.SPLITS:
        grouped[f"{split} clips"] = table[table["split"] == split].groupby("style").size()
    grouped = grouped.reindex(summary["styles"]).fillna(0)
    grouped.loc["all"] = grouped.sum()
    return grouped.astype({c: int for c in grouped.columns if c != "minutes"}).round(2)


def main(argv: Sequence[str] | None = None) -> int:
    """`d2m data import-ballroom SRC --out DIR`: import the ballroom dances; prints a summary."""
    p = argparse.ArgumentParser(
        prog="d2m data import-ballroom",
        description="Import the Dance with Melody ballroom dances into the original layout.",
    )
    p.add_argument("src", type=Path, help="the dataset folder (DANCE_<C|R|T|W>_<n> folders)")
    p.add_argument("--out", required=True, type=Path, help="dataset directory to write")
    p.add_argument("--clips", default=None, help="comma-separated dance folders (default all)")
    p.add_argument("--styles", default=",".join(STYLES), help="styles to keep, comma-separated")
    p.add_argument(
        "--shift-to-beats",
        action="store_true",
        help="move each dance's music by the offset with the best beat hit rate",
    )
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        raise D2MError(f"--styles: unknown {unknown}; choose from {list(STYLES)}")
    summary = import_ballroom(
        args.src,
        args.out,
        clips=None if args.clips is None else [c.strip() for c in args.clips.split(",")],
        styles=styles,
        shift_to_beats=args.shift_to_beats,
        split_seed=args.split_seed,
        workers=args.workers,
        progress=not args.quiet,
    )
    print(summary_table(summary).to_string())
    table = pd.DataFrame(summary["clips"])
    print(
        f"beat hit rate at the configured alignment {table['hit_rate'].mean():.3f}, at each "
        f"clip's best offset {table['best_hit_rate'].mean():.3f} (median offset "
        f"{table['best_offset_s'].median():+.2f} s); max bone CV {table['max_bone_cv'].max():.3f}"
    )
    print(f"wrote {args.out} in {summary['seconds']:.1f} s", file=sys.stdout)
    return 0
