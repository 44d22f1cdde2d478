"""What the composer's networks read (`models.composer`): movement-code features in the order
the dance encoder reads them, per-unit summaries of the music, and the zero padding of a
sequence for the linear paths."""

from __future__ import annotations

import torch
from torch import Tensor

from d2mlib.config import ComposerConfig
from d2mlib.errors import ConfigError
from d2mlib.models.bank import KEY_CHANNELS
from d2mlib.models.dance_unit import Gaussian
from d2mlib.skeleton import UNIT_FRAMES

UNIT_AUDIO_STATS = 2  # per-unit music summary: mean and standard deviation over the unit's frames


def code_features(codes: Gaussian, code_input: str) -> Tensor:
    """What the dance encoder and movement discriminator read of movement codes (B, n, z_m):
    their means with "mean", means and log-variances (B, n, 2 z_m) with "gaussian"."""
    return codes.mu if code_input == "mean" else torch.cat([codes.mu, codes.logvar], dim=2)


def ordered_codes(x: Tensor, code_order: str) -> Tensor:
    """Code features (B, n, D) in the order the dance encoder reads them: as danced with
    "sequence"; each dimension's values sorted over the units with "sorted"; their mean at every
    unit with "pooled". The last two are the same for any reordering of the units, so a latent
    read from them cannot carry the dance's timing."""
    if code_order == "sorted":
        return x.sort(dim=1).values
    if code_order == "pooled":
        return x.mean(dim=1, keepdim=True).expand_as(x).contiguous()
    return x


def code_feature_dim(cfg: ComposerConfig, z_movement: int) -> int:
    """The size of `code_features` for `cfg.code_input`."""
    return z_movement if cfg.code_input == "mean" else 2 * z_movement


def unit_audio_summary(audio: Tensor, n_units: int, music_input: str = "stats") -> Tensor:
    """Audio (B, n*32, F) -> per-unit music: mean and std over frames (B, n, 2F) with "stats",
    the unit's frames themselves (B, n, 32F) with "frames", or the stats and the unit's log
    energy and its change frame by frame (B, n, 2F + 64) with "loudness".

    Mean and standard deviation say how loud and busy a unit's music is, but not where in the
    unit its beats fall, so a composer reading them cannot place its movements' beats; the
    frames and the loudness curve keep that phase. Measured once outside the build (1 December
    2026; one seed; the bank's autoencoder settings with MMD 30; the evaluation's seed-0 clips,
    where random units score FID 52.1 and hit rate 0.310): "loudness" with a dance encoder that
    reads its codes pooled (so the decoder must take the timing from the music) composed dances
    whose speed follows the music's energy (music dependence 0.34 at 800 steps and 0.35 at
    2,000), but at FID 133 and 141 and hit rate 0.27 and 0.31; with the codes read in sequence,
    where the latent can hold the timing, the dependence was 0.04. At 800 steps, the pooled
    reader without the two adversarial terms hit the beat at 0.339 (FID 215, BAS against the
    music 0.20 where the floors score 0.35 and 0.32), and a sequence reader of a shifted view
    (``dance_view="shifted"``) at 0.315 (FID 103, music dependence 0.02); trained with seeds 1
    and 2, the last at 0.278 and 0.315 (FID 186, 192)."""
    b, t, f = audio.shape
    per = audio[:, : (t // n_units) * n_units].reshape(b, n_units, t // n_units, f)
    if music_input == "frames":
        return per.reshape(b, n_units, -1)
    stats = torch.cat([per.mean(2), per.std(2, unbiased=False)], dim=2)
    if music_input == "loudness":
        curve = per[..., list(KEY_CHANNELS)].reshape(b, n_units, -1)  # log energy, its change
        return torch.cat([stats, curve], dim=2)
    return stats


def unit_music_dim(cfg: ComposerConfig, audio_dim: int) -> int:
    """The size of one unit's music summary (`unit_audio_summary`) for `cfg.music_input`."""
    if cfg.music_input == "loudness":
        return UNIT_AUDIO_STATS * audio_dim + UNIT_FRAMES * len(KEY_CHANNELS)
    return (UNIT_FRAMES if cfg.music_input == "frames" else UNIT_AUDIO_STATS) * audio_dim


LINEAR_UNITS = 8  # the longest sequence the dance encoder's and decoder's linear paths map


def linear_units(n: int) -> int:
    """How many zero units pad a sequence of `n` to `LINEAR_UNITS` (a linear path's input)."""
    if n > LINEAR_UNITS:
        raise ConfigError(f"linear_path maps sequences of at most {LINEAR_UNITS} units, got {n}")
    return LINEAR_UNITS - n
