"""Figures and tables of the book's decision rule (`d2mlib.stats.compare`): forest plots and
readable names for the metrics."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from d2mlib.viz.common import NEUTRAL, PALETTE, _new_ax

# Human names (and units) for the metrics the book reports; used by tables, figures and search.
METRIC_NAMES: dict[str, str] = {
    "fid": "FID (classifier embedding)",
    "diversity": "diversity",
    "multimodality": "multimodality",
    "style_consistency": "style consistency",
    "beat_coverage": "beat coverage",
    "beat_hit_rate": "beat hit rate",
    "bas_kinematic": "beat align score (over dance beats)",
    "bas_music": "beat align score (over music beats)",
    "fid_k": "FID_k (kinetic features)",
    "fid_g": "FID_g (geometric features)",
    "diversity_k": "diversity (kinetic)",
    "diversity_g": "diversity (geometric)",
    "beat_coverage_true": "beat coverage (true beats)",
    "beat_hit_rate_true": "beat hit rate (true beats)",
    "bas_kinematic_true": "beat align score (over dance beats, true beats)",
    "bas_music_true": "beat align score (over music beats, true beats)",
    "fid_k_aist": "FID_k (AIST++ kinetic features)",
    "bas_fact": "beat align score (FACT, in seconds)",
    "bas_bailando": "beat align score (Bailando, in seconds)",
    "music_dependence": "music-movement dependence",
    "accuracy": "accuracy",
    "recall": "recall",
    "precision": "precision",
}


def metric_name(metric: str, names: Mapping[str, str] | None = None) -> str:
    """The reader's name of a metric ("beat_hit_rate" -> "beat hit rate"); unknown names de-snaked."""
    table = dict(METRIC_NAMES, **dict(names or {}))
    return table.get(metric, metric.replace("_", " "))


def plot_forest(
    result: pd.DataFrame,
    ax: Axes | None = None,
    names: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Effects with their confidence intervals, one row per (metric, system) of a compare() result.

    Filled markers: the rule says the row differs (family-wise, at its level); open: it does not.
    Each metric keeps its own units, so each row is scaled by the largest |value| of its metric
    (the axis reads "effect / largest |effect or CI end| of that metric"); the printed numbers are raw.
    """
    need = {"system", "metric", "effect", "ci_low", "ci_high", "differs"}
    missing = need - set(result.columns)
    if missing:
        raise ValueError(f"result lacks columns {sorted(missing)}")
    if result.empty:
        raise ValueError("result has no rows")
    order = {m: i for i, m in enumerate(dict.fromkeys(result["metric"]))}
    rows = result.assign(_o=result["metric"].map(order)).sort_values(["_o", "system"])
    systems = list(dict.fromkeys(rows["system"]))
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(systems)}
    fig, ax = _new_ax(ax, (7.0, 0.38 * len(rows) + 1.2))
    labels = []
    for y, r in enumerate(rows.itertuples(index=False)):
        group = rows[rows["metric"] == r.metric][["effect", "ci_low", "ci_high"]].to_numpy(float)
        scale = np.nanmax(np.abs(group)) or 1.0
        lo, hi, eff = r.ci_low / scale, r.ci_high / scale, r.effect / scale
        c = colours[r.system]
        ax.plot([lo, hi], [y, y], color=c, lw=2)
        ax.plot(eff, y, "o", ms=7, color=c, mfc=c if r.differs else "white", mew=1.6)
        ax.annotate(
            f"{r.effect:+.3g}",
            (1.02, y),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=9,
        )
        who = f" ({r.system})" if len(systems) > 1 else ""
        labels.append(f"{metric_name(r.metric, names)}{who}")
    ax.axvline(0, color=NEUTRAL, lw=1, ls="--")
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(-1.1, 1.1)
    ax.set_xlabel("effect against the baseline, scaled per metric (filled: differs)")
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def readable_comparison(
    result: pd.DataFrame, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A compare() result as a reader's table: metric names, effect with CI, adjusted p, verdict."""
    out = pd.DataFrame(
        {
            "system": result["system"].to_numpy(),
            "metric": [metric_name(m, names) for m in result["metric"]],
            "effect": [f"{e:+.3g}" for e in result["effect"]],
            "95% CI": [
                f"{lo:.3g} to {hi:.3g}"
                for lo, hi in zip(result["ci_low"], result["ci_high"], strict=True)
            ],
            "p (Holm)": [f"{p:.3f}" if np.isfinite(p) else "n/a" for p in result["p_adjusted"]],
            "differs": ["yes" if d else "no" for d in result["differs"]],
        }
    )
    return out
