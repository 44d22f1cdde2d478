"""The evaluation's bounds that are not models: retrieval of a training dance for similar music,
retrieval of training windows whose loudness curve matches the music's (`KeyedRetrieval`),
random units chained, real units passed through the dance-unit VAE (a ceiling), and real dances
passed through the composer's own autoencoder (the composer's ceiling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from d2mlib import skeleton
from d2mlib.generate import DanceGenerator, n_units_for, reconstruct_units
from d2mlib.metrics.eval_data import EvalData
from d2mlib.models.bank import music_keys
from d2mlib.models.composer import WINDOW_UNITS
from d2mlib.validate import check_dance, metric_error


def chain_units(units: Sequence[np.ndarray], frames: int | None = None) -> np.ndarray:
    """Concatenate dance pieces, translating each so it starts where the previous one ended.

    Each piece is shifted so that the mean position of its first pose equals the mean
    position of the previous piece's last pose; the result is cut to `frames` if given.
    """
    if not units:
        raise metric_error("chain_units: empty set (no units)")
    out = [check_dance(units[0], "chain_units[0]")]
    for i, u in enumerate(units[1:], start=1):
        u = check_dance(u, f"chain_units[{i}]")
        shift = out[-1][-1].mean(axis=0) - u[0].mean(axis=0)
        out.append(u + shift)
    dance = np.concatenate(out)
    return dance if frames is None else dance[:frames]


def _music_key(feats: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    z = (np.asarray(feats, dtype=np.float64) - mean) / std
    return np.concatenate([z.mean(axis=0), z.std(axis=0)])


def retrieval_baseline(data: EvalData) -> list[np.ndarray]:
    """Nearest-neighbour retrieval: for each piece, the training dance whose music is closest.

    Music is compared by the mean and std over time of its normalised audio features (56
    values); the retrieved dance is cut to (or chained up to) the real dance's length.
    """
    keys = np.stack([_music_key(a, data.audio_mean, data.audio_std) for a in data.train_audio])
    out = []
    for feats, real in zip(data.audio, data.dances, strict=True):
        q = _music_key(feats, data.audio_mean, data.audio_std)
        best = data.train_dances[int(np.argmin(np.sum((keys - q) ** 2, axis=1)))]
        reps = -(-real.shape[0] // best.shape[0])
        out.append(chain_units([best] * reps, real.shape[0]))
    return out


def random_units_baseline(
    data: EvalData, seed: int, sample: int = 0, clips: Sequence[int] | None = None
) -> list[np.ndarray]:
    """Random units: training units drawn at random (any style) and chained to each piece's length.

    For a given seed the first unit of each piece is fixed (the "initial pose"); `sample`
    redraws the others, so that multimodality has a meaning here too. `clips` picks the
    pieces (positions in `data`; default all).
    """
    n_units = data.train_units.shape[0]
    out = []
    for i in range(len(data.dances)) if clips is None else clips:
        frames = data.dances[i].shape[0]
        need = -(-frames // data.train_units.shape[1])
        first = int(np.random.default_rng([seed, i]).integers(n_units))
        rest = np.random.default_rng([seed, i, sample + 1]).integers(n_units, size=need - 1)
        out.append(chain_units([data.train_units[first], *data.train_units[rest]], frames))
    return out


class KeyedRetrieval:
    """Retrieval by the music's loudness curve: each 3-unit window of a piece gets one of the
    `topk` training windows (starting on a unit) whose music has the keys
    (`models.bank.music_keys`) that best match the window's, drawn by (seed, piece, sample),
    and the windows are chained. By default it draws from every training window of any style;
    `pool` keeps a random subset of that many windows (drawn by `pool_seed`) and `by_style`
    draws within the piece's style, as a music-matched bank composer keeps its last `bank_size`
    training windows and draws within the song's style: with both, the bank's draw with real
    dance in place of its decoder."""

    span = WINDOW_UNITS * skeleton.UNIT_FRAMES  # frames of one composed window

    def __init__(
        self,
        data: EvalData,
        topk: int = 8,
        pool: int | None = None,
        by_style: bool = False,
        pool_seed: int = 0,
    ) -> None:
        span = self.span
        if int(topk) < 1:
            raise metric_error(f"keyed retrieval: topk must be >= 1, got {topk}")
        if pool is not None and int(pool) < 1:
            raise metric_error(f"keyed retrieval: pool must be >= 1, got {pool}")
        if by_style and data.train_styles is None:
            raise metric_error("keyed retrieval by style: the data carries no training styles")
        train_styles = data.train_styles if by_style else np.zeros(len(data.train_dances), int)
        windows, music, styles = [], [], []
        for dance, feats, style in zip(
            data.train_dances, data.train_audio, train_styles, strict=True
        ):
            n = min(len(dance), len(feats))
            for start in range(0, n - span + 1, skeleton.UNIT_FRAMES):
                windows.append(dance[start : start + span])
                music.append(feats[start : start + span])
                styles.append(int(style))
        if not windows:
            raise metric_error(f"keyed retrieval: no training dance is {span} frames long")
        keep = np.arange(len(windows))
        if pool is not None and int(pool) < len(windows):
            rng = np.random.default_rng(pool_seed)
            keep = np.sort(rng.choice(len(windows), int(pool), replace=False))
        self.windows = np.stack(windows)[keep].astype(np.float64)
        self.styles = np.asarray(styles, dtype=np.int64)[keep]
        self.keys = music_keys(torch.from_numpy(np.stack(music)[keep].astype(np.float32)))
        self.topk = min(int(topk), len(keep))
        self.by_style = bool(by_style)
        self.data = data

    def __call__(self, seed: int, sample: int, clips: Sequence[int]) -> list[np.ndarray]:
        """The dances of pieces `clips` (positions in the data) for one seed and sample."""
        span = self.span
        out = []
        for i in clips:
            frames = self.data.dances[i].shape[0]
            feats = np.asarray(self.data.audio[i][:frames], np.float32)
            n_windows = n_units_for(frames) // WINDOW_UNITS
            feats = np.pad(feats, ((0, n_windows * span - len(feats)), (0, 0)), mode="edge")
            match = music_keys(torch.from_numpy(feats.reshape(n_windows, span, -1))) @ self.keys.T
            topk = self.topk
            if self.by_style:  # the piece's style only, or any where none of it is kept
                mine = torch.from_numpy(self.styles == int(self.data.styles[i]))
                if bool(mine.any()):
                    match[:, ~mine] = -torch.inf
                    topk = min(topk, int(mine.sum()))
            best = match.topk(topk, dim=1).indices.numpy()
            pick = np.random.default_rng([seed, i, sample]).integers(topk, size=n_windows)
            out.append(chain_units(list(self.windows[best[np.arange(n_windows), pick]]), frames))
        return out


def unit_reconstruction_ceiling(
    dance_unit: nn.Module, normaliser: skeleton.Normaliser, data: EvalData
) -> list[np.ndarray]:
    """Each evaluated real dance with every 32-frame unit replaced by its reconstruction through
    the decomposition VAE (posterior means), in place (a reconstruction keeps its unit's
    position): what a composer that found every unit's true movement code would reach, the
    ceiling the decomposition sets for the composer. Frames after the last whole unit stay real."""

    out = []
    for i, real in enumerate(data.dances):
        real = check_dance(real, f"dance {i}")
        frames = skeleton.UNIT_FRAMES * (real.shape[0] // skeleton.UNIT_FRAMES)
        if frames == 0:
            raise metric_error(f"dance {i}: {real.shape[0]} frames, shorter than one unit")
        units = real[:frames].reshape(-1, skeleton.UNIT_FRAMES, *real.shape[1:]).astype(np.float32)
        recon = reconstruct_units(dance_unit, normaliser, units).astype(np.float64)
        out.append(np.concatenate([recon.reshape(frames, *real.shape[1:]), real[frames:]]))
    return out


def composer_reconstruction_ceiling(generator: DanceGenerator, data: EvalData) -> list[np.ndarray]:
    """Each evaluated real dance rebuilt through the composer's dance encoder and decoder with its
    music (`DanceGenerator.rebuild`): what the composer would reach if its music path found each
    dance's own dance latent. It falls short of `unit_reconstruction_ceiling` by what the
    composer's autoencoder loses. Frames after the music's end stay real."""

    out = []
    for i, (real, feats) in enumerate(zip(data.dances, data.audio, strict=True)):
        real = check_dance(real, f"dance {i}")
        rebuilt = generator.rebuild(real, feats, f"dance {i}").astype(np.float64)
        out.append(np.concatenate([rebuilt, real[len(rebuilt) :]]))
    return out
