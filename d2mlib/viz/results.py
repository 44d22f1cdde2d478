"""Figures of results: loss curves, confusion matrices, 2-D embeddings, metric bars, and the
systems' display names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from d2mlib.config import STYLES
from d2mlib.viz.common import PALETTE, _colours_for, _new_ax


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


SYSTEM_LABELS: dict[str, str] = {
    "no_style_regressor": "no style\nregressor",
    "no_movement_alignment": "no movement\nalignment",
    "no_dance_alignment": "no dance\nalignment",
    "full_warped": "full,\nwarped",
    "retrieval_warped": "retrieval,\nwarped",
    "random_units_warped": "random units,\nwarped",
    "random_units": "random\nunits",
    "unit_recon": "unit\nrecon",
    "comp_recon": "composer\nrecon",
    "bank_recon": "bank\nrecon",
    "bank_fitted": "bank,\nfitted",
    "keyed_retrieval": "keyed\nretrieval",
    "keyed_bank_pool": "keyed, the\nbank's pool",
    "bank_by_style": "bank,\nby style",
}


def relabel_systems(df: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A copy of a results table with its `system` column renamed for display (SYSTEM_LABELS)."""
    if "system" not in df.columns:
        raise ValueError("df lacks a 'system' column")
    out = df.copy()
    out["system"] = out["system"].map(lambda s: dict(labels or SYSTEM_LABELS).get(s, s))
    return out
