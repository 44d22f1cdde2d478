"""Tests for d2mlib.models.prior: the prior that hears the music, and its fit to the dance latents."""

import dataclasses
import math

import pytest
import torch

from d2mlib.config import preset
from d2mlib.errors import ConfigError
from d2mlib.models import CompStage, DanceUnit, StyleExtractor
from d2mlib.models.dance_unit import Gaussian
from d2mlib.models.prior import MusicStyleEncoder, gaussian_nll

pytestmark = pytest.mark.usefixtures("one_thread")


def music_smoke(**changes):
    """The smoke preset with a prior that hears the music (plus `changes` to the composer)."""
    cfg = preset("smoke")
    c = dataclasses.replace(cfg.composer, prior="music", **changes)
    return dataclasses.replace(cfg, composer=c)


def batch(b: int = 6, n_units: int = 3, seed: int = 0):
    """(units (B, n, 32, 28), audio (B, n*32, 28), style (B,)) of random values."""
    g = torch.Generator().manual_seed(seed)
    units = 0.1 * torch.randn(b, n_units, 32, 28, generator=g).cumsum(2)
    audio = torch.randn(b, n_units * 32, 28, generator=g)
    return units, audio, torch.arange(b) % 3


def test_gaussian_nll_matches_the_closed_form():
    mu = torch.tensor([[0.0, 1.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    q = Gaussian(mu, logvar)
    # x = mu: only the log-variances; one sd away on each dimension: 0.5 more per dimension
    assert gaussian_nll(mu, q).item() == pytest.approx(0.5 * math.log(4.0))
    x = mu + torch.tensor([[1.0, 2.0]])
    assert gaussian_nll(x, q).item() == pytest.approx(0.5 * (2 + math.log(4.0)))


def test_the_music_prior_hears_the_music_and_the_paper_prior_does_not():
    cfg = music_smoke().composer
    torch.manual_seed(0)
    enc = MusicStyleEncoder(cfg, audio_dim=28)
    style, noise = torch.randn(2, cfg.style_dim), torch.randn(2, cfg.noise_dim)
    a, b = torch.randn(2, 96, 28), torch.randn(2, 96, 28)
    with torch.no_grad():
        assert not torch.allclose(enc(style, noise, a).mu, enc(style, noise, b).mu)
    with pytest.raises(ConfigError, match="audio"):
        enc(style, noise)
    paper = MusicStyleEncoder(preset("smoke").composer, audio_dim=28)
    assert paper.music is None
    assert paper(style, noise).mu.shape == (2, cfg.z_dance)


def test_the_prior_fit_moves_the_prior_only():
    cfg = music_smoke(w_prior_fit=1.0)
    torch.manual_seed(3)
    stage = CompStage(cfg, StyleExtractor(cfg.style), DanceUnit(cfg.dance_unit), device="cpu")
    terms = stage.generator_losses(stage.forward(batch()))
    assert terms["prior_fit"] > 0
    c = stage.composer
    enc, prior = list(c.dance_enc.parameters()), list(c.style_enc.parameters())
    grads = torch.autograd.grad(terms["prior_fit"], enc + prior, allow_unused=True)
    assert all(g is None or not g.any() for g in grads[: len(enc)])  # the latents are the target
    assert all(g is not None and g.abs().sum() > 0 for g in grads[len(enc) :])  # music GRU too
    without = dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, w_prior_fit=0))
    stage = CompStage(without, stage.style, stage.dance_unit, device="cpu")
    assert "prior_fit" not in stage.generator_losses(stage.forward(batch()))


def test_a_fitted_music_prior_learns_latents_that_the_music_decides():
    """Latents set by where the music's loudest frame falls: the prior that hears the music
    fits them far better than the paper's prior, which only sees a style code and noise."""
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(256, 96, 28, generator=g)
    target = torch.tanh(audio[:, :, 0].cumsum(1)[:, ::12])  # 8 numbers that follow the music
    nll = {}
    for prior in ("learned", "music"):
        cfg = dataclasses.replace(
            preset("smoke").composer, prior=prior, z_dance=target.shape[1], style_enc_hidden=32
        )
        torch.manual_seed(0)
        enc = MusicStyleEncoder(cfg, audio_dim=28)
        opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
        style = torch.zeros(len(audio), cfg.style_dim)
        for _ in range(150):
            noise = torch.randn(len(audio), cfg.noise_dim, generator=g)
            loss = gaussian_nll(target, enc(style, noise, audio))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            nll[prior] = gaussian_nll(target, enc(style, torch.zeros_like(noise), audio)).item()
    assert nll["music"] < nll["learned"] - 10.0, nll  # measured: -16.2 against 3.0
