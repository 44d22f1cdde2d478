"""How much of the student's jump from 73.5% to 98.7% can a leaky split explain? (book/style.md)

The student's 98.7% came from a random 80/20 split over overlapping sequences whose clips share
audio. `leakage_experiment` reproduces that protocol in any dataset: every clip is cut into
overlapping windows, and the windows are split either at random (``leaky``: windows of the same
clip and video land on both sides) or by video (``by video``: no test video is heard in
training). Each style extractor is trained from scratch on each split for the same number of
steps, and scored per test window; the tidy result feeds `d2mlib.stats.compare` with one row per
(protocol, extractor, seed, clip).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from d2mlib._io import write_text
from d2mlib.config import StyleConfig
from d2mlib.data.layout import data_identity
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError, DataError
from d2mlib.models.style import StyleExtractor

PROTOCOLS = ("leaky", "by video")
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


@dataclass(frozen=True)
class Windows:
    """Overlapping audio windows over every clip of a dataset (one entry per window)."""

    clip: np.ndarray  # (n,) clip row of the clips table
    start: np.ndarray  # (n,) first frame within the clip
    style: np.ndarray  # (n,) style index
    video: np.ndarray  # (n,) video id (one integer per (style, video))
    length: int  # frames per window

    def __len__(self) -> int:
        return len(self.clip)


def overlapping_windows(store: FeatureStore, length: int, stride: int) -> Windows:
    """Windows of `length` frames every `stride` frames of every clip (all splits)."""
    if length < 1 or stride < 1:
        raise ConfigError(f"window length and stride must be >= 1, got {length}, {stride}")
    clips = store.clips_table
    frames = clips["frames"].to_numpy(dtype=np.int64)
    video_id, _ = pd.factorize(clips["style"] + "/" + clips["video"])
    per_clip = np.where(frames >= length, (frames - length) // stride + 1, 0)
    if per_clip.sum() == 0:
        raise DataError(f"no clip holds {length} audio frames", store.data_dir)
    clip = np.repeat(np.arange(len(clips)), per_clip)
    first = np.concatenate([[0], np.cumsum(per_clip)[:-1]])
    start = (np.arange(len(clip)) - np.repeat(first, per_clip)) * stride
    return Windows(clip, start, store.clip_style[clip], video_id[clip], int(length))


def split_windows(windows: Windows, protocol: str, seed: int) -> dict[str, np.ndarray]:
    """Window positions of train, val and test (70/10/20) under `protocol`, drawn with `seed`.

    ``leaky``: a random split of the windows themselves; ``by video``: a random split of the
    videos, each video's windows all on one side.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    rng = np.random.default_rng([seed, PROTOCOLS.index(protocol)])
    unit = np.arange(len(windows)) if protocol == "leaky" else windows.video
    ids = rng.permutation(np.unique(unit))
    n_test = max(1, round(SPLIT_FRACTIONS["test"] * len(ids)))
    n_val = max(1, round(SPLIT_FRACTIONS["val"] * len(ids)))
    if len(ids) < n_test + n_val + 1:
        raise DataError(f"{len(ids)} {'windows' if protocol == 'leaky' else 'videos'} are too few")
    side = {
        "test": ids[:n_test],
        "val": ids[n_test : n_test + n_val],
        "train": ids[n_test + n_val :],
    }
    return {name: np.flatnonzero(np.isin(unit, members)) for name, members in side.items()}


