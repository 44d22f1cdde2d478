"""Gaussians fitted to a bank's latents (`models.bank.fit_latent_gaussians`, `draw_latents`)."""

from __future__ import annotations

import pytest
import torch

from d2mlib.errors import ConfigError
from d2mlib.models.bank import ALL_STYLES, draw_latents, fit_latent_gaussians


def _bank(signal: float, n: int = 1000, k: int = 12, z: int = 6, seed: int = 0):
    """Latents of two styles whose means differ by 3, plus `signal` times a linear map of keys."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(n, k, generator=g)
    styles = torch.arange(n) % 2
    weight = torch.randn(k, z, generator=g)
    noise = torch.randn(n, z, generator=g) @ torch.diag(torch.linspace(0.5, 2.0, z))
    latents = 3.0 * styles[:, None] + signal * keys @ weight + noise
    return latents, styles, keys, weight


def test_a_fit_recovers_a_linear_map_from_key_to_latent_and_the_styles_means() -> None:
    latents, styles, keys, weight = _bank(signal=1.0)
    fits = fit_latent_gaussians(latents, styles, keys)
    assert sorted(fits) == [ALL_STYLES, 0, 1]
    for label in (0, 1):
        fit = fits[label]
        assert fit.ridge <= 1.0  # a strong map: held-out error picks a small penalty
        assert (
            fit.explained > 0.7
        )  # keys explain most of the variance (its sd is about 3.5, the noise's 0.5 to 2)
        torch.testing.assert_close(fit.weight.float(), weight, atol=0.3, rtol=0)  # 4.5 SE
        assert abs(float(fit.mean.mean()) - 3.0 * label) < 0.3


def test_keys_that_say_nothing_get_the_largest_penalty_and_explain_almost_nothing() -> None:
    latents, styles, keys, _ = _bank(signal=0.0)
    fits = fit_latent_gaussians(latents, styles, keys)
    for fit in fits.values():
        assert fit.ridge >= 100.0 and fit.explained < 0.05


def test_draws_follow_the_key_and_have_the_residual_covariance() -> None:
    latents, styles, keys, weight = _bank(signal=1.0)
    fits = fit_latent_gaussians(latents, styles, keys)
    key = torch.randn(1, keys.shape[1], generator=torch.Generator().manual_seed(5))
    labels = torch.ones(4000, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    drawn = draw_latents(fits, labels, key.expand(4000, -1), g)
    assert drawn.shape == (4000, latents.shape[1]) and drawn.dtype == torch.float32
    fit = fits[1]
    want = (fit.mean + (key[0].double() - fit.key_mean) @ fit.weight).float()
    torch.testing.assert_close(drawn.mean(0), want, atol=0.15, rtol=0)  # 5 SE of 4,000 draws
    torch.testing.assert_close(want, 3.0 + key[0] @ weight, atol=0.6, rtol=0)
    sd = drawn.std(0)
    torch.testing.assert_close(sd, torch.linspace(0.5, 2.0, 6), atol=0.2, rtol=0)
    again = draw_latents(fits, labels, key.expand(4000, -1), torch.Generator().manual_seed(1))
    torch.testing.assert_close(drawn, again, atol=0, rtol=0)  # the generator fixes the draw


def test_a_style_with_too_few_latents_draws_from_the_fit_to_all_and_bad_shapes_fail() -> None:
    latents, styles, keys, _ = _bank(signal=1.0)
    styles = torch.zeros(len(latents), dtype=torch.long)
    styles[:3] = 1
    fits = fit_latent_gaussians(latents, styles, keys)
    assert sorted(fits) == [ALL_STYLES, 0]
    g = torch.Generator().manual_seed(0)
    one = draw_latents(fits, torch.ones(2, dtype=torch.long), keys[:2], g)
    every = draw_latents(
        {ALL_STYLES: fits[ALL_STYLES]},
        torch.ones(2, dtype=torch.long),
        keys[:2],
        torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(one, every, atol=0, rtol=0)
    with pytest.raises(ConfigError, match="one bank"):
        fit_latent_gaussians(latents, styles, keys[:-1])
    with pytest.raises(ConfigError, match="keeps 9 latents; a fit needs 10"):
        fit_latent_gaussians(latents[:9], styles[:9], keys[:9])
