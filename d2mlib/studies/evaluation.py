"""How do the dances score, between the data and the baselines? The evaluation chapter's tables,
verdicts and FID-against-N curve (book/evaluation.md; scores from metrics.evaluation, verdicts
from metrics.bounds and the book's one rule, d2mlib.stats.compare).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from d2mlib import stats, verdicts, viz
from d2mlib.errors import MetricError
from d2mlib.metrics.bounds import METRIC_DIRECTIONS
from d2mlib.metrics.evaluation import METRIC_NAMES, PER_CLIP_METRICS, summarise
from d2mlib.metrics.field_features import variants_table
from d2mlib.metrics.field_fid import (
    FID_PROTOCOL_PROJECTIONS,
    extrapolate,
    fid_against_n,
    fid_protocol,
    max_n,
)

ARROWS = {"lower": "↓", "higher": "↑", "closer": "≈ data"}
"""How a table marks each metric's better direction."""


def _cell(mean: float, spread: float, n: int) -> str:
    """'1,700 ± 180', '0.243 ± 0.012': the mean to three significant digits, the spread to the
    same decimals (so a spread far below the mean's precision reads 0); one seed: the mean."""
    if not np.isfinite(mean):
        return "–"
    text = verdicts.fmt_num(mean, 3)
    if n < 2:
        return text
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    return f"{text} ± {spread:,.{decimals}f}"


