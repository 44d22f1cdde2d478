"""Timing inference: composing dances of increasing length with an untrained generator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from d2mlib.generate import DanceGenerator, Music
from d2mlib.models.composer import Composer
from d2mlib.models.dance_unit import DanceUnit
from d2mlib.models.style import StyleExtractor
from d2mlib.skeleton import FPS, POSE_DIM
from d2mlib.timing.measure import measure, sync_for
from d2mlib.timing.results import machine_info, make_row, new_run_id, results_frame
from d2mlib.timing.training import timed_config

# Inference: composing a dance

INFERENCE_LENGTHS: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0, 300.0)


def build_generator(preset: str = "paper", rnn: str = "gru", device: str = "cpu") -> Any:
    """An untrained DanceGenerator at `preset` sizes (compute does not depend on the weights)."""

    cfg = timed_config(preset, rnn)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        style = StyleExtractor(cfg.style)
        dance_unit = DanceUnit(cfg.dance_unit)
        composer = Composer(cfg.composer, cfg.dance_unit.z_movement, cfg.style.feature_dim)
    pose_mean = np.tile(np.array([128.0, 250.0], np.float32), POSE_DIM // 2)
    stats = {
        "pose_mean": pose_mean,
        "pose_std": np.full(POSE_DIM, 30.0, np.float32),
        "audio_mean": np.zeros(cfg.style.feature_dim, np.float32),
        "audio_std": np.ones(cfg.style.feature_dim, np.float32),
    }
    return DanceGenerator(style, composer, dance_unit, stats, cfg, device, "untrained (timing)")


def synthetic_music(seconds: float, seed: int = 0, tempo: float = 120.0) -> Any:
    """Music for timing: random features at 15 fps and a beat every 60/tempo seconds."""

    rng = np.random.default_rng(seed)
    frames = int(round(seconds * FPS))
    feats = rng.standard_normal((frames, 28)).astype(np.float32)
    beats = np.arange(0.25, seconds, 60.0 / tempo)
    return Music(feats, beats, frames / FPS, "synthetic (timing)")


def bench_inference(
    lengths_s: Sequence[float] = INFERENCE_LENGTHS,
    preset: str = "paper",
    device: str = "cpu",
    rnn: str = "gru",
    warp: bool = True,
    warmup: int = 1,
    repeats: int = 3,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Seconds of compute per second of generated dance, by length (features excluded, warping in)."""
    info = info or machine_info()
    run_id = run_id or new_run_id()
    gen = build_generator(preset, rnn, device)
    sync = sync_for(device)
    rows = []
    for length in lengths_s:
        music = synthetic_music(length)
        m = measure(
            lambda music=music: gen.compose(music, seed=0, warp=warp), warmup, repeats, sync=sync
        )
        rows.append(
            make_row(
                info,
                run_id,
                "inference",
                "s/s",
                m.map(lambda s, L=length: s / L),
                device=device,
                preset=preset,
                rnn=rnn,
                length_s=float(length),
                variant="warped" if warp else "unwarped",
            )
        )
    return results_frame(rows)
