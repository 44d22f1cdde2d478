"""A smoke-scale composer trained on the smoke world: its autoencoder (dance encoder, dance decoder
with the music) rebuilds a sequence's movement codes better than their mean, the trivial answer."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from d2mlib import data
from d2mlib.config import preset
from d2mlib.models import CompStage, DecompStage, StyleExtractor
from d2mlib.studies.training import composer_codes

r = dataclasses.replace
CURE = {"enc_input": "relative", "dec_output": "offset", "dec_time_code": True, "w_velocity": 5.0}
BOOK = CURE | {"dec_anchor": "given", "linear_path": True}  # the book preset's decomposition
BOOK_COMP = {"w_kl_dance": 0.0, "w_dance_mmd": 10.0, "dec_sd_init": 0.002, "linear_path": True}
# the rhythm term; 16 decoded sequences are all of a smoke batch of 8
BOOK_COMP |= {"music_input": "loudness", "w_rhythm": 10.0, "decoded_sequences": 16}


pytestmark = pytest.mark.usefixtures("one_thread")


def train(stage, loader, steps: int) -> None:
    """`steps` optimiser steps of `stage` over `loader`'s epochs."""
    step, epoch = 0, 0
    while step < steps:
        loader.set_epoch(epoch)
        epoch += 1
        for batch in loader:
            stage.training_step(batch, step)
            step += 1
            if step == steps:
                return


def trained_composer(store, steps: int, book: bool = False, seed: int = 0):
    """A smoke decomposition (cured, 600 steps) and a composer (`steps` steps) on top of it; with
    `book`, both with the book preset's switches (`BOOK`, `BOOK_COMP`)."""
    cfg = preset("smoke")
    cfg = r(
        cfg,
        dance_unit=r(cfg.dance_unit, latent_dropout=0.0, **(BOOK if book else CURE)),
        composer=r(cfg.composer, **(BOOK_COMP if book else {})),
        train_decomp=r(cfg.train_decomp, lr=3e-3, steps=600),
        train_comp=r(cfg.train_comp, lr=1e-3, steps=steps),
    )
    torch.manual_seed(seed)
    decomp = DecompStage(cfg, device="cpu")
    train(decomp, data.unit_loader(store, "train", batch_size=8, seed=0), 600)
    comp = CompStage(cfg, StyleExtractor(cfg.style), decomp.model, device="cpu")
    train(comp, data.sequence_loader(store, "train", batch_size=8, seed=0, n_units=(3,)), steps)
    return SimpleNamespace(composer=comp.composer, dance_unit=decomp.model, style=comp.style)


def test_trained_smoke_composer_rebuilds_codes_better_than_their_mean(smoke_data):
    """Measured (smoke world, 600 decomposition and 600 composition steps, 16 training sequences,
    two initial seeds): the rebuilt codes' L1 is 0.52x and 0.71x the mean code's, their spread
    0.86x and 0.60x the real codes' (with the dance encoder reading means and log-variances, as
    first built: 0.70x and 0.89x). Thresholds: 0.85x and 0.3x. (At book scale, with the paper's
    dance-latent KL, the main run's rebuild was no better than the mean.)"""
    store = data.FeatureStore.open(smoke_data)
    gen = trained_composer(store, steps=600)
    table, _ = composer_codes(gen, store, split="train", batch=16)
    rebuilt = table.loc["rebuilt from the real dance latent", "L1 to the real codes"]
    mean = table.loc["the mean code", "L1 to the real codes"]
    assert rebuilt < 0.85 * mean
    assert (
        table.loc["rebuilt from the real dance latent", "spread"]
        > 0.3 * table.loc["real", "spread"]
    )


def test_trained_smoke_composer_with_the_book_switches_rebuilds_codes_better_than_their_mean(
    smoke_data,
):
    """Measured on 1 December 2026 (smoke world, 600 + 600 steps, initial seeds 0 and 1), with
    the book preset's switches in both stages (the real first pose and linear paths; no
    dance-latent KL, the dance-latent MMD, the decoder's code sd from 0.002, the loudness curve
    and the rhythm term): the rebuilt codes' L1 is 0.73x and 0.73x the mean code's, their spread
    0.71x and 0.71x the real codes' (without the last two: 0.54x and 0.53x, 0.82x and 0.81x).
    Thresholds: 0.85x and 0.5x. At book scale the build's training chapter judges the same
    (its composer's rebuilt codes against the mean code, by the decision rule)."""
    store = data.FeatureStore.open(smoke_data)
    gen = trained_composer(store, steps=600, book=True)
    table, _ = composer_codes(gen, store, split="train", batch=16)
    rebuilt = table.loc["rebuilt from the real dance latent"]
    assert (
        rebuilt["L1 to the real codes"] < 0.85 * table.loc["the mean code", "L1 to the real codes"]
    )
    assert rebuilt["spread"] > 0.5 * table.loc["real", "spread"]