def shared_frames(windows: Windows, a: np.ndarray, b: np.ndarray) -> int:
    """How many audio frames (clip, frame) lie in some window of `a` and some window of `b`."""

    def frames(pos: np.ndarray) -> set[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        for c, s in zip(windows.clip[pos], windows.start[pos], strict=True):
            out.update((int(c), int(f)) for f in range(s, s + windows.length))
        return out

    return len(frames(a) & frames(b))


def _batch(store: FeatureStore, windows: Windows, pos: np.ndarray) -> torch.Tensor:
    """Normalised audio (B, length, 28) of the windows at `pos`."""
    start = store.audio_offsets[windows.clip[pos]] + windows.start[pos]
    rows = start[:, None] + np.arange(windows.length)
    x = store.normalise_audio(store.audio[rows.reshape(-1)]).reshape(len(pos), windows.length, -1)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


@torch.no_grad()
def _predict(
    model: StyleExtractor, store: FeatureStore, windows: Windows, pos: np.ndarray
) -> np.ndarray:
    model.eval()
    out = [
        model(_batch(store, windows, pos[i : i + 256]))[1].argmax(-1).numpy()
        for i in range(0, len(pos), 256)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def train_on_split(
    cfg: StyleConfig,
    store: FeatureStore,
    windows: Windows,
    split: Mapping[str, np.ndarray],
    *,
    steps: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    evals: int = 8,
    max_val: int = 512,
) -> tuple[StyleExtractor, pd.DataFrame]:
    """A style extractor trained from scratch on the split's train windows (Adam, `steps` steps).

    Returns the model and its validation curve (step, accuracy on up to `max_val` val windows,
    measured `evals` times evenly over training).
    """
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    rng = np.random.default_rng([seed, 7])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StyleExtractor(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        train, val = np.asarray(split["train"]), np.asarray(split["val"])
        val = np.sort(rng.choice(val, min(len(val), max_val), replace=False))
        checkpoints = set(np.linspace(0, steps, evals + 1).round().astype(int)[1:])
        curve, order = [], np.zeros(0, dtype=np.int64)
        for step in range(1, steps + 1):
            if len(order) < batch_size:
                order = np.concatenate([order, rng.permutation(train)])
            pos, order = order[:batch_size], order[batch_size:]
            model.train()
            _, logits = model(_batch(store, windows, pos))
            loss = F.cross_entropy(logits, torch.from_numpy(windows.style[pos]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step in checkpoints:
                acc = float(np.mean(_predict(model, store, windows, val) == windows.style[val]))
                curve.append({"step": step, "val_accuracy": acc, "loss": float(loss.detach())})
    return model, pd.DataFrame(curve)


def leakage_experiment(
    store: FeatureStore,
    extractors: Mapping[str, StyleConfig],
    steps: Mapping[str, int],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    stride: int = 16,
    batch_size: int = 64,
    protocols: Sequence[str] = PROTOCOLS,
    max_val: int = 512,
    cache_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each extractor trained on each protocol's split for each seed; per-clip test accuracy.

    Returns (table, curves). table: the tidy layout `stats.compare` reads, with system = the
    protocol, metric = "accuracy (<extractor>)", seed, clip (clip row) and value (the share of
    the clip's test windows classified correctly), plus n_windows. curves: extractor,
    protocol, seed, step, val_accuracy, loss. The seed draws the split and the initial weights.
    With `cache_dir`, each run's results are kept there under a hash of everything they depend
    on (the dataset's identity, the extractor, protocol, seed, steps, batch) and reused.
    """
    missing = [name for name in extractors if name not in steps]
    if missing:
        raise ConfigError(f"leakage_experiment: no steps given for {', '.join(missing)}")
    rows, curves = [], []
    for name, cfg in extractors.items():
        windows = overlapping_windows(store, cfg.window, stride)
        for protocol in protocols:
            for seed in seeds:
                run = dict(steps=int(steps[name]), seed=int(seed), batch_size=batch_size)
                key = _run_key(store, cfg, protocol, stride, max_val, run)
                cached = _load_cached(cache_dir, key)
                if cached is None:
                    split = split_windows(windows, protocol, int(seed))
                    model, curve = train_on_split(
                        cfg, store, windows, split, max_val=max_val, **run
                    )
                    test = split["test"]
                    hit = _predict(model, store, windows, test) == windows.style[test]
                    per_clip = pd.DataFrame({"clip": windows.clip[test], "hit": hit})
                    agg = per_clip.groupby("clip")["hit"].agg(["mean", "size"]).reset_index()
                    cached = (agg, curve)
                    _save_cached(cache_dir, key, cached)
                agg, curve = cached
                curves.append(curve.assign(extractor=name, protocol=protocol, seed=int(seed)))
                rows.append(
                    pd.DataFrame(
                        {
                            "system": protocol,
                            "metric": f"accuracy ({name})",
                            "seed": int(seed),
                            "clip": agg["clip"].astype(int),
                            "value": agg["mean"].astype(float),
                            "n_windows": agg["size"].astype(int),
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True), pd.concat(curves, ignore_index=True)


def window_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy over all test windows per (metric, protocol, seed): a per-run summary table."""
    weighted = table.assign(hits=table["value"] * table["n_windows"])
    runs = weighted.groupby(["metric", "system", "seed"])[["hits", "n_windows"]].sum()
    return (runs["hits"] / runs["n_windows"]).rename("accuracy").reset_index()


def plateau(curves: pd.DataFrame, last: float = 0.5) -> pd.DataFrame:
    """Per (extractor, protocol): validation accuracy at the end, and its change over the last
    `last` share of training (mean over seeds); a plateau shows a change near 0."""
    rows = []
    for (name, protocol), g in curves.groupby(["extractor", "protocol"], sort=False):
        steps = g["step"].max()
        mean = g.groupby("step")["val_accuracy"].mean()
        early = mean[mean.index <= steps * (1 - last)]
        change = mean.iloc[-1] - (early.iloc[-1] if len(early) else mean.iloc[0])
        rows.append(
            {
                "extractor": name,
                "protocol": protocol,
                "steps": int(steps),
                "final val accuracy": float(mean.iloc[-1]),
                f"change over last {last:.0%}": float(change),
            }
        )
    return pd.DataFrame(rows)


def curves_as_metrics(curves: pd.DataFrame) -> pd.DataFrame:
    """Validation curves in the metrics layout `viz.plot_loss_curves` reads (mean over seeds),
    one term per "<extractor>, <protocol>"."""
    mean = curves.groupby(["extractor", "protocol", "step"], sort=False)["val_accuracy"].mean()
    out = mean.reset_index()
    return pd.DataFrame(
        {
            "step": out["step"],
            "epoch": 0,
            "split": "val",
            "term": out["extractor"] + ", " + out["protocol"],
            "value": out["val_accuracy"],
        }
    )


def _run_key(
    store: FeatureStore, cfg: StyleConfig, protocol: str, stride: int, max_val: int, run: dict
) -> str:
    """A hash of what one run's results depend on."""
    what = {
        "data": data_identity(store.data_dir),
        "style": dataclasses.asdict(cfg),
        "protocol": protocol,
        "stride": stride,
        "max_val": max_val,
        "fractions": SPLIT_FRACTIONS,
        **run,
    }
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _load_cached(
    cache_dir: str | Path | None, key: str
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """A cached run's (per-clip results, validation curve), or None."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"leak-{key}.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return pd.read_json(io.StringIO(saved["clips"])), pd.read_json(io.StringIO(saved["curve"]))
    except (OSError, ValueError, KeyError):
        return None  # unreadable: recompute


def _save_cached(
    cache_dir: str | Path | None, key: str, result: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    if cache_dir is None:
        return
    clips, curve = result
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    text = json.dumps({"clips": clips.to_json(), "curve": curve.to_json()})
    write_text(Path(cache_dir) / f"leak-{key}.json", text)
