"""Figures and animations for the book: skeletons, beats, losses, confusions, embeddings, timings.

Every plotting function takes an optional matplotlib ``ax`` and returns the Figure it drew on;
none prints or changes global rcParams. Each style has one colour on every page
(``STYLE_COLOURS``, from the Okabe-Ito colour-blind-safe palette). Poses are in pixels on the
original 256 x 500 canvas with y growing downwards, so pose axes are drawn with y inverted.

``animate_dance`` returns a self-contained HTML animation (frames and music embedded as
``data:`` URIs, no request leaves the page) whose frames follow the audio's playback position.
In a notebook, assign the returned figure (``fig = plot_pose(...)``) to avoid drawing it twice.
"""

from __future__ import annotations

import base64
import io
import re
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from d2mlib._io import write_bytes
from d2mlib.errors import D2MError
from d2mlib.skeleton import BONES, CANVAS_HEIGHT, CANVAS_WIDTH, FPS, NUM_JOINTS, check_poses

if TYPE_CHECKING:
    from IPython.display import HTML

STYLES: tuple[str, ...] = ("ballet", "zumba", "hiphop")  # same order as d2mlib.data.STYLES

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
STYLE_COLOURS: dict[str, str] = {
    "ballet": "#CC79A7",  # reddish purple
    "zumba": "#E69F00",  # orange
    "hiphop": "#0072B2",  # blue
}
# Colours for series that are not styles (systems, devices, loss terms): the rest of the
# Okabe-Ito palette first, so a non-style series rarely wears a style's colour.
PALETTE: tuple[str, ...] = (
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#000000",
    "#999999",
    "#0072B2",
    "#E69F00",
    "#CC79A7",
)
NEUTRAL = "#333333"
_BONE_INDEX = np.asarray(BONES, dtype=np.int64)  # (13, 2)


def _style_key(style: str | int) -> str:
    """Canonical style name: 'Hip-hop', 'hip_hop' and 2 all mean 'hiphop'."""
    if isinstance(style, int | np.integer):
        if not 0 <= int(style) < len(STYLES):
            raise ValueError(f"style index {style} out of range 0..{len(STYLES) - 1}")
        return STYLES[int(style)]
    return str(style).lower().replace("-", "").replace("_", "").replace(" ", "")


def style_colour(style: str | int) -> str:
    """The colour of a style (name or index into STYLES), the same on every page."""
    key = _style_key(style)
    if key not in STYLE_COLOURS:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
    return STYLE_COLOURS[key]


def _colours_for(values: Sequence[Any]) -> dict[Any, str]:
    """Style colours when every value is a style, else the palette in order of appearance."""
    uniq = list(dict.fromkeys(values))
    try:
        return {v: style_colour(v) for v in uniq}
    except ValueError:
        return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(uniq)}


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Use `ax` or make a fresh figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig, new = plt.subplots(figsize=figsize, layout="constrained")
    return fig, new


def _invert_y(ax: Axes) -> None:
    """Put y = 0 at the top (image coordinates), once."""
    if not ax.yaxis_inverted():
        ax.invert_yaxis()


# --------------------------------------------------------------------------- poses


def plot_pose(
    pose: np.ndarray,
    ax: Axes | None = None,
    colour: str | None = None,
    alpha: float = 1.0,
    label: str | None = None,
) -> Figure:
    """Draw one pose (14, 2) as a stick figure: one line per bone, y down, equal aspect."""
    pose = check_poses(pose)
    if pose.shape != (NUM_JOINTS, 2):
        raise ValueError(f"plot_pose takes one pose (14, 2), got {pose.shape}")
    fig, ax = _new_ax(ax, (2.4, 4.0))
    colour = NEUTRAL if colour is None else colour
    for i, (a, b) in enumerate(BONES):
        ax.plot(
            pose[[a, b], 0],
            pose[[a, b], 1],
            color=colour,
            alpha=alpha,
            lw=2,
            solid_capstyle="round",
            label=label if i == 0 else None,
        )
    ax.scatter(pose[:, 0], pose[:, 1], s=8, color=colour, alpha=alpha, zorder=3)
    ax.set_aspect("equal")
    _invert_y(ax)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    return fig


def _unit_frames(n_frames: int, frames: Sequence[int] | int | None) -> np.ndarray:
    """Frame indices to show: given, or `frames` (default 8) evenly spaced."""
    if frames is None or isinstance(frames, int | np.integer):
        count = min(n_frames, 8 if frames is None else int(frames))
        return np.unique(np.linspace(0, n_frames - 1, max(count, 1)).round().astype(int))
    idx = np.asarray(frames, dtype=int)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n_frames:
        raise ValueError(f"frames must be indices in 0..{n_frames - 1}, got {idx.tolist()}")
    return idx


