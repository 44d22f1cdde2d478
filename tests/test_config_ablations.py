"""Tests for the ablation study's configs (d2mlib.config.ablation_study)."""

import pytest

from d2mlib import config, studies, train
from d2mlib.errors import ConfigError


def test_ablation_study_switches_one_loss_off_per_system_and_varies_only_the_comp_seed() -> None:
    cfg = config.preset("book")
    study = studies.ablations.ablation_study(cfg, seeds=2, steps=30)
    assert list(study) == ["full", *config.ABLATIONS]
    assert study["full"][0].composer == cfg.composer
    assert study["no_style_regressor"][1].composer.w_style_reg == 0.0
    assert study["no_movement_alignment"][0].composer.w_mov_dist == 0.0
    assert study["no_dance_alignment"][0].composer.w_dance_gan == 0.0
    for cfgs in study.values():
        assert [c.train_comp.seed for c in cfgs] == [0, 1]
        assert all(c.train_comp.steps == 30 for c in cfgs)
        # the style and decomposition runs are shared with the main run
        for c in cfgs:
            for stage in ("style", "decomp"):
                assert train.run_name(stage, c) == train.run_name(stage, cfg)
    names = {train.run_name("comp", c) for cfgs in study.values() for c in cfgs}
    assert len(names) == 8  # every composition run is its own


def test_ablation_study_steps_default_by_preset() -> None:
    book = config.preset("book")
    assert (
        studies.ablations.ablation_study(book, 1)["full"][0].train_comp.steps
        == (studies.ablations.ABLATION_COMP_STEPS["book"])
    )
    smoke = config.preset("smoke")
    assert (
        studies.ablations.ablation_study(smoke, 1)["full"][0].train_comp.steps
        == smoke.train_comp.steps
    )


def test_ablation_study_rejects_no_seeds() -> None:
    with pytest.raises(ConfigError, match="seeds"):
        studies.ablations.ablation_study(config.preset("smoke"), seeds=0)
