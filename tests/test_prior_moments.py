"""The prior's moment matching (`models.prior.PriorMoments`, ``prior_moments``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from d2mlib import config as C
from d2mlib.errors import ConfigError
from d2mlib.models.composer import Composer
from d2mlib.models.prior import PriorMoments


def test_matched_draws_take_the_real_latents_mean_and_spread() -> None:
    g = torch.Generator().manual_seed(0)
    real = 3.0 + 2.0 * torch.randn(4000, 5, generator=g)  # mean 3, sd 2
    drawn = -1.0 + 0.5 * torch.randn(4000, 5, generator=g)  # mean -1, sd 0.5: too narrow
    m = PriorMoments(5)
    m.update(real, drawn)
    moved = m.match(drawn)
    assert moved.mean(0) == pytest.approx(real.mean(0), abs=1e-4)
    assert moved.std(0, correction=0) == pytest.approx(real.std(0, correction=0), rel=1e-4)
    assert moved.std(0).mean() == pytest.approx(2.0, rel=0.05)  # from sd 0.5
    # a later batch counts for MOMENTS_MOMENTUM of the running moments
    m.update(real + 100.0, drawn)
    assert m.real_mean == pytest.approx(real.mean(0) + 1.0, abs=1e-4)


def test_unmatched_moments_refuse_and_a_bank_refuses_them() -> None:
    with pytest.raises(ConfigError, match="never updated"):
        PriorMoments(3).match(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="prior_moments"):
        dataclasses.replace(C.ComposerConfig(), prior="bank", prior_moments=True)
    book = C.preset("book")
    moved = dataclasses.replace(
        book, composer=dataclasses.replace(book.composer, prior_moments=True)
    )
    assert not C.bank_recipe(moved).composer.prior_moments
    assert "prior_moments" not in C.hashable(C.to_dict(book))["composer"]


def test_the_composer_draws_through_its_moments_and_the_checkpoint_carries_them() -> None:
    cfg = dataclasses.replace(C.preset("smoke").composer, prior_moments=True)
    comp = Composer(cfg, z_movement=8).eval()
    style, audio = torch.randn(6, cfg.style_dim), torch.randn(6, 96, 28)
    with pytest.raises(ConfigError, match="never updated"):
        comp.generate(style, audio, 3, torch.Generator().manual_seed(1))
    comp.moments.update(torch.randn(64, cfg.z_dance) + 5.0, torch.randn(64, cfg.z_dance))
    seen: dict[str, torch.Tensor] = {}
    match, decode = comp.moments.match, comp.movement_codes
    comp.moments.match = lambda z: seen.setdefault("moved", match(seen.setdefault("drawn", z)))
    comp.movement_codes = lambda z, m: (seen.setdefault("decoded", z), decode(z, m))[1]
    assert torch.isfinite(comp.generate(style, audio, 3, torch.Generator().manual_seed(1))).all()
    assert torch.equal(seen["decoded"], seen["moved"])  # the decoder gets the moved draws
    assert seen["moved"].mean() == pytest.approx(seen["drawn"].mean().item() + 5.0, abs=1.0)
    state = comp.state_dict()
    assert {"moments.real_mean", "moments.drawn_var", "moments.seen"} <= set(state)
    again = Composer(cfg, z_movement=8)
    again.load_state_dict(state)
    assert again.moments.real_mean == pytest.approx(comp.moments.real_mean)