def plot_unit(
    unit: np.ndarray,
    ax: Axes | None = None,
    frames: Sequence[int] | int | None = None,
    style: str | None = None,
    title: str | None = None,
    fps: float = FPS,
) -> Figure:
    """Draw a dance unit (T, 14, 2) as a strip of poses side by side (8 evenly spaced frames by default)."""
    unit = check_poses(unit)
    if unit.ndim != 3:
        raise ValueError(f"plot_unit takes one unit (T, 14, 2), got {unit.shape}")
    idx = _unit_frames(unit.shape[0], frames)
    fig, ax = _new_ax(ax, (1.0 + 0.9 * len(idx), 3.0))
    colour = NEUTRAL if style is None else style_colour(style)
    x_lo, x_hi = float(unit[..., 0].min()), float(unit[..., 0].max())
    spacing = max(x_hi - x_lo, 1.0) * 1.15
    centres = []
    for k, f in enumerate(idx):
        shifted = unit[f].copy()
        shifted[:, 0] += k * spacing - x_lo
        plot_pose(shifted, ax=ax, colour=colour)
        centres.append(k * spacing + (x_hi - x_lo) / 2)
    ax.set_xticks(centres, [f"{f}" for f in idx])
    ax.set_xlabel(f"frame (at {fps:g} fps), poses side by side")
    if title is None:
        dur = unit.shape[0] / fps
        title = f"{style + ' ' if style else ''}unit: {unit.shape[0]} frames, {dur:.1f} s"
    ax.set_title(title)
    return fig


def plot_units_grid(
    units_by_style: Mapping[str, np.ndarray],
    frames: Sequence[int] | int | None = 6,
    max_units: int = 3,
) -> Figure:
    """One row per style, one column per unit (k, T, 14, 2), each a strip of poses."""
    if not units_by_style:
        raise ValueError("units_by_style is empty")
    rows = {
        s: check_poses(u).reshape(-1, *check_poses(u).shape[-3:]) for s, u in units_by_style.items()
    }
    n_cols = min(max_units, max(u.shape[0] for u in rows.values()))
    n_strip = len(_unit_frames(max(u.shape[1] for u in rows.values()), frames))
    fig, axes = plt.subplots(
        len(rows),
        n_cols,
        figsize=(n_cols * (0.7 * n_strip + 0.8), 2.6 * len(rows)),
        layout="constrained",
        squeeze=False,
    )
    for r, (style, units) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= units.shape[0]:
                ax.set_axis_off()
                continue
            plot_unit(units[c], ax=ax, frames=frames, style=style, title=f"{style}, unit {c}")
            if c > 0:
                ax.set_ylabel("")
    return fig


# --------------------------------------------------------------------------- beats


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


# --------------------------------------------------------------------------- training


def plot_loss_curves(
    metrics: pd.DataFrame,
    terms: Sequence[str] | None = None,
    ax: Axes | None = None,
    x: str = "step",
    logy: bool | None = None,
    smooth: int = 1,
) -> Figure:
    """One line per loss term against `x` (train solid, val dashed); log y when all positive and spanning >= 20x."""
    need = {"step", "epoch", "split", "term", "value"}
    missing = need - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics lack columns {sorted(missing)}")
    terms = list(dict.fromkeys(metrics["term"])) if terms is None else list(terms)
    data = metrics[metrics["term"].isin(terms)]
    if data.empty:
        raise ValueError(f"no rows for terms {terms}")
    fig, ax = _new_ax(ax, (6.0, 3.6))
    colours = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(terms)}
    dashes = {"train": "-", "val": "--", "test": ":"}
    for (term, split), grp in data.groupby(["term", "split"], sort=False):
        curve = grp.groupby(x, sort=True)["value"].mean()
        if smooth > 1:
            curve = curve.rolling(smooth, min_periods=1, center=True).mean()
        ax.plot(
            curve.index,
            curve.to_numpy(),
            color=colours[term],
            ls=dashes.get(split, "-."),
            marker="o" if len(curve) < 3 else None,
            lw=1.4,
            label=f"{term} ({split})",
        )
    values = data["value"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if logy is None:
        logy = values.size > 0 and values.min() > 0 and values.max() / values.min() >= 20
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel("loss")
    ax.legend(fontsize="small", ncols=2 if len(terms) > 4 else 1)
    return fig


# --------------------------------------------------------------------------- style classification


def _label_indices(values: Sequence[Any], labels: Sequence[str]) -> np.ndarray:
    """Map labels (or integer indices) to indices into `labels`."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() >= len(labels)):
            raise ValueError(f"label index out of range 0..{len(labels) - 1}")
        return arr.astype(np.int64)
    lookup = {str(lab): i for i, lab in enumerate(labels)}
    unknown = sorted({str(v) for v in arr.tolist()} - set(lookup))
    if unknown:
        raise ValueError(f"labels {unknown} not in {list(labels)}")
    return np.array([lookup[str(v)] for v in arr.tolist()], dtype=np.int64)


def confusion_table(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[str]
) -> pd.DataFrame:
    """Counts with rows = true style and columns 'predicted as <style>' (labels or indices in)."""
    t = _label_indices(y_true, labels)
    p = _label_indices(y_pred, labels)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} entries, y_pred {p.size}")
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, (t, p), 1)
    table = pd.DataFrame(
        counts,
        index=pd.Index(list(labels), name="true style"),
        columns=[f"predicted as {lab}" for lab in labels],
    )
    return table


def plot_confusion(
    matrix: np.ndarray | pd.DataFrame,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    normalise: str | None = "true",
    title: str = "style confusion",
) -> Figure:
    """Confusion matrix (rows true, columns predicted), annotated in % ('true' rows, 'pred', 'all') or counts (None)."""
    if isinstance(matrix, pd.DataFrame):
        if labels is None:
            labels = [str(i) for i in matrix.index]
        matrix = matrix.to_numpy()
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion matrix must be square, got {counts.shape}")
    labels = [str(i) for i in range(counts.shape[0])] if labels is None else list(labels)
    if len(labels) != counts.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {counts.shape[0]}-class matrix")
    if normalise not in (None, "true", "pred", "all"):
        raise ValueError(f"normalise must be 'true', 'pred', 'all' or None, got {normalise!r}")
    if normalise is None:
        shown, vmax = counts, max(counts.max(), 1.0)
    else:
        axis = {"true": 1, "pred": 0, "all": None}[normalise]
        total = counts.sum(axis=axis, keepdims=axis is not None)
        with np.errstate(invalid="ignore", divide="ignore"):
            shown = np.where(total > 0, counts / np.where(total > 0, total, 1), 0.0)
        vmax = 1.0
    n = len(labels)
    fig, ax = _new_ax(ax, (1.2 + 1.1 * n, 1.0 + 1.0 * n))
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax)
    for i in range(n):
        for j in range(n):
            text = f"{100 * shown[i, j]:.1f}%" if normalise else f"{int(counts[i, j])}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize="small",
                color="white" if shown[i, j] > 0.6 * vmax else "black",
            )
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted as")
    ax.set_ylabel("true style")
    ax.set_title(title)
    return fig


# --------------------------------------------------------------------------- embeddings


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project codes (N, D) on their first two principal axes (numpy SVD): (N, 2) and explained-variance ratios (2,)."""
    x = np.asarray(codes, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"codes must be (N >= 2, D), got {x.shape}")
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])  # deterministic sign
    proj = x @ (vt * signs[:, None]).T
    if proj.shape[1] < 2:
        proj = np.column_stack([proj, np.zeros(len(proj))])
    var = s**2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return proj, np.pad(ratio, (0, 2 - ratio.size))


