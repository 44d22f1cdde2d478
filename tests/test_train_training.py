"""Tests for the training chapter's helpers in d2mlib.train: step overrides, held-out scores, overview."""

from __future__ import annotations

import pytest

from d2mlib import config, data, generate, studies, train
from d2mlib.errors import ConfigError


def test_with_steps_sets_every_stage_and_none_keeps_the_config():
    cfg = config.preset("book")
    assert config.with_steps(cfg, None) is cfg
    short = config.with_steps(cfg, 7)
    assert [short.train_for(s).steps for s in config.STAGES] == [7, 7, 7]
    assert short.train_decomp.batch_size == cfg.train_decomp.batch_size
    assert train.run_name("decomp", short) != train.run_name("decomp", cfg)


@pytest.mark.parametrize("bad", [0, -3, True])
def test_with_steps_rejects_non_positive_counts(bad):
    with pytest.raises(ConfigError, match="steps"):
        config.with_steps(config.preset("smoke"), bad)


@pytest.fixture(scope="module")
def style_run(smoke_data, tmp_path_factory):
    """A finished smoke-size style run on the smoke dataset."""
    runs = tmp_path_factory.mktemp("runs")
    return train.train_stage("style", config.preset("smoke"), smoke_data, runs, progress=False)


def test_evaluate_run_on_the_validation_split_matches_the_logged_best_validation(
    style_run, smoke_data
):
    metrics = style_run.metrics()
    val = metrics[metrics["split"] == "val"]
    # best.pt holds the step with the lowest validation loss (the stage's monitor)
    losses = val[val["term"] == "loss"].set_index("step")["value"]
    best_step = losses.idxmin()
    logged = val[val["step"] == best_step].set_index("term")["value"]
    got = studies.training.evaluate_run(style_run.path, smoke_data, split="val", batch_size=8)
    assert set(got) == {"loss", "accuracy"}
    assert got["loss"] == pytest.approx(logged["loss"], rel=1e-4)
    assert got["accuracy"] == pytest.approx(logged["accuracy"], abs=1e-6)


def test_evaluate_run_on_the_test_split_gives_an_accuracy_between_0_and_1(style_run, smoke_data):
    got = studies.training.evaluate_run(style_run.path, smoke_data, split="test")
    assert 0.0 <= got["accuracy"] <= 1.0
    assert got["loss"] > 0


def test_style_test_scores_match_the_runs_own_evaluation_on_every_window(style_run, smoke_data):
    scores = studies.training.style_test_scores(style_run.path, data.FeatureStore.open(smoke_data))
    # one batch holds every test window: the run's validation pass scores the same windows
    own = studies.training.evaluate_run(style_run.path, smoke_data, "test", batch_size=100_000)
    assert scores["accuracy"] == pytest.approx(own["accuracy"], abs=1e-6)  # float32 mean
    assert scores["windows"] > 0 and {"recall ballet", "precision hiphop"} <= set(scores)


def test_runs_overview_counts_steps_parameters_and_minutes(style_run):
    table = studies.training.runs_overview({"style": style_run})
    row = table.loc["style"]
    assert row["steps"] == style_run.cfg.train_style.steps
    assert row["batch size"] == style_run.cfg.train_style.batch_size
    modules = style_run.modules()
    n = sum(p.numel() for p in modules["style"].parameters())
    assert row["parameters (M)"] == pytest.approx(n / 1e6)
    assert row["minutes"] > 0


def test_a_composer_run_keeps_its_latest_validated_state_as_best(smoke_data, tmp_path):
    cfg = config.preset("smoke")
    run = train.train_stage("comp", cfg, smoke_data, tmp_path, progress=False)
    best = train.load_checkpoint(run.checkpoint_path("best"))
    assert best["step"] == best["best_step"] == cfg.train_comp.steps


@pytest.mark.slow
def test_trained_decomposition_rebuilds_held_out_units_better_than_the_mean_pose(
    smoke_data, tmp_path
):
    import dataclasses

    import numpy as np
    import torch

    from d2mlib import data

    torch.set_num_threads(1)
    cfg = config.preset("smoke")
    # small networks with the paper's initial-pose sizes, trained long enough to learn (seconds)
    cfg = dataclasses.replace(
        cfg,
        dance_unit=dataclasses.replace(
            cfg.dance_unit, enc_hidden=32, dec_hidden=32, z_movement=16, z_init=10, init_hidden=64
        ),
        train_decomp=dataclasses.replace(
            cfg.train_decomp, steps=600, batch_size=16, lr=1e-3, val_every=200, checkpoint_every=200
        ),
    )
    run = train.train_stage("decomp", cfg, smoke_data, tmp_path, progress=False)
    modules, _ = train.load_run(run.path, which="last")
    store = data.FeatureStore.open(smoke_data)
    held_out = np.asarray(store.units("test"))
    recon = generate.reconstruct_units(modules["dance_unit"], store.pose_normaliser, held_out)
    mean_pose = np.asarray(store.units("train")).reshape(-1, 14, 2).mean(0)
    table = studies.training.reconstruction_table(
        held_out, recon, store.unit_styles("test"), mean_pose
    )
    model, baseline = table.loc["all", "model"], table.loc["all", "mean pose"]
    # measured here: about 0.7 of the mean pose's error on the smoke data's 36 held-out units
    assert model < 0.8 * baseline, table
