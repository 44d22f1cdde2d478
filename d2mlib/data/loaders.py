"""The torch loaders of the three training uses (units, sequences of units, audio windows),
gathering whole batches from the feature store; batch order is a function of (seed, epoch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from d2mlib.data.layout import AUDIO_DIM, JITTER_PIXELS, SEQ_LENGTHS
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError, DataError
from d2mlib.skeleton import POSE_DIM, UNIT_FRAMES


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