def plot_embedding_2d(
    codes: np.ndarray,
    styles: Sequence[Any],
    ax: Axes | None = None,
    method: str = "pca",
) -> Figure:
    """Scatter of codes (N, D) projected to 2-D (PCA), one colour per style."""
    if method != "pca":
        raise ValueError(f"method must be 'pca', got {method!r}")
    styles = list(styles)
    if len(styles) != np.shape(codes)[0]:
        raise ValueError(f"{len(styles)} styles for {np.shape(codes)[0]} codes")
    proj, ratio = pca_2d(codes)
    names = [STYLES[int(s)] if isinstance(s, int | np.integer) else s for s in styles]
    colours = _colours_for(names)
    fig, ax = _new_ax(ax, (4.8, 4.0))
    arr = np.asarray(names, dtype=object)
    for name, colour in colours.items():
        pick = arr == name
        ax.scatter(proj[pick, 0], proj[pick, 1], s=14, alpha=0.75, color=colour, label=str(name))
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.0f}% of variance)")
    ax.legend(fontsize="small", markerscale=1.5)
    return fig


# --------------------------------------------------------------------------- results


def plot_metric_bars(
    df: pd.DataFrame, metric: str, ax: Axes | None = None, ylabel: str | None = None
) -> Figure:
    """Bar per system: mean of `metric` over seeds, error bar = std over seeds (ddof=1), seeds as dots."""
    missing = {"system", "seed", "metric", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks columns {sorted(missing)}")
    data = df[df["metric"] == metric]
    if data.empty:
        raise ValueError(f"no rows for metric {metric!r}")
    systems = list(dict.fromkeys(data["system"]))
    grouped = data.groupby("system", sort=False)["value"]
    mean = grouped.mean().reindex(systems)
    std = grouped.std(ddof=1).reindex(systems).fillna(0.0)
    count = grouped.count().reindex(systems)
    fig, ax = _new_ax(ax, (1.5 + 1.1 * len(systems), 3.4))
    colours = _colours_for(systems)
    pos = np.arange(len(systems))
    ax.bar(
        pos,
        mean.to_numpy(),
        yerr=std.to_numpy(),
        color=[colours[s] for s in systems],
        alpha=0.8,
        capsize=4,
        error_kw={"lw": 1.2},
    )
    rng = np.random.default_rng(0)  # fixed jitter so the figure is reproducible
    for i, s in enumerate(systems):
        vals = data.loc[data["system"] == s, "value"].to_numpy(dtype=float)
        ax.plot(pos[i] + rng.uniform(-0.15, 0.15, vals.size), vals, "o", ms=3, color="black")
    ax.set_xticks(pos, [f"{s}\n(n={c})" for s, c in zip(systems, count, strict=True)])
    ax.set_ylabel(metric if ylabel is None else ylabel)
    ax.set_xlabel("system (bars: mean over seeds, whiskers: std)")
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


def _wants_log(values: np.ndarray, ratio: float) -> bool:
    """Whether positive values span at least `ratio` (so a log axis reads better)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 1 and v.min() > 0 and v.max() / v.min() >= ratio


def plot_timing(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    ax: Axes | None = None,
    logx: bool | None = None,
    logy: bool | None = None,
) -> Figure:
    """Benchmark results: `y` against `x`, one line per `hue` value (mean, std bars over repeats); log axes when spans are wide."""
    cols = [x, y] + ([hue] if hue else [])
    missing = set(cols) - set(df.columns)
    if missing:
        raise ValueError(f"df lacks columns {sorted(missing)}")
    fig, ax = _new_ax(ax, (5.6, 3.6))
    groups = df.groupby(hue, sort=False) if hue else [(None, df)]
    keys = list(dict.fromkeys(df[hue])) if hue else [None]
    colours = _colours_for(keys)
    for key, grp in groups:
        stats = grp.groupby(x, sort=True)[y].agg(["mean", "std"])
        ax.errorbar(
            stats.index,
            stats["mean"].to_numpy(),
            yerr=stats["std"].fillna(0.0).to_numpy(),
            marker="o",
            ms=4,
            capsize=3,
            color=colours[key],
            label=None if key is None else str(key),
        )
    xs = df[x].to_numpy()
    if logx is None:
        logx = np.issubdtype(xs.dtype, np.number) and _wants_log(xs, 8)
    if logy is None:
        logy = _wants_log(df[y].to_numpy(), 10)
    if logx:
        ax.set_xscale("log", base=2)
        ticks = np.unique(xs.astype(float))
        if ticks.size <= 12:
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if hue:
        ax.legend(title=hue, fontsize="small")
    return fig


# --------------------------------------------------------------------------- animation

_ICONS = {  # Font Awesome classes in matplotlib's template -> plain characters (ASCII entities)
    "fa fa-minus": "&#x2212;",
    "fa fa-fast-backward": "&#x21E4;",
    "fa fa-step-backward": "&#x2039;",
    "fa fa-play fa-flip-horizontal": "&#x25C0;",
    "fa fa-pause": "&#x275A;&#x275A;",
    "fa fa-play": "&#x25B6;",
    "fa fa-step-forward": "&#x203A;",
    "fa fa-fast-forward": "&#x21E5;",
    "fa fa-plus": "+",
}


def _as_dances(poses: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One dance (T, 14, 2) or several -> list of (T_i, 14, 2) float32."""
    if isinstance(poses, np.ndarray) and poses.ndim == 3:
        dances = [poses]
    elif isinstance(poses, np.ndarray) and poses.ndim == 4:
        dances = list(poses)
    else:
        dances = list(poses)
    out = [check_poses(d) for d in dances]
    if not out or any(d.ndim != 3 or d.shape[0] == 0 for d in out):
        raise ValueError("expected one or more dances of shape (T, 14, 2) with T >= 1")
    return out


def _frame_step(n_frames: int, step: int, max_frames: int | None) -> int:
    """Subsampling step, raised so that at most `max_frames` frames are drawn."""
    step = max(int(step), 1)
    if max_frames is not None and -(-n_frames // step) > max_frames:
        step = -(-n_frames // max(int(max_frames), 1))
    return step


def _dance_animation(
    dances: list[np.ndarray],
    fps: float,
    step: int,
    titles: Sequence[str] | None,
    styles: Sequence[str | None] | None,
    panel_size: tuple[float, float],
    dpi: float,
) -> tuple[Figure, FuncAnimation, int]:
    """Figure with one panel per dance and a FuncAnimation over frames 0, step, 2*step, ..."""
    n_total = max(d.shape[0] for d in dances)
    shown = np.arange(0, n_total, step)
    allp = np.concatenate([d.reshape(-1, 2) for d in dances])
    x_lo, x_hi = (
        min(0.0, float(allp[:, 0].min()) - 10),
        max(CANVAS_WIDTH, float(allp[:, 0].max()) + 10),
    )
    y_lo, y_hi = (
        min(0.0, float(allp[:, 1].min()) - 10),
        max(CANVAS_HEIGHT, float(allp[:, 1].max()) + 10),
    )
    k = len(dances)
    fig = Figure(figsize=(panel_size[0] * k, panel_size[1]), dpi=dpi)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88, wspace=0.05)
    axes = fig.subplots(1, k, squeeze=False)[0]
    collections, heads = [], []
    for i, ax in enumerate(axes):
        style = styles[i] if styles is not None and i < len(styles) else None
        colour = NEUTRAL if style is None else style_colour(style)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_hi, y_lo)  # y down
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.axhline(CANVAS_HEIGHT - 1, color="#bbbbbb", lw=1)
        if titles is not None and i < len(titles):
            ax.set_title(str(titles[i]), fontsize=9)
        lc = LineCollection([], colors=colour, linewidths=2.5, capstyle="round")
        ax.add_collection(lc)
        (head,) = ax.plot([], [], "o", ms=7, color=colour)
        collections.append(lc)
        heads.append(head)
    clock = fig.text(0.98, 0.95, "", ha="right", va="center", fontsize=8, color="#555555")

    def draw(j: int) -> list[Any]:
        frame = int(shown[j])
        for dance, lc, head in zip(dances, collections, heads, strict=True):
            pose = dance[min(frame, dance.shape[0] - 1)]
            lc.set_segments(pose[_BONE_INDEX])
            head.set_data([pose[0, 0]], [pose[0, 1]])
        clock.set_text(f"{frame / fps:5.2f} s")
        return [*collections, *heads, clock]

    draw(0)
    anim = FuncAnimation(fig, draw, frames=len(shown), interval=1000.0 * step / fps, blit=False)
    return fig, anim, len(shown)


def _wav_data_uri(
    audio: np.ndarray, sr: int, seconds: float | None, out_sr: int | None = None
) -> str:
    """Mono float audio -> 16-bit WAV data: URI, trimmed to `seconds`, resampled to `out_sr`."""
    import soundfile as sf
    from scipy.signal import resample_poly

    y = np.asarray(audio, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=0 if y.shape[0] < y.shape[1] else 1)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError(
            f"audio must be a non-empty finite mono signal, got shape {np.shape(audio)}"
        )
    if seconds is not None:
        y = y[: int(round(seconds * sr))]
    if out_sr is not None and int(out_sr) != int(sr):
        g = np.gcd(int(out_sr), int(sr))
        y = resample_poly(y, int(out_sr) // g, int(sr) // g)
        sr = int(out_sr)
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), int(sr), format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_SYNC_JS = """<script>
(function() {
  var audio = document.getElementById("%(audio_id)s");
  var slider = document.getElementById("_anim_slider%(id)s");
  var rate = %(rate)r, n = %(n)d, tries = 0;
  function attach() {
    var anim = window["anim%(id)s"];
    if (!anim) { if (tries++ < 400) setTimeout(attach, 25); return; }
    var proto = Object.getPrototypeOf(anim);
    var setFrame = proto.set_frame.bind(anim), stopTimer = proto.pause_animation.bind(anim);
    var raf = null;
    function follow() {
      var f = Math.max(0, Math.min(n - 1, Math.floor(audio.currentTime * rate)));
      if (f !== anim.current_frame) setFrame(f);
      raf = (!audio.paused && !audio.ended) ? requestAnimationFrame(follow) : null;
    }
    function play() { var p = audio.play(); if (p && p.catch) p.catch(function() {}); }
    anim.set_frame = function(f) {
      setFrame(f);
      if (Math.floor(audio.currentTime * rate) !== f) audio.currentTime = f / rate + 1e-3;
    };
    anim.play_animation = function() {
      stopTimer();
      if (anim.current_frame >= n - 1 || audio.ended) audio.currentTime = 0;
      play();
    };
    anim.pause_animation = function() { stopTimer(); audio.pause(); };
    anim.faster = function() { audio.playbackRate = Math.min(4, audio.playbackRate / 0.7); };
    anim.slower = function() { audio.playbackRate = Math.max(0.25, audio.playbackRate * 0.7); };
    audio.addEventListener("play", function() { stopTimer(); if (!raf) raf = requestAnimationFrame(follow); });
    audio.addEventListener("pause", follow);
    audio.addEventListener("seeked", follow);
    audio.addEventListener("ended", function() {
      if (anim.get_loop_state() === "loop") { audio.currentTime = 0; play(); }
    });
    if (slider) slider.addEventListener("input", function() {
      audio.currentTime = parseInt(slider.value) / rate + 1e-3;
    });
  }
  attach();
})();
</script>"""


_FRAME_RE = re.compile(r'(frames\[\d+\] = "data:image/png;base64,)([^"]*)(")')


def _shrink_frames(html: str, colours: int = 32) -> str:
    """Re-encode the embedded PNG frames with a small palette (about 1/3 of the bytes, same look)."""
    from PIL import Image

    def shrink(match: re.Match[str]) -> str:
        raw = base64.b64decode(match.group(2).replace("\\\n", ""))
        with Image.open(io.BytesIO(raw)) as im:
            small = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        small.save(buf, format="PNG", optimize=True)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return match.group(1) + data + match.group(3)

    return _FRAME_RE.sub(shrink, html)


def _clean_jshtml(html: str) -> str:
    """Drop every external <link> and swap Font Awesome icons for plain characters."""
    html = re.sub(r"<link\b[^>]*>", "", html, flags=re.IGNORECASE | re.DOTALL)
    for cls, char in _ICONS.items():
        html = html.replace(f'<i class="{cls}"></i>', char)
    return html


def animate_dance(
    poses: np.ndarray | Sequence[np.ndarray],
    fps: float = FPS,
    audio: np.ndarray | None = None,
    sr: int = 22050,
    titles: Sequence[str] | None = None,
    styles: Sequence[str | None] | None = None,
    step: int = 1,
    max_frames: int | None = 300,
    audio_sr: int | None = 16000,
    dpi: float = 72,
    panel_size: tuple[float, float] = (2.0, 3.4),
    loop: bool = False,
    palette_frames: bool = True,
    as_str: bool = False,
) -> HTML | str:
    """Self-contained HTML animation of one dance (T, 14, 2) or several side by side, with its music.

    Frames are PNGs rendered by matplotlib (`to_jshtml`), every `step`-th frame, at most
    `max_frames` (the step grows to fit), re-encoded with a 32-colour palette unless
    `palette_frames` is False. With `audio` the music is embedded as a 16-bit WAV
    `data:` URI (trimmed to the dance, resampled to `audio_sr` Hz to keep the page small;
    None keeps `sr`) and the animation's controls drive the audio, whose
    playback position then sets the frame. No external URL is emitted. Returns an
    IPython.display.HTML (a str if IPython is missing or `as_str`).
    """
    dances = _as_dances(poses)
    n_total = max(d.shape[0] for d in dances)
    step = _frame_step(n_total, step, max_frames)
    fig, anim, n_shown = _dance_animation(dances, fps, step, titles, styles, panel_size, dpi)
    rc = {"animation.frame_format": "png", "animation.embed_limit": 500.0}
    try:
        with matplotlib.rc_context(rc):
            html = anim.to_jshtml(fps=fps / step, default_mode="loop" if loop else "once")
    finally:
        plt.close(fig)
    html = _shrink_frames(_clean_jshtml(html)) if palette_frames else _clean_jshtml(html)
    match = re.search(r'id="_anim_img([0-9a-f]+)"', html)
    anim_id = match.group(1) if match else uuid.uuid4().hex
    parts = [f'<div class="d2m-dance" id="d2m_dance_{anim_id}">', html]
    if audio is not None:
        audio_id = f"d2m_audio_{anim_id}"
        uri = _wav_data_uri(audio, sr, n_total / fps, audio_sr)
        parts.append(
            f'<div><audio id="{audio_id}" controls preload="auto" '
            f'style="width: {max(240, int(panel_size[0] * len(dances) * dpi))}px" src="{uri}">'
            "</audio></div>"
        )
        parts.append(
            _SYNC_JS % {"audio_id": audio_id, "id": anim_id, "rate": fps / step, "n": n_shown}
        )
    parts.append("</div>")
    out = "\n".join(parts)
    if as_str:
        return out
    try:
        from IPython.display import HTML
    except ImportError:
        return out
    return HTML(out)


def save_animation(
    poses: np.ndarray | Sequence[np.ndarray],
    path: str | Path,
    fps: float = FPS,
    audio: np.ndarray | None = None,
    sr: int = 22050,
    step: int = 1,
    max_frames: int | None = None,
    titles: Sequence[str] | None = None,
    styles: Sequence[str | None] | None = None,
    dpi: float = 60,
    panel_size: tuple[float, float] = (2.0, 3.6),
) -> Path:
    """Write a dance (or several side by side) as a .gif (PillowWriter) or a .html page with its music, atomically.

    A GIF carries no sound: `audio` is then ignored. A .html path gets a standalone page
    holding animate_dance's output (frames and music embedded, no external URL).
    Pillow merges consecutive identical frames into one longer frame, so a still stretch
    of dance yields fewer GIF frames than poses.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        body = animate_dance(
            poses,
            fps=fps,
            audio=audio,
            sr=sr,
            titles=titles,
            styles=styles,
            step=step,
            max_frames=max_frames,
            dpi=dpi,
            panel_size=panel_size,
            as_str=True,
        )
        page = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{path.stem}</title></head>\n<body>\n{body}\n</body></html>\n"
        )
        write_bytes(path, page.encode("utf-8"))
        return path
    if suffix != ".gif":
        raise D2MError("save_animation writes .gif or .html files", path)
    dances = _as_dances(poses)
    step = _frame_step(max(d.shape[0] for d in dances), step, max_frames)
    fig, anim, _ = _dance_animation(dances, fps, step, titles, styles, panel_size, dpi)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_gif = Path(tmp) / "dance.gif"
            anim.save(str(tmp_gif), writer=PillowWriter(fps=fps / step), dpi=dpi)
            write_bytes(path, tmp_gif.read_bytes())
    finally:
        plt.close(fig)
    return path


# --------------------------------------------------------------------------- your music


def plot_style_probs(probs: np.ndarray, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Horizontal bars: the predicted probability of each style (data.STYLES order), in its colour."""
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


# --------------------------------------------------------------------------- timing results


def timing_labels(df: pd.DataFrame) -> pd.Series:
    """One label per timing row naming who measured it: "machine: cpu, N threads" or "machine: cuda (GPU)"."""
    missing = {"machine", "device", "torch_threads", "cuda_device"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks columns {sorted(missing)}")

    def label(row: pd.Series) -> str:
        device = str(row["device"])
        if device.startswith("cuda"):
            gpu = str(row["cuda_device"] or "").strip()
            return f"{row['machine']}: {device}" + (f" ({gpu})" if gpu else "")
        threads = row["torch_threads"]
        return f"{row['machine']}: {device}" + ("" if pd.isna(threads) else f", {threads} threads")

    return df.apply(label, axis=1) if len(df) else pd.Series([], dtype=object, index=df.index)


def plot_bench(
    df: pd.DataFrame,
    x: str,
    hue: str | None = None,
    ax: Axes | None = None,
    ylabel: str | None = None,
    logx: bool | None = None,
    logy: bool | None = None,
) -> Figure:
    """Measured medians against `x`, one line per `hue` value, whiskers from q1 to q3 (no fits, no fill-in)."""
    cols = {x, "median", "q1", "q3"} | ({hue} if hue else set())
    missing = cols - set(df.columns)
    if missing:
        raise ValueError(f"df lacks columns {sorted(missing)}")
    if df.empty:
        raise ValueError("no measurements to plot")
    fig, ax = _new_ax(ax, (8.0, 3.6))
    keys = list(dict.fromkeys(df[hue])) if hue else [None]
    colours = _colours_for(keys)
    markers = "osD^vP*X"
    for i, key in enumerate(keys):
        grp = df if key is None else df[df[hue] == key]
        grp = grp.sort_values(x)
        xs = grp[x].to_numpy(dtype=float)
        med = grp["median"].to_numpy(dtype=float)
        lo = np.clip(med - grp["q1"].to_numpy(dtype=float), 0, None)
        hi = np.clip(grp["q3"].to_numpy(dtype=float) - med, 0, None)
        ax.errorbar(
            xs,
            med,
            yerr=np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)]),
            marker=markers[i % len(markers)],
            ms=4,
            capsize=3,
            color=colours[key],
            label=None if key is None else str(key),
        )
    xs_all = df[x].to_numpy(dtype=float)
    if logx is None:
        logx = _wants_log(xs_all, 8)
    if logy is None:
        logy = _wants_log(df["median"].to_numpy(dtype=float), 10)
    if logx:
        ax.set_xscale("log", base=2)
        ticks = np.unique(xs_all)
        if ticks.size <= 12:
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or "median")
    if hue:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def plot_bench_bars(
    df: pd.DataFrame,
    category: str,
    hue: str,
    ax: Axes | None = None,
    ylabel: str | None = None,
    logy: bool = False,
) -> Figure:
    """Grouped bars of measured medians: one group per `category`, one bar per `hue`, q1-q3 whiskers."""
    missing = {category, hue, "median", "q1", "q3"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks columns {sorted(missing)}")
    if df.empty:
        raise ValueError("no measurements to plot")
    cats = list(dict.fromkeys(df[category]))
    hues = list(dict.fromkeys(df[hue]))
    colours = _colours_for(hues)
    fig, ax = _new_ax(ax, (4.5 + 0.6 * len(cats) * max(1, len(hues)), 3.4))
    width = 0.8 / len(hues)
    for j, h in enumerate(hues):
        for i, c in enumerate(cats):
            rows = df[(df[category] == c) & (df[hue] == h)]
            if rows.empty:
                continue  # never measured: no bar
            med, q1, q3 = (float(rows[k].iloc[-1]) for k in ("median", "q1", "q3"))
            ax.bar(
                i - 0.4 + width * (j + 0.5),
                med,
                width,
                yerr=[[max(med - q1, 0.0)], [max(q3 - med, 0.0)]],
                color=colours[h],
                capsize=3,
                label=str(h),
            )
    ax.set_xticks(np.arange(len(cats)), [str(c) for c in cats])
    ax.set_xlabel(category)
    ax.set_ylabel(ylabel or "median")
    if logy:
        ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(
        uniq.values(), uniq.keys(), fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0)
    )
    return fig


