"""A dataset card: what a dataset in the original layout holds, and what it settles.

`describe(data_dir)` returns one tidy row per quantity (columns quantity, style, split,
value, note), for any dataset in the original layout: synthetic, original or imported.

- counts: clips, videos, units and minutes per style and per split (a split's videos are
  its independent samples), and the share of clips whose music borrows another style's
  traits (synthetic only);
- tempo range per style (the world's tempo where meta.json records it, leaving out clips that
  borrow another style's tempo; else librosa's);
- ``posture_style_accuracy``: a logistic regression on the 8 mean joint angles of a unit,
  trained on the train split's videos, scored on the others (``posture_style_chance``:
  the largest style's share there). ``music_style_accuracy``: the same on a clip's mean and
  standard deviation of the 28 audio features; ``tempo_style_accuracy``: the same on the
  world's tempo alone (synthetic only);
- the dances' beat alignment (``beat_hit_rate``, ``bas_kinematic``, ``bas_music``) against
  the world's true beats where meta.json records them, else librosa's beats of the .wav;
- ``music_movement_dependence``: the correlation, over half-unit windows (16 frames) centred
  within each clip, between the music's log energy (audio feature 13) and the dance's log
  joint speed; ``music_movement_dependence_shuffled``: the same with each dance paired with
  another clip's music (the control; near 0 when movement ignores the music).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib import metrics, skeleton
from d2mlib._io import write_text
from d2mlib.config import STYLES
from d2mlib.data import DatasetIndex, read_dataset, tracked_tempi
from d2mlib.errors import DataError
from d2mlib.metrics.dependence import ENERGY_FEATURE, WINDOW
from d2mlib.metrics.dependence import correlation as dependence

_ANGLES = (  # (a, b, c): the angle at b between b->a and b->c
    ("r_shoulder", "r_elbow", "r_wrist"),
    ("l_shoulder", "l_elbow", "l_wrist"),
    ("neck", "r_shoulder", "r_elbow"),
    ("neck", "l_shoulder", "l_elbow"),
    ("r_hip", "r_knee", "r_ankle"),
    ("l_hip", "l_knee", "l_ankle"),
    ("l_hip", "r_hip", "r_knee"),
    ("r_hip", "l_hip", "l_knee"),
)
COLUMNS = ["quantity", "style", "split", "value", "note"]


def joint_angles(poses: np.ndarray) -> np.ndarray:
    """The 8 joint angles (radians, 0..pi) of elbows, shoulders, knees and hips: (..., 8)."""
    x = np.asarray(poses, dtype=np.float64)
    J = skeleton.JOINT
    out = []
    for a, b, c in _ANGLES:
        u = x[..., J[a], :] - x[..., J[b], :]
        w = x[..., J[c], :] - x[..., J[b], :]
        cross = u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]
        out.append(np.abs(np.arctan2(cross, np.sum(u * w, axis=-1))))
    return np.stack(out, axis=-1)


def logistic_accuracy(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> float:
    """Test accuracy of a multinomial logistic regression (standardised inputs, L2 1e-3)."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-9
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    k = int(max(y_train.max(), y_test.max())) + 1
    target = np.eye(k)[y_train]
    w, bias = np.zeros((a.shape[1], k)), np.zeros(k)
    for _ in range(400):  # full-batch gradient descent on a convex loss
        z = a @ w + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - target) / len(a)
        w -= 0.5 * (a.T @ g + 1e-3 * w)
        bias -= 0.5 * g.sum(0)
    return float(np.mean(np.argmax(b @ w + bias, 1) == y_test))


def _clip_meta(audio_path: str) -> dict[str, Any] | None:
    path = Path(audio_path).parent.parent / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable clip metadata ({exc})", path) from exc
    if not isinstance(meta, dict):
        raise DataError("clip metadata is not a JSON object", path)
    return meta


