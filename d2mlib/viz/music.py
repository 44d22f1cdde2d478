"""Figures of music: beats against dance speed, tempi by style, features, mel spectrograms,
style probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from d2mlib.config import STYLES
from d2mlib.skeleton import FPS
from d2mlib.viz.common import NEUTRAL, STYLE_COLOURS, _new_ax, style_colour


def plot_beats(
    times_s: np.ndarray | None,
    mel_db: np.ndarray | None,
    music_beats_s: np.ndarray,
    kinematic_beats_s: np.ndarray,
    speed: np.ndarray | None = None,
    fps: float = FPS,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Mel-spectrogram with the music's beats and the dance's kinematic beats on one time axis.

    `times_s` are the times of the mel frames (default: frame / fps). With `speed` (the mean
    joint speed, sample i = motion from frame i to i+1, as skeleton.joint_speed) a second panel
    below shares the time axis; pass `ax` as two axes then, or one axes without `speed`.
    """
    music = np.asarray(music_beats_s, dtype=float).reshape(-1)
    kin = np.asarray(kinematic_beats_s, dtype=float).reshape(-1)
    n_panels = 1 if speed is None else 2
    if ax is None:
        fig, axes = plt.subplots(
            n_panels,
            1,
            figsize=(8.0, 2.6 * n_panels),
            sharex=True,
            layout="constrained",
            squeeze=False,
        )
        axes = list(axes[:, 0])
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != n_panels:
            raise ValueError(f"plot_beats needs {n_panels} axes here, got {len(axes)}")
        fig = axes[0].figure
    top = axes[0]
    if mel_db is not None:
        mel = np.asarray(mel_db, dtype=float)
        if mel.ndim != 2:
            raise ValueError(f"mel_db must be (n_mels, frames), got {mel.shape}")
        t = np.arange(mel.shape[1]) / fps if times_s is None else np.asarray(times_s, float)
        if t.size != mel.shape[1]:
            raise ValueError(f"{t.size} times for {mel.shape[1]} mel frames")
        step = float(np.median(np.diff(t))) if t.size > 1 else 1.0 / fps
        mesh = top.pcolormesh(
            np.concatenate([t, [t[-1] + step]]) if t.size else t,
            np.arange(mel.shape[0] + 1),
            mel,
            cmap="magma",
            shading="flat",
            rasterized=True,
        )
        fig.colorbar(mesh, ax=axes if ax is None else top, label="dB", pad=0.01)
        top.set_ylabel("mel band")
    else:
        top.set_yticks([])
        if times_s is not None and np.size(times_s):
            top.set_xlim(float(np.min(times_s)), float(np.max(times_s)))
    sp_t = None
    if speed is not None:
        sp = np.asarray(speed, dtype=float).reshape(-1)
        sp_t = np.arange(sp.size) / fps
        axes[1].plot(sp_t, sp, color=NEUTRAL, lw=1.2, label="joint speed")
        axes[1].set_ylabel("joint speed (px/s)")
    for a in axes:
        for i, b in enumerate(music):
            a.axvline(b, color="#56B4E9", ls="--", lw=1.3, label="music beat" if i == 0 else None)
        for i, b in enumerate(kin):
            a.axvline(
                b, color="#D55E00", ls="-", lw=1.3, label="kinematic beat" if i == 0 else None
            )
    if sp_t is not None and sp_t.size and mel_db is None and times_s is None:
        top.set_xlim(0, sp_t[-1])
    axes[0].legend(loc="upper right", fontsize="small", framealpha=0.85)
    axes[-1].set_xlabel("time (s)")
    return fig