def plot_step_phases(
    table: pd.DataFrame, ax: Axes | None = None, scale: float = 1e3, unit: str = "ms"
) -> Figure:
    """Stacked horizontal bars: forward, backward and optimiser time of each row's training step."""
    phases = [p for p in ("forward", "backward", "optimiser") if p in table.columns]
    if not phases:
        raise ValueError("table needs forward / backward / optimiser columns")
    if table.empty:
        raise ValueError("no measurements to plot")
    fig, ax = _new_ax(ax, (6.4, 0.8 + 0.55 * len(table)))
    left = np.zeros(len(table))
    pos = np.arange(len(table))
    for k, phase in enumerate(phases):
        values = table[phase].to_numpy(dtype=float) * scale
        ax.barh(pos, values, left=left, color=PALETTE[k], label=phase)
        left += values
    ax.set_yticks(pos, [str(i) for i in table.index])
    ax.invert_yaxis()
    ax.set_xlabel(f"time per training step ({unit})")
    ax.legend(fontsize="small", loc="lower right")
    return fig


# --------------------------------------------------------------------------- chapters: training, initial pose


def plot_reconstructions(
    originals: np.ndarray,
    recons: np.ndarray,
    styles: Sequence[str],
    frames: Sequence[int] | int | None = 6,
    titles: Sequence[str] | None = None,
) -> Figure:
    """One row per unit: its poses (style colour) with the reconstruction over them (grey, dashed)."""
    originals, recons = check_poses(originals), check_poses(recons)
    if originals.shape != recons.shape or originals.ndim != 4:
        raise ValueError(
            f"need matching units (k, T, 14, 2), got {originals.shape}, {recons.shape}"
        )
    if len(styles) != originals.shape[0]:
        raise ValueError(f"{len(styles)} styles for {originals.shape[0]} units")
    idx = _unit_frames(originals.shape[1], frames)
    fig, axes = plt.subplots(
        len(styles), 1, figsize=(1.0 + 1.0 * len(idx), 2.9 * len(styles)),
        layout="constrained", squeeze=False,
    )  # fmt: skip
    for r, (ax, unit, recon, style) in enumerate(
        zip(axes[:, 0], originals, recons, styles, strict=True)
    ):
        both = np.concatenate([unit, recon])
        x_lo, x_hi = float(both[..., 0].min()), float(both[..., 0].max())
        spacing = max(x_hi - x_lo, 1.0) * 1.15
        for k, f in enumerate(idx):
            for poses, colour, ls in ((unit, style_colour(style), "-"), (recon, NEUTRAL, "--")):
                pose = poses[f].copy()
                pose[:, 0] += k * spacing - x_lo
                for a, b in BONES:
                    ax.plot(pose[[a, b], 0], pose[[a, b], 1], color=colour, ls=ls, lw=1.8)
        ax.set_aspect("equal")
        _invert_y(ax)
        centres = [k * spacing + (x_hi - x_lo) / 2 for k in range(len(idx))]
        ax.set_xticks(centres, [str(f) for f in idx])
        ax.set_xlabel(f"frame (at {FPS:g} fps), poses side by side")
        ax.set_ylabel("y (px)")
        ax.set_title(titles[r] if titles else f"{style}: original (solid), reconstruction (dashed)")
    return fig