@dataclass
class CardClip:
    """What the card reads of one clip."""

    style: str
    video: str
    split: str  # "train", "val" or "test" (by video)
    k: np.ndarray  # (n,) unit indices
    units: np.ndarray  # (n, 32, 14, 2) poses in pixels
    audio: np.ndarray  # (frames, 28) audio features
    meta: dict[str, Any] | None = None  # the synthetic world's meta.json (with "beat_times")
    wav: Path | None = None  # the clip's .wav, where there is one


def _load(index: DatasetIndex) -> list[CardClip]:
    """Per clip: style, video, split, units (k, 32, 14, 2), audio features, meta."""
    clips = []
    units = index.units.sort_values(["style", "video", "clip", "k"])
    by_clip = {key: g for key, g in units.groupby(["style", "video", "clip"], sort=False)}
    for row in index.clips.itertuples(index=False):
        g = by_clip.get((row.style, row.video, row.clip))
        if g is None:
            continue
        arrays = [
            _load_array(p, (skeleton.UNIT_FRAMES, skeleton.NUM_JOINTS, 2), "dance unit")
            for p in g["path"]
        ]
        wav = Path(row.audio).with_name(Path(row.audio).name.replace("_fps15.npy", ".wav"))
        clips.append(
            CardClip(
                style=row.style,
                video=row.video,
                split=row.split,
                k=g["k"].to_numpy(),
                units=np.stack(arrays),
                audio=_load_array(row.audio, None, "audio features"),
                meta=_clip_meta(row.audio),
                wav=wav if wav.is_file() else None,
            )
        )
    return clips


