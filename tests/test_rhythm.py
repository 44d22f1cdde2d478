"""The composer's rhythm term (`models.rhythm`) on dances whose answer is known, and in training."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from d2mlib.config import preset
from d2mlib.errors import ConfigError
from d2mlib.models import CompStage, DanceUnit, StyleExtractor
from d2mlib.models.rhythm import HIGH_PASS_FRAMES, high_pass, rhythm_loss, speed

pytestmark = pytest.mark.usefixtures("one_thread")


def swinging(n: int = 4, frames: int = 96, period: float = 12.0, shift: float = 0.0):
    """Dances (n, frames, 28) whose every coordinate swings with `period` frames, started
    `shift` frames late, with a per-dance amplitude and posture: their speed peaks twice a
    period."""
    g = torch.Generator().manual_seed(3)
    t = torch.arange(frames, dtype=torch.float32)[None, :, None]
    amp = 0.5 + torch.rand(n, 1, 28, generator=g)
    posture = torch.randn(n, 1, 28, generator=g)
    return posture + amp * torch.sin(2 * math.pi * (t - shift) / period)


def test_speed_is_the_distance_between_consecutive_poses():
    poses = torch.zeros(1, 3, 28)
    poses[0, 1, 0], poses[0, 2, :2] = 3.0, torch.tensor([3.0, 4.0])
    assert speed(poses)[0].tolist() == pytest.approx([3.0, 4.0], abs=1e-4)


def test_high_pass_removes_a_steady_level_and_keeps_a_beat():
    steady = torch.full((2, 40), 5.0)
    assert high_pass(steady).abs().max() < 1e-6
    t = torch.arange(60, dtype=torch.float32)
    beat = torch.cos(2 * math.pi * t / 4)[None]  # faster than the window: it stays
    kept = high_pass(beat + 3.0)
    mid = slice(HIGH_PASS_FRAMES, -HIGH_PASS_FRAMES)
    assert torch.corrcoef(torch.stack([kept[0, mid], beat[0, mid]]))[0, 1] > 0.95
    with pytest.raises(ConfigError, match="odd"):
        high_pass(steady, frames=8)


def test_rhythm_loss_is_zero_for_the_same_dance_and_grows_as_the_timing_goes():
    dance = swinging()
    assert float(rhythm_loss(dance, dance)) == pytest.approx(0.0, abs=1e-4)
    # another posture and amplitude, the same timing: only the mean speed's log ratio is paid
    other = swinging(n=4) * 2.0 + 1.0
    assert float(rhythm_loss(other, dance)) == pytest.approx(math.log(2.0), abs=1e-3)
    # speed peaks a quarter period late (where the real dance's speed was lowest): anticorrelated
    late = swinging(shift=3.0)
    assert float(rhythm_loss(late, dance)) > 1.8
    # a dance that stands still pays far more than any timing error
    still = torch.zeros_like(dance) + dance[:, :1]
    assert float(rhythm_loss(still, dance)) > 5.0


def test_rhythm_loss_refuses_mismatched_dances():
    with pytest.raises(ConfigError, match="equal shapes"):
        rhythm_loss(swinging(frames=96), swinging(frames=64))
    with pytest.raises(ConfigError, match="speed"):
        speed(torch.zeros(4, 28))


ALONE = ("w_gan", "w_dance_gan", "w_kl", "w_kl_dance", "w_mov_recon", "w_seq_recon")
ALONE += ("w_mov_dist", "w_style_reg", "w_dance_mmd")


def rhythm_stage(weight: float, alone: bool = False, decoded: int = 0) -> CompStage:
    """A smoke CompStage over untrained frozen networks, with the rhythm term at `weight` (and,
    `alone`, every other term off and a learning rate of 1e-2; `decoded`: the sequences of a
    batch that seq_recon and rhythm decode, 0 for all)."""
    cfg = preset("smoke")
    others = dict.fromkeys(ALONE, 0.0) if alone else {}
    others |= {"decoded_sequences": decoded}
    comp = dataclasses.replace(cfg.composer, music_input="loudness", w_rhythm=weight, **others)
    train = dataclasses.replace(cfg.train_comp, lr=1e-2 if alone else cfg.train_comp.lr)
    cfg = dataclasses.replace(cfg, composer=comp, train_comp=train)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        style, dance = StyleExtractor(cfg.style), DanceUnit(cfg.dance_unit)
    return CompStage(cfg, style, dance, device="cpu")


def rhythm_batch(n_units: int = 3):
    """(units (6, n, 32, 28), audio (6, n*32, 28), style (6,)) of swinging dances."""
    units = swinging(n=6, frames=32 * n_units).view(6, n_units, 32, 28)
    audio = torch.randn(6, 32 * n_units, 28, generator=torch.Generator().manual_seed(1))
    return units, audio, torch.arange(6) % 3


def test_the_rhythm_term_trains_the_dance_decoder_through_the_frozen_unit_decoder():
    stage = rhythm_stage(2.0)
    batch = rhythm_batch()
    f = stage.forward(batch)
    terms = stage.generator_losses(f)
    assert 0.0 < float(terms["rhythm"].detach()) < 2.0 * 50  # weighted, finite
    stage.composer.zero_grad()
    terms["rhythm"].backward()
    grads = [p.grad for p in stage.composer.dance_dec.parameters()]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    assert all(p.grad is None for p in stage.dance_unit.parameters())  # frozen stays frozen
    assert "rhythm" in stage.training_step(batch, 0)
    assert "rhythm" not in rhythm_stage(0.0).training_step(batch, 0)  # weight 0: no term


def test_the_rhythm_term_alone_goes_down_in_training():
    """Measured (rhythm term alone, lr 1e-2, 40 steps on one batch, over an untrained unit
    decoder): the validation term fell from 4.06 to 3.35, 0.82x. Threshold: 0.9x."""
    stage = rhythm_stage(1.0, alone=True)
    batch = rhythm_batch()
    before = float(stage.validation_step(batch)["rhythm"])
    for s in range(40):
        stage.training_step(batch, s)
    assert float(stage.validation_step(batch)["rhythm"]) < 0.9 * before


def test_decoded_sequences_keeps_seq_recon_and_rhythm_to_the_first_sequences():
    """With decoded_sequences=2 both terms read the batch's first 2 sequences only: changing
    the other 4 leaves them exactly as they were, where with all decoded they move."""
    units, audio, style = rhythm_batch()
    other = units.clone()
    other[2:] = 3.0 * units[2:].flip(2) + 1.0  # louder, reversed, moved: other speeds and poses
    for decoded, same in ((2, True), (0, False)):
        stage = rhythm_stage(1.0, decoded=decoded)
        a = stage.validation_step((units, audio, style))
        b = stage.validation_step((other, audio, style))
        for term in ("seq_recon", "rhythm"):
            x, y = float(a[term]), float(b[term])
            assert (abs(x - y) <= 1e-5 * abs(x)) == same, (decoded, term, x, y)


def test_a_negative_rhythm_weight_is_refused():
    with pytest.raises(ConfigError, match="w_rhythm"):
        dataclasses.replace(preset("smoke").composer, w_rhythm=-1.0)