def plot_pose_grid(
    rows: Mapping[str, Sequence[np.ndarray]],
    col_titles: Sequence[str] | None = None,
    style: str | None = None,
) -> Figure:
    """Poses (14, 2) in a grid: one row per key of `rows` (its label on the left), shared axes."""
    if not rows or any(len(v) == 0 for v in rows.values()):
        raise ValueError("plot_pose_grid needs at least one pose in every row")
    n_cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(1.7 * n_cols + 0.6, 3.0 * len(rows)),
        sharex=True, sharey=True, squeeze=False, layout="constrained",
    )  # fmt: skip
    colour = None if style is None else style_colour(style)
    for r, (label, poses) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(poses):
                ax.set_axis_off()
                continue
            plot_pose(np.asarray(poses[c]), ax=ax, colour=colour)
            if r == 0 and col_titles is not None and c < len(col_titles):
                ax.set_title(str(col_titles[c]), fontsize=9)
            ax.set_ylabel(f"{label}\ny (px)" if c == 0 else "")
            if r < len(rows) - 1:
                ax.set_xlabel("")
    return fig


def plot_training_curves(
    metrics: pd.DataFrame,
    terms: Sequence[str],
    ax: Axes | None = None,
    smooth: int = 1,
    logy: bool | None = None,
    ylabel: str = "loss",
) -> Figure:
    """Loss terms of a run: training curves smoothed over `smooth` steps (solid), validation as logged (dashed)."""
    train_rows = metrics[metrics["split"] == "train"]
    val_rows = metrics[(metrics["split"] != "train") & metrics["term"].isin(terms)]
    fig = plot_loss_curves(train_rows, terms=terms, ax=ax, smooth=smooth, logy=logy)
    ax = fig.axes[0] if ax is None else ax
    if not val_rows.empty:
        present = [t for t in terms if t in set(val_rows["term"])]
        plot_loss_curves(val_rows, terms=present, ax=ax, logy=ax.get_yscale() == "log")
        colours = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(terms)}
        for line in ax.get_lines():  # validation lines in their term's training colour
            term = str(line.get_label()).rsplit(" (", 1)[0]
            if term in colours:
                line.set_color(colours[term])
        ax.legend(fontsize="small", ncols=2 if len(terms) > 2 else 1)
    ax.set_ylabel(ylabel)
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


SYSTEM_LABELS: dict[str, str] = {
    "no_style_regressor": "no style\nregressor",
    "no_movement_alignment": "no movement\nalignment",
    "no_dance_alignment": "no dance\nalignment",
    "full_nowarp": "full,\nno warp",
    "random_units": "random\nunits",
    "unit_recon": "unit\nrecon",
}
"""Short two-line labels for the evaluation table's system names, for bar charts."""


def relabel_systems(df: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of a results table with its `system` column renamed for display (SYSTEM_LABELS)."""
    if "system" not in df.columns:
        raise ValueError("df lacks a 'system' column")
    out = df.copy()
    out["system"] = out["system"].map(lambda s: dict(labels or SYSTEM_LABELS).get(s, s))
    return out
