"""Learning-rate schedules: cosine annealing over a run's steps, constant by default."""

import dataclasses

import pytest
import torch

from d2mlib import config as C
from d2mlib.errors import ConfigError
from d2mlib.models import DecompStage
from d2mlib.models.schedule import cosine_factor, lr_schedulers

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cosine_factor_falls_from_one_to_zero_through_one_half():
    assert cosine_factor(0, 100) == 1.0
    assert cosine_factor(50, 100) == pytest.approx(0.5)
    assert cosine_factor(100, 100) == pytest.approx(0.0)
    assert cosine_factor(150, 100) == pytest.approx(0.0)  # held at zero past the end


def test_constant_schedule_has_no_scheduler_and_leaves_the_hash_alone():
    cfg = C.preset("paper")
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert lr_schedulers({"a": opt}, cfg.train_decomp) == {}
    assert set(lr_schedulers({"a": opt}, C.preset("book").train_decomp)) == {"a"}  # cosine
    cos = dataclasses.replace(
        cfg, train_decomp=dataclasses.replace(cfg.train_decomp, lr_schedule="cosine")
    )
    assert C.config_hash(cos) != C.config_hash(cfg)
    assert "lr_schedule" not in C.hashable(C.to_dict(cfg))["train_decomp"]


def test_cosine_decomp_stage_anneals_its_rates_to_zero_over_its_steps():
    cfg = C.preset("smoke")
    steps = 6
    cfg = dataclasses.replace(
        cfg, train_decomp=dataclasses.replace(cfg.train_decomp, lr_schedule="cosine", steps=steps)
    )
    stage = DecompStage(cfg, device="cpu")
    scheds = stage.schedulers()
    assert set(scheds) == {"dance_unit"}  # the unit discriminator is off (w_gan 0)
    x = torch.randn(4, 32, 28)
    rates = []
    for step in range(steps):
        stage.training_step((x, x, torch.zeros(4, dtype=torch.long)), step)
        for s in scheds.values():
            s.step()
        rates.append(stage.optimizers()["dance_unit"].param_groups[0]["lr"])
    base = cfg.train_decomp.lr
    assert rates[0] == pytest.approx(base * cosine_factor(1, steps))
    assert rates == sorted(rates, reverse=True)
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)


def test_cosine_needs_steps_not_epochs():
    with pytest.raises(ConfigError, match="lr_schedule"):
        C.TrainConfig(lr_schedule="cosine", epochs=3)
    with pytest.raises(ConfigError, match="lr_schedule"):
        C.TrainConfig(lr_schedule="linear")
