"""The original code's way of loading (one .npy file per item, one Dataset item at a time), kept
as the timing chapter's baseline for the feature store's loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from d2mlib.data.layout import JITTER_PIXELS, SEQ_UNITS
from d2mlib.data.loaders import _check_batch, audio_loader, sequence_loader, unit_loader
from d2mlib.data.reader import DatasetIndex, read_dataset
from d2mlib.data.store import FeatureStore, _split_rows, _style_codes
from d2mlib.errors import ConfigError, DataError
from d2mlib.skeleton import POSE_DIM, UNIT_FRAMES


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


# Data loading: the feature store's loaders against the original's per-sample way

LOADERS: tuple[str, ...] = ("unit", "sequence", "audio")


def _naive_frames(arr: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Normalise frame by frame in a Python loop, the way the original code does."""
    out = np.zeros((arr.shape[0], mean.size), dtype=np.float32)
    for t in range(arr.shape[0]):
        out[t] = (arr[t].reshape(mean.size) - mean) / std
    return out


class NaiveSequenceDataset(Dataset):
    """Sequences the original's way: one np.load per sequence and per clip's audio, Python loops."""

    def __init__(self, data_dir: str | Path, split: str = "train", n: int = 3) -> None:

        index = read_dataset(data_dir, check_arrays=False)
        seqs = index.sequences[(index.sequences["split"] == split) & (index.sequences["n"] == n)]
        clips = index.clips
        audio = dict(
            zip(
                zip(clips["style"], clips["video"], clips["clip"], strict=True),
                clips["audio"],
                strict=True,
            )
        )
        keys = zip(seqs["style"], seqs["video"], seqs["clip"], strict=True)
        self.n, self.frames = n, UNIT_FRAMES
        self.paths = list(seqs["path"])
        self.audio = [audio[k] for k in keys]
        self.start = [int(k) * UNIT_FRAMES for k in seqs["k"]]
        self.styles = list(_style_codes(seqs["style"], index.styles))
        self.pose_mean, self.pose_std = (
            index.stats["all_onbeat_mean"],
            index.stats["all_onbeat_std"],
        )
        self.aud_mean, self.aud_std = index.stats["all_aud_mean"], index.stats["all_aud_std"]

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, Any, int]:
        """(units (n, 32, 28), audio (n*32, 28), style), normalised frame by frame."""

        poses = np.load(self.paths[i])
        units = np.stack([_naive_frames(u, self.pose_mean, self.pose_std) for u in poses])
        start = self.start[i]
        feats = np.load(self.audio[i])[start : start + self.n * self.frames]
        aud = _naive_frames(feats, self.aud_mean, self.aud_std)
        return torch.from_numpy(units), torch.from_numpy(aud), self.styles[i]


class NaiveAudioDataset(Dataset):
    """Audio windows the original's way: load the clip's .npy per window, normalise frame by frame."""

    def __init__(
        self, data_dir: str | Path, split: str = "train", window: int = 30, seed: int = 0
    ) -> None:

        index = read_dataset(data_dir, check_arrays=False)
        clips = index.clips[(index.clips["split"] == split) & (index.clips["frames"] >= window)]
        self.mean, self.std = index.stats["all_aud_mean"], index.stats["all_aud_std"]
        self.items = [
            (p, int(f), int(s))
            for p, f, s in zip(
                clips["audio"],
                clips["frames"],
                _style_codes(clips["style"], index.styles),
                strict=True,
            )
            for _ in range(int(f) // window)
        ]
        self.window, self.seed, self.calls = window, seed, 0

    def __len__(self) -> int:
        """Number of windows an epoch."""
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        """(audio (window, 28) at a random offset, style), normalised frame by frame."""

        self.calls += 1
        path, frames, style = self.items[i]
        rng = np.random.default_rng([self.seed, i, self.calls])
        start = int(rng.integers(0, frames - self.window + 1))
        feats = np.load(path)[start : start + self.window]
        return torch.from_numpy(_naive_frames(feats, self.mean, self.std)), style


def make_loader(
    kind: str,
    variant: str,
    data_dir: str | Path,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    split: str = "train",
    store: Any = None,
) -> Any:
    """One of the three loaders ("unit", "sequence", "audio"), from the store or the naive way."""

    if kind not in LOADERS or variant not in ("store", "naive"):
        raise ConfigError(f"unknown loader {kind!r}/{variant!r}; expected {LOADERS} x store|naive")
    if variant == "store":
        store = store or FeatureStore.open(data_dir)
        if kind == "unit":
            return unit_loader(store, split, batch_size, seed, num_workers=num_workers)
        if kind == "sequence":
            return sequence_loader(
                store, split, batch_size, seed, n_units=(3,), num_workers=num_workers
            )
        return audio_loader(store, split, batch_size, seed, drop_last=True, num_workers=num_workers)
    if kind == "unit":
        return naive_unit_loader(data_dir, split, batch_size, seed, num_workers=num_workers)
    ds = (
        NaiveSequenceDataset(data_dir, split, SEQ_UNITS)
        if kind == "sequence"
        else NaiveAudioDataset(data_dir, split, 30, seed)
    )
    if len(ds) < batch_size:
        raise DataError(f"only {len(ds)} {kind} samples in split {split!r}, need {batch_size}")
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
