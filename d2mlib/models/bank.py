"""Keys of music windows by their loudness curve, which a bank composer (`models.composer`,
``bank_match="music"``) and the keyed-retrieval floor (`metrics.KeyedRetrieval`) match by; and
Gaussians fitted to a bank's latents given those keys, which a bank composer draws from with
``bank_match="fitted"`` (not the paper's: a density fitted to an autoencoder's latents after
training, as regularised deterministic autoencoders do, Ghosh et al. 2020)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from d2mlib.audio import N_CEPSTRA
from d2mlib.errors import ConfigError

KEY_CHANNELS = (N_CEPSTRA, 2 * N_CEPSTRA + 1)  # audio features: log energy and its change


def music_keys(audio: Tensor) -> Tensor:
    """Keys (B, frames * 2) of music windows (B, frames, 28): log energy and its change, each
    standardised over the window's frames, scaled so that a key's dot product with another is
    their mean correlation (1 for the same loudness curve; 0 for a flat one)."""
    if audio.ndim != 3 or audio.shape[-1] <= max(KEY_CHANNELS) or audio.shape[1] < 2:
        raise ConfigError(f"music_keys takes audio (B, frames >= 2, 28), got {tuple(audio.shape)}")
    k = audio[..., list(KEY_CHANNELS)].float()
    k = (k - k.mean(1, keepdim=True)) / (k.std(1, correction=0, keepdim=True) + 1e-6)
    return k.reshape(len(k), -1) / math.sqrt(k.shape[1] * k.shape[2])


# the ridge penalties `fit_latent_gaussians` chooses among
RIDGES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
FOLDS = 5  # ... by this many folds of held-out error over the bank


@dataclass(frozen=True)
class LatentGaussian:
    """A Gaussian over one style's dance latents whose mean moves linearly with the music's key:
    z = mean + (key - key_mean) @ weight + chol @ e, with e standard normal."""

    mean: Tensor  # (Z,)
    key_mean: Tensor  # (K,)
    weight: Tensor  # (K, Z)
    chol: Tensor  # (Z, Z) lower-triangular factor of the residual covariance
    ridge: float  # the penalty chosen by held-out error
    explained: float  # the fraction of the latents' variance the key's linear map explains


def _ridge(keys: Tensor, z: Tensor, penalty: float) -> Tensor:
    """Ridge weights (K, Z) from centred keys (N, K) to centred latents (N, Z)."""
    eye = torch.eye(keys.shape[1], dtype=keys.dtype, device=keys.device)
    return torch.linalg.solve(keys.T @ keys + penalty * eye, keys.T @ z)


def _held_out_ridge(keys: Tensor, z: Tensor, generator: torch.Generator) -> float:
    """The penalty in RIDGES with the least squared error on held-out folds of (keys, z)."""
    order = torch.randperm(len(z), generator=generator)
    errors = torch.zeros(len(RIDGES), dtype=torch.float64)
    for held in order.chunk(min(FOLDS, len(z))):  # each fold centred once, then every penalty
        train = torch.ones(len(z), dtype=torch.bool)
        train[held] = False
        km, zm = keys[train].mean(0), z[train].mean(0)
        for i, penalty in enumerate(RIDGES):
            w = _ridge(keys[train] - km, z[train] - zm, penalty)
            errors[i] += float(((z[held] - zm - (keys[held] - km) @ w) ** 2).sum())
    return RIDGES[int(errors.argmin())]


def _fit(z: Tensor, keys: Tensor, generator: torch.Generator) -> LatentGaussian:
    """One `LatentGaussian` fitted to latents z (N, Z) and keys (N, K), in float64."""
    zs, ks = z.double().cpu(), keys.double().cpu()
    penalty = _held_out_ridge(ks, zs, generator)
    km, zm = ks.mean(0), zs.mean(0)
    w = _ridge(ks - km, zs - zm, penalty)
    resid = zs - zm - (ks - km) @ w
    cov = resid.T @ resid / (len(zs) - 1)
    jitter = 1e-6 * float(cov.diagonal().mean()) + 1e-12
    chol = torch.linalg.cholesky(cov + jitter * torch.eye(len(zm), dtype=cov.dtype))
    explained = 1.0 - float(resid.var(0).sum() / (zs - zm).var(0).sum())
    return LatentGaussian(zm, km, w, chol, penalty, explained)


ALL_STYLES = -1  # the key of the fit to every kept latent, for styles with too few of their own


def fit_latent_gaussians(
    z: Tensor, styles: Tensor, keys: Tensor, seed: int = 0
) -> dict[int, LatentGaussian]:
    """A `LatentGaussian` per style label in `styles` (N,), fitted to the bank's latents
    z (N, Z) and their music's keys (N, K): a ridge map from key to latent (its penalty chosen
    by held-out error) and the full covariance of what it leaves; a style with fewer than
    2 * FOLDS latents has none, and ALL_STYLES is fitted to them all."""
    if not (len(z) == len(styles) == len(keys)) or z.ndim != 2 or keys.ndim != 2:
        raise ConfigError(
            "fit_latent_gaussians takes z (N, Z), styles (N,) and keys (N, K) of one bank, got "
            f"{tuple(z.shape)}, {tuple(styles.shape)} and {tuple(keys.shape)}"
        )
    if len(z) < 2 * FOLDS:
        raise ConfigError(f"the bank keeps {len(z)} latents; a fit needs {2 * FOLDS}")
    generator = torch.Generator().manual_seed(seed)
    fits = {ALL_STYLES: _fit(z, keys, generator)}
    for label in styles.unique().tolist():
        rows = styles == label
        if int(rows.sum()) >= 2 * FOLDS:
            fits[int(label)] = _fit(z[rows], keys[rows], generator)
    return fits


def draw_latents(
    fits: dict[int, LatentGaussian],
    labels: Tensor,
    keys: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dance latents (B, Z), one per style label (B,) and music key (B, K), each drawn from its
    style's `LatentGaussian`, or from the fit to all styles where its style has none."""
    out = []
    for label, key in zip(labels.tolist(), keys.double().cpu(), strict=True):
        fit = fits.get(int(label), fits[ALL_STYLES])
        e = torch.randn(len(fit.mean), generator=generator, device=keys.device).double().cpu()
        out.append(fit.mean + (key - fit.key_mean) @ fit.weight + fit.chol @ e)
    return torch.stack(out).float().to(keys.device)