def score_table(
    table: pd.DataFrame, systems: Sequence[str], metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """A reader's table of an evaluation: one row per metric (its human name and better
    direction), one column per system, "mean ± standard deviation over seeds"."""
    summary = summarise(table)
    present = set(summary["metric"])
    names = [m for m in (metrics or METRIC_NAMES) if m in present]
    cells = {(r.system, r.metric): r for r in summary.itertuples(index=False)}
    rows = []
    for m in names:
        label = f"{viz.metric_name(m)} {ARROWS.get(METRIC_DIRECTIONS.get(m, ''), '')}".strip()
        row = {"metric": label}
        for s in systems:
            r = cells.get((s, m))
            row[s] = "–" if r is None else _cell(r.mean, r.spread, r.n)
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def metric_list(names: Sequence[str], empty: str = "none") -> str:
    """Human metric names joined for prose: 'FID, beat hit rate and diversity'."""
    items = [viz.metric_name(n) for n in names]
    if not items:
        return empty
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def floors_summary(
    judged: pd.DataFrame, floors: Sequence[str], noun: str = "metric"
) -> dict[str, object]:
    """From `metrics.bounds.judge_floors`: the metrics judged, those the model beats every floor
    on (each row's `verdicts.claim_verdict` confirmed), and a phrase counting them."""
    if judged.empty:
        raise MetricError("floors_summary: no judged rows")
    claims = {
        (r.baseline, r.metric): verdicts.claim_verdict(
            r._asdict(), "higher" if METRIC_DIRECTIONS[r.metric] == "higher" else "lower"
        )
        for r in judged.itertuples(index=False)
    }
    metrics = list(dict.fromkeys(judged["metric"]))
    won = [m for m in metrics if all(claims.get((f, m)) == "confirmed" for f in floors)]
    lost = [m for m in metrics if any(claims.get((f, m)) == "refuted" for f in floors)]
    return {
        "metrics": metrics,
        "beats_all": won,
        "loses_somewhere": lost,
        "phrase": f"{len(won)} of {verdicts.count_phrase(len(metrics), noun)}",
        "claims": claims,
    }


def differing(result: pd.DataFrame, system: str) -> str:
    """The metrics on which the rule finds `system` different from the baseline, as a phrase:
    'FID and beat hit rate (2 of 16 metrics)' or 'none of 16 metrics'."""
    rows = result[result["system"] == system]
    if rows.empty:
        raise MetricError(f"differing: no compare rows for system {system!r}")
    found = rows.loc[rows["differs"].astype(bool), "metric"].tolist()
    total = verdicts.count_phrase(len(rows), "metric")
    if not found:
        return f"none of {total}"
    return f"{metric_list(found)} ({len(found)} of {total})"


def rule_power(n_seeds: int, n_rows: int, alpha: float = 0.05) -> float:
    """Smallest effect on a per-run metric, in seed standard deviations, that the rule finds 80%
    of the time with `n_seeds` seeds a side in a family of `n_rows` comparisons."""
    return stats.minimum_detectable_effect(
        n_seeds, 0, 1.0, n_rows=n_rows, alpha=alpha, n_sim=2000, seed=0
    )


def per_clip_count(metrics: Sequence[str]) -> int:
    """How many of `metrics` have one value per clip (the rest, one per run)."""
    return sum(m in PER_CLIP_METRICS for m in metrics)


def fid_curve(
    features: np.ndarray, marked: int | None = None, repeats: int = 20, seed: int = 0
) -> pd.DataFrame:
    """FID of a set of embeddings against itself (disjoint halves) at sizes N from 6 to half the
    set, geometrically spaced, plus `marked` (e.g. the test set's size): mean and standard
    deviation over `repeats` draws per N, plain (full dimension) and in the protocol's view
    (mean over its random 4-d projections); ``attrs["fid_inf"]`` is the protocol's FID_inf."""
    top = max_n(features)
    sizes = np.geomspace(6, top, 6).astype(int) if top > 6 else np.array([top])
    if marked is not None and 2 <= marked <= top:
        sizes = np.append(sizes, marked)
    ns = sorted({int(n) for n in sizes})
    plain = fid_against_n(features, None, ns, repeats=repeats, seed=seed)
    try:
        proto = fid_protocol(features, None)
        dim, fid_inf = proto.dim, proto.value
    except MetricError:  # too few dances for the protocol (smoke scale)
        dim, fid_inf = None, float("nan")
    out = plain.groupby("n")["fid"].agg(["mean", "std"])
    out.columns = ["plain FID", "plain sd"]
    if dim is not None:
        projected = [
            fid_against_n(features, None, ns, repeats, seed, dim, projection_seed=p)
            for p in range(FID_PROTOCOL_PROJECTIONS)
        ]
        out["protocol view"] = pd.concat(projected).groupby("n")["fid"].mean()
    else:
        out["protocol view"] = float("nan")
    out.attrs["fid_inf"] = fid_inf
    out.attrs["plain_inf"] = extrapolate(plain)[0]
    return out.reset_index()


COLUMN_VARIANTS: dict[str, tuple[str, str]] = {
    "fid": ("plain FID at the test set's N", "fid_infinity (below)"),
    "fid_k": ("this book's kinetic features", "kinetic_aist"),
    "fid_k_aist": ("kinetic_aist", "kinetic_aist"),
    "fid_g": ("this book's geometric features", "geometric_muller (not scored)"),
    "bas_kinematic": ("this book's beats, sigma 0.1 s", "bas_fact"),
    "bas_fact": ("bas_fact", "bas_fact"),
    "bas_music": ("this book's beats, sigma 0.1 s", "bas_bailando"),
    "bas_bailando": ("bas_bailando", "bas_bailando"),
}
"""For each table column that carries a field's name: the variant it computes and the field's
exact variant (metrics.field_features.VARIANTS) that matches it."""


def variant_columns() -> pd.DataFrame:
    """The evaluation table's field-named columns: the variant each computes and the field's
    exact variant that matches it (names from `variants_table`)."""
    known = set(variants_table()["name"])
    rows = []
    for metric, (mine, exact) in COLUMN_VARIANTS.items():
        if exact.split(" ")[0] not in known:
            raise MetricError(f"variant_columns: {exact!r} is not in field_features.VARIANTS")
        rows.append({"column": viz.metric_name(metric), "computes": mine, "field's variant": exact})
    return pd.DataFrame(rows).set_index("column")


def curve_phrase(curve: pd.DataFrame) -> str:
    """The FID-against-N curve for prose: 'N = 3: 812; N = 10: 240; ...'."""
    return "; ".join(
        f"N = {int(r.n)}: {verdicts.fmt_num(r.plain_mean, 3)}"
        for r in curve.rename(columns={"plain FID": "plain_mean"}).itertuples(index=False)
    )


def readable_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """The FID-against-N curve as a reader's table (N as rows, numbers to three digits)."""
    out = pd.DataFrame({"dances per half (N)": curve["n"].astype(int)})
    for col in ("plain FID", "plain sd", "protocol view"):
        out[col] = [verdicts.fmt_num(v, 3) for v in curve[col]]
    return out.set_index("dances per half (N)")