def plot_tempo_by_style(meta: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Strip plot of each clip's tempo (BPM) by style, with the median marked."""
    if not {"style", "tempo"} <= set(meta.columns):
        raise ValueError("meta needs 'style' and 'tempo' columns")
    fig, ax = _new_ax(ax, (6.0, 2.8))
    rng = np.random.default_rng(0)  # fixed jitter so the figure is reproducible
    styles = [s for s in STYLE_COLOURS if s in set(meta["style"])]
    for i, style in enumerate(styles):
        tempo = meta.loc[meta["style"] == style, "tempo"].to_numpy(dtype=float)
        y = i + rng.uniform(-0.25, 0.25, tempo.size)
        ax.plot(tempo, y, "o", ms=3, alpha=0.5, color=style_colour(style))
        ax.plot([np.median(tempo)] * 2, [i - 0.35, i + 0.35], color="black", lw=2)
    ax.set_yticks(range(len(styles)), styles)
    ax.set_xlabel("tempo (BPM)")
    ax.set_title("tempo of each clip (black: median)")
    return fig


def plot_features(feats: np.ndarray, ax: Axes | None = None, title: str = "") -> Figure:
    """Heat map of audio features (frames, 28) over time, each coefficient standardised."""
    x = np.asarray(feats, dtype=float)
    if x.ndim != 2 or x.shape[1] != 28:
        raise ValueError(f"features must be (frames, 28), got {x.shape}")
    z = (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)
    fig, ax = _new_ax(ax, (8.0, 3.2))
    image = ax.imshow(
        z.T,
        aspect="auto",
        origin="upper",
        cmap="coolwarm",
        vmin=-3,
        vmax=3,
        extent=(0, x.shape[0] / FPS, 27.5, -0.5),
        interpolation="nearest",
    )
    ax.axhline(13.5, color="black", lw=0.8)
    ax.set_yticks([0, 12, 14, 26], ["c0", "c12", "\u0394c0", "\u0394c12"])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("feature")
    ax.set_title(title or "audio features (standardised per row)")
    fig.colorbar(image, ax=ax, label="std. units", fraction=0.04)
    return fig


def plot_style_probs(probs: np.ndarray, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Horizontal bars: the predicted probability of each style (config.STYLES order), in its colour."""
    p = np.asarray(probs, dtype=float).reshape(-1)
    if p.size != len(STYLES):
        raise ValueError(f"need {len(STYLES)} probabilities (one per style), got {p.size}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-3:
        raise ValueError(f"probabilities must be >= 0 and sum to 1, got {p.round(4).tolist()}")
    fig, ax = _new_ax(ax, (5.0, 2.0))
    pos = np.arange(len(STYLES))
    ax.barh(pos, p, color=[STYLE_COLOURS[s] for s in STYLES])
    for i, value in enumerate(p):
        ax.text(min(value + 0.02, 0.88), i, f"{value:.2f}", va="center", fontsize=9)
    ax.axvline(1.0 / len(STYLES), color=NEUTRAL, ls=":", lw=1, label="chance (1/3)")
    ax.set_yticks(pos, list(STYLES))
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("predicted probability")
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_mels(
    mels: Sequence[np.ndarray],
    titles: Sequence[str],
    styles: Sequence[str | None] | None = None,
    ncols: int = 2,
    fps: float = FPS,
    max_hz: float = 11025.0,
) -> Figure:
    """A grid of mel-spectrograms (n_mels, frames) in dB, titled (in a style's colour when given)."""
    if len(mels) == 0 or len(mels) != len(titles):
        raise ValueError(f"need one title per spectrogram, got {len(mels)} and {len(titles)}")
    styles = [None] * len(mels) if styles is None else list(styles)
    ncols = max(1, min(int(ncols), len(mels)))
    nrows = -(-len(mels) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.6 * ncols, 2.7 * nrows), squeeze=False, layout="constrained"
    )
    image = None
    for i, ax in enumerate(axes.flat):
        if i >= len(mels):
            ax.set_axis_off()
            continue
        mel = np.asarray(mels[i], dtype=float)
        extent = (0.0, mel.shape[1] / fps, 0.0, max_hz / 1000.0)
        image = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=extent)
        colour = style_colour(styles[i]) if styles[i] is not None else "black"
        ax.set_title(titles[i], fontsize=9, color=colour)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel band (kHz, mel-spaced)")
    if image is not None:
        fig.colorbar(image, ax=axes, label="power (dB)", shrink=0.8)
    return fig