def _load_array(path: str | Path, shape: tuple[int, ...] | None, what: str) -> np.ndarray:
    """A finite float array from a .npy file (of `shape` if given); DataError naming it."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"unreadable {what} ({exc})", path) from exc
    if shape is not None and arr.shape != shape:
        if arr.size != int(np.prod(shape)):
            raise DataError(f"{what} has shape {arr.shape}, expected {shape}", path)
        arr = arr.reshape(shape)
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise DataError(f"{what} holds non-numeric, NaN or infinite values", path)
    return np.asarray(arr, dtype=np.float64)


def _row(
    quantity: str, value: float, style: str = "all", split: str = "all", note: str = ""
) -> dict[str, Any]:
    return {
        "quantity": quantity,
        "style": style,
        "split": split,
        "value": float(value),
        "note": note,
    }


def _style_order(styles: Sequence[str]) -> list[str]:
    """The styles present, config.STYLES first (in their order), then any others (e.g. ballroom)."""
    present = dict.fromkeys(styles)
    return [s for s in STYLES if s in present] + [s for s in present if s not in STYLES]


def _counts(index: DatasetIndex, clips: list[CardClip]) -> list[dict[str, Any]]:
    """Clips, videos, units and minutes per style; videos, clips and ambiguity per split."""
    rows = []
    c, u = index.clips, index.units
    for style in [*_style_order(index.styles), "all"]:
        cs = c if style == "all" else c[c["style"] == style]
        us = u if style == "all" else u[u["style"] == style]
        rows.append(_row("clips", len(cs), style))
        rows.append(_row("videos", cs[["style", "video"]].drop_duplicates().shape[0], style))
        rows.append(_row("units", len(us), style))
        rows.append(_row("minutes", cs["frames"].sum() / (15 * 60), style, note="audio frames"))
    for split in ("train", "val", "test"):
        cs = c[c["split"] == split]
        n_videos = cs[["style", "video"]].drop_duplicates().shape[0]
        rows.append(_row("videos", n_videos, split=split, note="independent samples"))
        rows.append(_row("clips", len(cs), split=split))
        metas = [x.meta for x in clips if x.split == split and x.meta is not None]
        if metas:
            share = np.mean([bool(m.get("borrowed")) for m in metas])
            rows.append(_row("ambiguous_share", share, split=split, note="clips that borrow"))
    return rows


def _tempo_rows(index: DatasetIndex, clips: list[CardClip]) -> list[dict[str, Any]]:
    """Tempo range per style: the world's tempo (meta.json), else librosa's on up to 30 clips."""
    own = [  # a clip that borrows its tempo has another style's: left out of its own range
        (x.style, float(x.meta["tempo"]))
        for x in clips
        if x.meta and "tempo" in x.meta and "tempo" not in (x.meta.get("borrowed") or {})
    ]
    tempi = pd.DataFrame(own, columns=["style", "tempo"])
    note = "meta.json, clips that borrow tempo left out"
    if tempi.empty and any(x.wav is not None for x in clips):
        tempi, note = tracked_tempi(index, max_clips=30), "librosa, up to 30 clips"
    rows = []
    for style in _style_order(index.styles):
        t = tempi.loc[tempi["style"] == style, "tempo"].to_numpy()
        lo, hi = (float(t.min()), float(t.max())) if len(t) else (np.nan, np.nan)
        rows += [_row("tempo_min", lo, style, note=note), _row("tempo_max", hi, style, note=note)]
    return rows


def _style_accuracy(clips: list[CardClip]) -> list[dict[str, Any]]:
    """Posture-only and music-only style classifiers, trained and scored on disjoint videos."""
    style_id = {s: i for i, s in enumerate(_style_order([x.style for x in clips]))}
    train = [x for x in clips if x.split == "train"]
    test = [x for x in clips if x.split != "train"]
    if not train or not test:
        return [_row("posture_style_accuracy", np.nan, note="needs train and held-out videos")]

    def posture(group: list[CardClip]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([joint_angles(g.units).mean(axis=1) for g in group])
        y = np.concatenate([[style_id[g.style]] * len(g.units) for g in group])
        return x, y

    def music(group: list[CardClip]) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack([np.concatenate([g.audio.mean(0), g.audio.std(0)]) for g in group])
        return x, np.array([style_id[g.style] for g in group])

    def tempo(group: list[CardClip]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([[float(g.meta["tempo"])] for g in group])
        return x, np.array([style_id[g.style] for g in group])

    features = [("posture", posture), ("music", music)]
    if all(x.meta is not None and "tempo" in x.meta for x in clips):
        features.append(("tempo", tempo))
    rows = []
    for name, feats in features:
        (xa, ya), (xb, yb) = feats(train), feats(test)
        acc = logistic_accuracy(xa, ya, xb, yb)
        note = (
            f"logistic regression, {len(xb)} held-out {'units' if name == 'posture' else 'clips'}"
        )
        rows.append(_row(f"{name}_style_accuracy", acc, note=note))
        rows.append(_row(f"{name}_style_chance", np.bincount(yb).max() / len(yb)))
    return rows


def clip_dance(units: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """The clip's dance from its units: the consecutive units from the first listed one."""
    order = np.argsort(ks)
    ks, units = ks[order], units[order]
    n = 1 + int(np.argmin(np.append(np.diff(ks) == 1, False)))
    return units[:n].reshape(-1, skeleton.NUM_JOINTS, 2)


def _beat_rows(clips: list[CardClip], max_tracked: int) -> list[dict[str, Any]]:
    """Beat alignment of the dances against true beats (meta.json) or librosa's (.wav)."""
    dances, beats, sources = [], [], set()
    tracked = 0
    for x in clips:
        dance = clip_dance(x.units, x.k)
        if x.meta is not None and "beat_times" in x.meta:
            times, source = np.asarray(x.meta["beat_times"], dtype=np.float64), "true beats"
        elif x.wav is not None and tracked < max_tracked:
            times, source = metrics.music_beat_times(x.wav), "librosa beats"
            tracked += 1
        else:
            continue
        dances.append(dance)
        beats.append(times)
        sources.add(source)
    if not dances:
        return [_row(q, np.nan, note="no beats: no meta.json or .wav") for q in _BEAT_QUANTITIES]
    scores = metrics.beat_metrics(dances, beats)
    note = f"{' and '.join(sorted(sources))}, {len(dances)} clips"
    return [_row(q, scores[q], note=note) for q in _BEAT_QUANTITIES]


