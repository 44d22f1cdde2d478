"""Figures of timing results: time against batch size, bars by phase or variant."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from d2mlib.viz.common import PALETTE, _colours_for, _new_ax


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
