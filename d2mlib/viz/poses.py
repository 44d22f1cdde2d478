"""Figures of poses: one pose, a unit's frames, grids of units, reconstructions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from d2mlib.skeleton import BONES, FPS, NUM_JOINTS, check_poses
from d2mlib.viz.common import NEUTRAL, _invert_y, _new_ax, style_colour


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
        figsize=(n_cols * (0.45 * n_strip + 0.6), 1.7 * len(rows)),  # 10 pt text >= 8 px at 670 px
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
