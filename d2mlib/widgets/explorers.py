"""The chapters' explorers: the data, a dance for chosen music, the initial pose, a short
training run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from d2mlib import audio, config, skeleton
from d2mlib.beats import kinematic_beats
from d2mlib.config import STYLES
from d2mlib.data.clips import clip_material
from d2mlib.data.loaders import unit_loader
from d2mlib.data.reader import read_dataset
from d2mlib.data.store import FeatureStore
from d2mlib.errors import CheckpointError, ConfigError
from d2mlib.generate import DanceGenerator
from d2mlib.stages import build_stage
from d2mlib.viz.animation import animate_dance
from d2mlib.viz.common import style_colour
from d2mlib.viz.music import plot_beats
from d2mlib.viz.poses import plot_pose, plot_unit
from d2mlib.viz.results import plot_loss_curves
from d2mlib.widgets.controls import (
    audio_input,
    batch_size_dropdown,
    clip_slider,
    hidden_size_dropdown,
    rnn_toggle,
    seed_box,
    spread_slider,
    style_dropdown,
)
from d2mlib.widgets.panel import _WIDE, RerunPanel, rerun_panel

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pose_row(poses: Sequence[np.ndarray], titles: Sequence[str], colour: str | None) -> Figure:
    """Poses (14, 2) side by side, one panel each, on a shared scale."""

    fig, axes = plt.subplots(
        1, len(poses), figsize=(1.9 * len(poses), 3.4), sharex=True, sharey=True, squeeze=False
    )
    for ax, pose, title in zip(axes[0], poses, titles, strict=True):
        plot_pose(np.asarray(pose), ax=ax, colour=colour)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (px)")
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def _style_probs_figure(probs: np.ndarray) -> Figure:
    """Horizontal bars: the predicted probability of each style, in the styles' colours."""

    probs = np.asarray(probs, dtype=float).reshape(-1)
    fig, ax = plt.subplots(figsize=(4.2, 1.8), layout="constrained")
    ax.barh(list(STYLES), probs, color=[style_colour(s) for s in STYLES])
    for i, p in enumerate(probs):
        ax.text(min(p + 0.02, 0.9), i, f"{p:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("predicted probability")
    ax.set_title("music style, as the style extractor hears it", fontsize=10)
    return fig


def _kinematic_beat_seconds(poses: np.ndarray) -> np.ndarray:
    """Kinematic beats (local minima of joint speed) of a dance, in seconds."""

    return kinematic_beats(poses).astype(np.float64) / skeleton.FPS


def _beats_figure(poses: np.ndarray, y: np.ndarray | None, music_beats: np.ndarray) -> Figure:
    """Mel-spectrogram (when there is audio) with music and kinematic beats, and joint speed."""

    mel = None if y is None else audio.mel_spectrogram(y)
    return plot_beats(
        None,
        mel,
        np.asarray(music_beats, dtype=np.float64),
        _kinematic_beat_seconds(poses),
        speed=skeleton.joint_speed(poses),
    )


def data_explorer(ch: Any, style: str = "ballet", clip: int = 0) -> RerunPanel:
    """Chapter "data": style and clip -> the clip's first unit, its beats, and its animation with sound."""

    index = read_dataset(ch.data_dir, check_arrays=False)
    counts = index.clips.groupby("style").size()
    n = int(min(int(counts.get(s, 0)) for s in STYLES))

    def show(style: str, clip: int) -> list[object]:
        poses, y, beats, name = clip_material(index, style, clip)
        unit = plot_unit(poses[: min(32, len(poses))], style=style, title=f"{name}: first unit")
        anim = animate_dance(
            poses, audio=y, sr=audio.SAMPLE_RATE, titles=[name], styles=[style], max_frames=150
        )
        return [unit, _beats_figure(poses, y, beats), anim]

    controls = {"style": style_dropdown(style), "clip": clip_slider(max(n, 1), clip)}
    return rerun_panel(show, controls, "A clip of the dataset: its dance, its beats, its music")


_GENERATORS: dict[str, Any] = {}


def _generator(source: Any) -> Any:
    """A DanceGenerator: `source` itself, or loaded (once) from a run folder or a runs folder."""
    if hasattr(source, "compose") and hasattr(source, "initial_pose"):
        return source
    if source is None:
        raise CheckpointError("no trained models given: train the composition stage first")

    path = Path(source)
    key = str(path.resolve())
    if key not in _GENERATORS:
        is_run = (path / "config.yaml").is_file()
        _GENERATORS[key] = (
            DanceGenerator.from_run(path) if is_run else DanceGenerator.from_runs(path)
        )
    return _GENERATORS[key]


def music_explorer(
    path: str | Path | None = None,
    generator: Any = None,
    seed: int = 0,
    max_seconds: float = 30.0,
) -> RerunPanel:
    """Chapter "your music": an audio file -> predicted style probabilities, beats, a dance with sound.

    `generator` is a DanceGenerator, a composition run folder or a runs folder (the newest
    finished composition run is used); the music is cut to its first `max_seconds`.
    """

    box, _ = audio_input(path)

    def show(music: Path, seed: int, warp: bool) -> list[object]:
        gen = _generator(generator)
        y = audio.load_audio(music)[: int(max_seconds * audio.SAMPLE_RATE)]
        dance = gen.compose(y, seed=seed, warp=warp)
        p = float(np.max(dance.style_probs))
        summary = (
            f"{music.name}: {dance.duration:.1f} s of music, {len(dance.beat_times)} beats; "
            f"heard as {dance.style} (p = {p:.2f}); dance composed in {dance.seconds:.2f} s"
            + (", warped onto the beats" if dance.warped else "")
        )
        anim = animate_dance(
            dance.poses,
            audio=y,
            sr=audio.SAMPLE_RATE,
            titles=[f"seed {seed}, heard as {dance.style}"],
            styles=[dance.style],
        )
        beats = _beats_figure(dance.poses, y, dance.beat_times)
        return [summary, _style_probs_figure(dance.style_probs), beats, anim]

    warp = widgets.Checkbox(value=True, description="warp onto the beats", style=_WIDE)
    controls = {"music": box, "seed": seed_box(seed), "warp": warp}
    return rerun_panel(show, controls, "Your music: its style, its beats, a dance", "Compose")


def initial_pose_explorer(
    generator: Any, n: int = 4, spread: float = 1.0, seed: int = 0
) -> RerunPanel:
    """Chapter "initial pose": spread and seed -> `n` initial poses (seeds seed .. seed + n - 1).

    `generator` is a DanceGenerator, a composition run folder or a runs folder; pose i is the
    one `compose(seed=seed + i, init_spread=spread)` would start from.
    """
    if int(n) < 1:
        raise ConfigError(f"initial_pose_explorer needs n >= 1, got {n}")

    def show(spread: float, seed: int) -> Figure:
        gen = _generator(generator)
        seeds = [int(seed) + i for i in range(int(n))]
        poses = [gen.initial_pose(s, spread) for s in seeds]
        fig = _pose_row(poses, [f"seed {s}" for s in seeds], None)
        fig.suptitle(f"initial poses decoded from z_init ~ N(0, {spread:.1f}^2)", fontsize=10)
        return fig

    controls = {"spread": spread_slider(spread), "seed": seed_box(seed)}
    return rerun_panel(show, controls, "Sampled initial poses")


_STORES: dict[str, Any] = {}


def short_training_run(
    data_dir: str | Path,
    preset: str,
    batch_size: int,
    hidden_size: int,
    rnn: str,
    steps: int,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[Any, np.ndarray, int]:
    """`steps` decomposition-stage steps at `preset` sizes with the given batch, hidden size, rnn.

    Returns (metrics DataFrame in metrics.csv's layout, seconds of each step, parameter
    count). Nothing is written to disk; torch's global RNG is left as it was.
    """

    if int(steps) < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    cfg = config.preset(preset)
    du = dataclasses.replace(
        cfg.dance_unit, rnn=rnn, enc_hidden=int(hidden_size), dec_hidden=int(hidden_size)
    )
    cfg = dataclasses.replace(cfg, dance_unit=du)
    key = str(Path(data_dir).resolve())
    if key not in _STORES:
        _STORES[key] = FeatureStore.open(data_dir)
    loader = unit_loader(_STORES[key], "train", int(batch_size), int(seed))
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        stage = build_stage("decomp", cfg, "cpu")
        n_params = sum(p.numel() for m in stage.modules().values() for p in m.parameters())
        epoch = 0
        while len(times) < steps:
            loader.set_epoch(epoch)
            for batch in loader:
                t0 = time.perf_counter()
                terms = stage.training_step(batch, len(times) + 1)
                times.append(time.perf_counter() - t0)
                step = len(times)
                rows += [
                    {"step": step, "epoch": epoch, "split": "train", "term": k, "value": float(v)}
                    for k, v in terms.items()
                ]
                if progress is not None:
                    progress(step / steps, f"step {step} of {steps}")
                if step >= steps:
                    break
            epoch += 1
    return pd.DataFrame(rows), np.asarray(times), int(n_params)


def training_explorer(ch: Any, steps: int | None = None, seed: int = 0) -> RerunPanel:
    """Chapter "timing"/"training": batch size, hidden size, rnn -> a short run's losses and step times.

    Trains the decomposition stage (the chapter's preset sizes, with the chosen recurrent
    hidden size and type) for `steps` steps (3 in smoke mode, else 20), without saving.
    """

    cfg = config.preset(ch.preset)
    n_steps = int(steps if steps is not None else (3 if ch.smoke else 20))

    def show(batch_size: int, hidden_size: int, rnn: str, progress: Callable) -> list[object]:
        metrics, times, n_params = short_training_run(
            ch.data_dir, ch.preset, batch_size, hidden_size, rnn, n_steps, seed, progress
        )
        fig, (ax_loss, ax_time) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        plot_loss_curves(metrics, ax=ax_loss)
        ax_loss.set_title(f"losses, batch {batch_size}, hidden {hidden_size}, {rnn.upper()}")
        steps_axis = np.arange(1, len(times) + 1)
        ax_time.plot(steps_axis, 1000 * times, "o-", color="#009E73", ms=3)
        steady = times[1:] if len(times) > 1 else times
        median_ms = 1000 * float(np.median(steady))
        ax_time.axhline(median_ms, color="#555555", ls="--", lw=1, label=f"median {median_ms:.0f}")
        ax_time.set_xlabel("step")
        ax_time.set_ylabel("time per step (ms)")
        ax_time.set_title("time per step (step 1 is warm-up)")
        ax_time.legend(fontsize="small")
        summary = (
            f"{len(times)} decomposition steps at {ch.preset} sizes, batch {batch_size}, "
            f"hidden {hidden_size}, {rnn.upper()}: {n_params / 1e6:.2f} M parameters, "
            f"median {median_ms:.0f} ms per step after the first"
        )
        return [summary, fig]

    controls = {
        "batch_size": batch_size_dropdown(cfg.train_decomp.batch_size),
        "hidden_size": hidden_size_dropdown(cfg.dance_unit.enc_hidden),
        "rnn": rnn_toggle(cfg.dance_unit.rnn),
    }
    return rerun_panel(show, controls, "A short training run", "Train")