_BEAT_QUANTITIES = ("beat_hit_rate", "bas_kinematic", "bas_music")


def _windows(x: CardClip) -> tuple[np.ndarray, np.ndarray]:
    """Per 16-frame window of a clip's units: music log energy and dance log joint speed."""
    music, move = [], []
    for k, unit in zip(x.k, x.units, strict=True):
        frames = x.audio[k * skeleton.UNIT_FRAMES : (k + 1) * skeleton.UNIT_FRAMES]
        if len(frames) < skeleton.UNIT_FRAMES:
            continue
        speed = skeleton.joint_speed(unit)
        for w in range(0, skeleton.UNIT_FRAMES, WINDOW):
            music.append(frames[w : w + WINDOW, ENERGY_FEATURE].mean())
            move.append(np.log(speed[w : w + WINDOW].mean() + 1e-3))
    return np.asarray(music), np.asarray(move)


def _dependence_rows(clips: list[CardClip], seed: int) -> list[dict[str, Any]]:
    """Music-movement dependence per style and overall, with the shuffled-music control."""
    rng = np.random.default_rng(seed)
    rows = []
    for style in [*_style_order([x.style for x in clips]), "all"]:
        group = [x for x in clips if style in ("all", x.style)]
        if len(group) < 2:
            continue
        music, move = zip(*(_windows(x) for x in group), strict=True)
        n = len(group)
        same = dependence(list(music), list(move), np.arange(n))
        shuffled = []
        for _ in range(5):  # another clip's music: a random derangement, five times
            shift = rng.integers(1, n)
            perm = rng.permutation(n)
            pairs = np.empty(n, dtype=int)
            pairs[perm] = perm[(np.arange(n) + shift) % n]
            shuffled.append(dependence(list(music), list(move), pairs))
        note = f"{n} clips, windows of {WINDOW} frames"
        rows.append(_row("music_movement_dependence", same, style, note=note))
        rows.append(
            _row("music_movement_dependence_shuffled", float(np.mean(shuffled)), style, note=note)
        )
    return rows


def describe(data_dir: str | Path, seed: int = 0, max_tracked: int = 60) -> pd.DataFrame:
    """The card of a dataset in the original layout: one row per quantity (see module doc).

    DataError naming the file when the dataset is malformed. `max_tracked` caps the clips
    whose beats librosa tracks (only for clips without true beats in meta.json).
    """
    index = read_dataset(data_dir, check_arrays=False)
    clips = _load(index)
    rows = _counts(index, clips) + _tempo_rows(index, clips)
    return pd.concat(
        [pd.DataFrame(rows, columns=COLUMNS), describe_clips(clips, seed, max_tracked)]
    )


def describe_clips(clips: list[CardClip], seed: int = 0, max_tracked: int = 60) -> pd.DataFrame:
    """The card's baselines, beat alignment and music-movement dependence of loaded clips."""
    rows = _style_accuracy(clips) + _beat_rows(clips, max_tracked) + _dependence_rows(clips, seed)
    return pd.DataFrame(rows, columns=COLUMNS).reset_index(drop=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`d2m describe --data DIR --out card.csv`: write a dataset's card and print it."""
    parser = argparse.ArgumentParser(prog="d2m describe", description=describe.__doc__)
    parser.add_argument("--data", required=True, type=Path, help="dataset directory")
    parser.add_argument("--out", type=Path, default=None, help="card .csv (default: print only)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled control")
    args = parser.parse_args(argv)
    card = describe(args.data, seed=args.seed)
    if args.out is not None:
        write_text(args.out, card.to_csv(index=False))
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(card.to_string(index=False))
    return 0
