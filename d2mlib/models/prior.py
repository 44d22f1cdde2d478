"""The composer's prior over dance latents, and the losses that align it (`models.composer`).

The paper's music-style encoder maps (style code, noise) to a dance latent; it never hears the
music itself, only the 30-d style code the extractor reads from it. A dance latent carries when
the dance's movements happen, so a prior that knows only the style cannot place them on this
music's beats. With ``prior="music"`` (not the paper's) the encoder also reads the window's audio
frames through a small recurrent net (`MusicWindowEncoder`), and ``w_prior_fit`` fits it to the
latents the dance encoder gives the same window's real dance (`gaussian_nll`, the dance latents
detached, so the fit moves the prior and not the autoencoder), as a conditional VAE fits its
prior. Neither is in the book's preset: measured once outside the build (1 December 2026, one
seed, 800 steps, the bank's autoencoder recipe), such a prior composed at FID 118 and diversity
4.9 where the same autoencoder rebuilt the real dances at 17.6 and 12.3; its mean latent
composed a dance that stood still (FID 272, beat hit rate 0), so the music it heard did not pin
the latent down, and its samples moved by their noise (music dependence 0.00). Beside the
book's composer terms it composed at FID 98 against their 84.

`PriorMoments` (``prior_moments``; not the paper's, off in every preset) keeps running moments
of the latents the dance encoder gives training sequences and of those the prior draws for their
music, and moves each composed draw so that its mean and spread per dimension are the encoder's.
The training chapter measures how spread the prior's draws are against the encoder's latents:
about half at the paper's reconstruction weights, 0.71 times at the book's (3 times those;
the 5750087 build, 1,600 steps), 0.87 after 6,400 steps on batches of 16 (the 5bbc1db build).
Measured in two cold builds of the book at the paper's reconstruction weights (2 December 2026,
3bc8397 and e8bee0b: the same composer weights, 3 noise seeds, 180 test clips), moving the draws
took FID from 116.5 to 100.0 (random real units 61.3) but the beat hit rate from 0.427 to 0.383
and music dependence from 0.34 to 0.21; the composer then beat both floors on 3 of 15 metrics,
not 9.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from d2mlib.config import ComposerConfig
from d2mlib.errors import ConfigError
from d2mlib.models.dance_unit import Gaussian, mlp
from d2mlib.models.rnn import full, make_rnn, run_rnn


class MusicWindowEncoder(nn.Module):
    """A window's audio frames (B, frames, A) -> a music embedding (B, hidden): a GRU/LSTM's last
    state."""

    def __init__(self, cfg: ComposerConfig, audio_dim: int) -> None:
        super().__init__()
        self.rnn = make_rnn(cfg.rnn, audio_dim, cfg.style_enc_hidden)

    def forward(self, audio: Tensor) -> Tensor:
        """The embedding of each window."""
        h0 = audio.new_zeros(1, audio.shape[0], self.rnn.hidden_size)
        return run_rnn(self.rnn, audio, h0, naive=False)[:, -1]


class MusicStyleEncoder(nn.Module):
    """(style code (B, 30), noise (B, 30)) -> Gaussian over the dance latent (B, 512); with
    ``prior="music"`` the window's audio frames (B, frames, A) as well."""

    def __init__(self, cfg: ComposerConfig, audio_dim: int = 28) -> None:
        super().__init__()
        h = cfg.style_enc_hidden
        self.music = MusicWindowEncoder(cfg, audio_dim) if cfg.prior == "music" else None
        heard = h if self.music is not None else 0
        self.body = mlp([cfg.style_dim + cfg.noise_dim + heard, h, 2 * h], last_act=True)
        self.head = nn.Linear(2 * h, 2 * cfg.z_dance)

    def forward(self, style_code: Tensor, noise: Tensor, audio: Tensor | None = None) -> Gaussian:
        """Posterior of the dance latent."""
        x = [style_code, noise]
        if self.music is not None:
            if audio is None:
                raise ConfigError("a prior that hears the music takes each window's audio=")
            x.append(self.music(audio.to(style_code.dtype)))
        out = full(self.head(self.body(torch.cat(x, dim=1))))
        mu, logvar = out.chunk(2, dim=-1)
        return Gaussian(mu, logvar)


MOMENTS_MOMENTUM = 0.01  # each training batch's share of the running moments


class PriorMoments(nn.Module):
    """Running per-dimension mean and variance of real (dance-encoder) and drawn (prior) dance
    latents, kept as buffers; `match` moves drawn latents onto the real latents' moments."""

    def __init__(self, z_dance: int) -> None:
        super().__init__()
        for side in ("real", "drawn"):
            self.register_buffer(f"{side}_mean", torch.zeros(z_dance))
            self.register_buffer(f"{side}_var", torch.ones(z_dance))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, real: Tensor, drawn: Tensor) -> None:
        """Fold one training batch of real and drawn latents (B, z_dance) into the moments."""
        rate = 1.0 if int(self.seen) == 0 else MOMENTS_MOMENTUM
        for side, z in (("real", real), ("drawn", drawn)):
            z = z.detach().float()
            mean, var = getattr(self, f"{side}_mean"), getattr(self, f"{side}_var")
            mean.lerp_(z.mean(0), rate)
            var.lerp_(z.var(0, correction=0), rate)
        self.seen += 1

    def match(self, z: Tensor) -> Tensor:
        """Drawn latents (B, z_dance) moved to the real latents' mean and spread per dimension."""
        if int(self.seen) == 0:
            raise ConfigError("the prior's moments were never updated: train the composer first")
        scale = torch.sqrt(self.real_var / self.drawn_var.clamp_min(1e-12))
        return self.real_mean + (z - self.drawn_mean) * scale


def moved(moments: PriorMoments | None, z: Tensor) -> Tensor:
    """Drawn latents `z` (B, z_dance) moved onto the encoder's moments; as they are without any."""
    return z if moments is None else moments.match(z)


def gaussian_nll(x: Tensor, q: Gaussian) -> Tensor:
    """Negative log-likelihood of `x` (B, D) under the diagonal Gaussian `q`, less its constant:
    summed over D, averaged over B."""
    return 0.5 * ((x - q.mu).pow(2) * torch.exp(-q.logvar) + q.logvar).sum(-1).mean()


def mmd(x: Tensor, y: Tensor, scales: Sequence[float] = (0.25, 1.0, 4.0)) -> Tensor:
    """Squared maximum mean discrepancy between samples `x` and `y` (N, D): Gaussian kernels
    whose widths are `scales` times the mean squared distance within `x`; 0 when they match."""
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).pow(2)
    n = x.shape[0]
    width = d2[:n, :n].detach().sum() / max(n * (n - 1), 1) + 1e-8
    k = sum(torch.exp(-d2 / (s * width)) for s in scales)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def lsgan(score: Tensor, target: float) -> Tensor:
    """Least-squares GAN loss of scores against a 0/1 target."""
    return (score - target).pow(2).mean()
