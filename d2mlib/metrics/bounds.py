"""Comparing systems: scoring several runs, each metric's direction, differences against a
reference with their spread over seeds, and where a system sits between the ceiling and floors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from d2mlib import generate
from d2mlib.beats import beat_metrics
from d2mlib.metrics.eval_data import EvalConfig, EvalData, load_eval_data
from d2mlib.metrics.evaluation import (
    METRIC_NAMES,
    DanceSampler,
    dance_classifier_for_data,
    evaluate_systems,
    generator_sampler,
    summarise,
)
from d2mlib.validate import check_same_length, metric_error


def per_seed_sampler(samplers: Sequence[DanceSampler]) -> DanceSampler:
    """One DanceSampler over several (one per training seed): evaluation seed s uses
    ``samplers[s % len(samplers)]``, so the spread over seeds covers training and sampling."""
    items = list(samplers)
    if not items:
        raise metric_error("per_seed_sampler: empty set (no samplers)")

    def sample(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        return items[int(seed) % len(items)](seed, k, clips)

    return sample


def run_systems(
    runs: dict[str, Sequence[str | Path]], data: EvalData, warp: bool = True
) -> dict[str, DanceSampler]:
    """Samplers for named systems, each from its finished composition runs (one per training seed)."""

    out: dict[str, DanceSampler] = {}
    for name, paths in runs.items():
        gens = [generate.DanceGenerator.from_run(p, device="cpu") for p in paths]
        if not gens:
            raise metric_error(f"run_systems: system {name!r} has no runs")
        out[name] = per_seed_sampler([generator_sampler(g, data, warp=warp) for g in gens])
    return out


def evaluate_runs(
    runs: dict[str, Sequence[str | Path]],
    data_dir: str | Path,
    runs_dir: str | Path,
    seeds: int = 3,
    config: EvalConfig | None = None,
    include_baselines: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """`evaluate` for explicit runs: system name -> its composition runs (one per training seed).

    Evaluation seed s scores the run of training seed ``s % len(runs)``; the dataset and the
    baselines are scored as in `evaluate_systems`; `config.max_clips` keeps a style-balanced
    subset of the split (`load_eval_data` with `max_clips`). Returns the tidy (system, seed, metric,
    value) table.
    """
    config = config or EvalConfig()
    classifier, _ = dance_classifier_for_data(data_dir, runs_dir, config.classifier, progress)
    data = load_eval_data(data_dir, config)
    systems = run_systems(runs, data)
    return evaluate_systems(
        data, classifier, systems, seeds, config, include_baselines, progress=progress
    )


def compare_to_reference(
    table: pd.DataFrame, reference: str = "full", metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each system's mean minus the reference system's, per metric, against the seed spread.

    The pooled spread is ``sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2))`` from the two
    systems' sample stds over seeds; ``larger`` is True when ``|difference|`` exceeds it (and
    False when it cannot be judged: fewer than two seeds in total beyond one each, or NaN).
    Columns: system, metric, reference_mean, mean, difference, spread, ratio, larger.
    """
    summary = summarise(table)
    if reference not in set(summary["system"]):
        raise metric_error(f"compare_to_reference: no rows for reference system {reference!r}")
    ref = summary[summary["system"] == reference].set_index("metric")
    rows = []
    for row in summary[summary["system"] != reference].itertuples(index=False):
        if row.metric not in ref.index or (metrics is not None and row.metric not in metrics):
            continue
        r = ref.loc[row.metric]
        dof = int(r["n"]) + int(row.n) - 2
        pooled = (
            float(np.sqrt(((r["n"] - 1) * r["spread"] ** 2 + (row.n - 1) * row.spread**2) / dof))
            if dof > 0
            else float("nan")
        )
        diff = float(row.mean - r["mean"])
        judged = np.isfinite(diff) and np.isfinite(pooled)
        rows.append(
            {
                "system": row.system,
                "metric": row.metric,
                "reference_mean": float(r["mean"]),
                "mean": float(row.mean),
                "difference": diff,
                "spread": pooled,
                "ratio": abs(diff) / pooled if judged and pooled > 0 else float("nan"),
                "larger": bool(judged and abs(diff) > pooled),
            }
        )
    columns = ["system", "metric", "reference_mean", "mean", "difference", "spread", "ratio"]
    return pd.DataFrame(rows, columns=[*columns, "larger"])


def describe_differences(comparison: pd.DataFrame, system: str) -> str:
    """A phrase naming the metrics on which `system` differs from the reference by more than
    the seed spread, e.g. "2 of 12 metrics (fid, diversity)" or "none of the 12 metrics"."""
    rows = comparison[comparison["system"] == system]
    if rows.empty:
        raise metric_error(f"describe_differences: no comparison rows for system {system!r}")
    larger = rows.loc[rows["larger"].astype(bool), "metric"].tolist()
    total = len(rows)
    if not larger:
        return f"none of the {total} metrics"
    return f"{len(larger)} of {total} metrics ({', '.join(larger)})"


def mean_spread_table(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    digits: int = 3,
) -> pd.DataFrame:
    """A display table (metric rows, system columns) of "mean ± spread" over seeds.

    A system scored with one seed shows its mean only; a missing metric shows "–".
    """
    summary = summarise(table)
    metrics = (
        list(metrics)
        if metrics is not None
        else [m for m in METRIC_NAMES if m in set(summary["metric"])]
        + [m for m in dict.fromkeys(summary["metric"]) if m not in METRIC_NAMES]
    )
    systems = list(systems) if systems is not None else list(dict.fromkeys(summary["system"]))
    cells = {(r.system, r.metric): r for r in summary.itertuples(index=False)}
    out = pd.DataFrame("–", index=pd.Index(metrics, name="metric"), columns=systems)
    for s in systems:
        for m in metrics:
            r = cells.get((s, m))
            if r is None or not np.isfinite(r.mean):
                continue
            text = f"{r.mean:.{digits}g}"
            out.loc[m, s] = text if r.n < 2 else f"{text} ± {r.spread:.2g}"
    return out


def beat_source_table(
    dances: dict[str, Sequence[np.ndarray]],
    sources: dict[str, Sequence[np.ndarray | None]],
    config: EvalConfig | None = None,
) -> pd.DataFrame:
    """Beat metrics of sets of dances against several sources of musical beats.

    `dances` maps a system to one dance per piece of music; `sources` maps a beat source
    (e.g. librosa's tracked beats, the synthetic world's true beats) to beat times (s) per
    piece (None: no beats, skipped). Rows (system, beat source); columns the four beat metrics.
    """
    config = config or EvalConfig()
    rows = []
    for system, items in dances.items():
        for source, beats in sources.items():
            check_same_length(items, beats, f"{system} dances", f"{source} beat arrays")
            use = [i for i, b in enumerate(beats) if b is not None]
            if not use:
                continue
            scores = beat_metrics(
                [items[i] for i in use],
                [beats[i] for i in use],
                fps=config.fps,
                tolerance=config.tolerance,
                sigma=config.sigma,
                smoothing=config.smoothing,
                min_motion=config.min_motion,
            )
            keys = ("beat_coverage", "beat_hit_rate", "bas_kinematic", "bas_music")
            rows.append({"system": system, "beats": source} | {k: scores[k] for k in keys})
    return pd.DataFrame(rows).set_index(["system", "beats"])


METRIC_DIRECTIONS: dict[str, str] = {
    "fid": "lower",
    "diversity": "closer",
    "multimodality": "higher",
    "style_consistency": "higher",
    "beat_coverage": "closer",
    "beat_hit_rate": "higher",
    "bas_kinematic": "higher",
    "bas_music": "higher",
    "fid_k": "lower",
    "fid_g": "lower",
    "diversity_k": "closer",
    "diversity_g": "closer",
}


def against_bounds(
    table: pd.DataFrame,
    system: str,
    ceiling: str = "dataset",
    floors: Sequence[str] = ("retrieval", "random_units"),
) -> pd.DataFrame:
    """Per metric: `system`'s mean, the ceiling's, the best floor's, and whether it beats every floor.

    "Better" follows METRIC_DIRECTIONS ("closer" means nearer the ceiling's value); a metric
    the ceiling lacks cannot be judged by "closer" and is left out, as are metrics without a
    direction. Columns: metric, system, ceiling, best_floor, beats_floors.
    """
    means = summarise(table).pivot(index="metric", columns="system", values="mean")
    for name in (system, *floors):
        if name not in means.columns:
            raise metric_error(f"against_bounds: no rows for system {name!r}")
    rows = []
    for metric, direction in METRIC_DIRECTIONS.items():
        if metric not in means.index or not np.isfinite(means.loc[metric, system]):
            continue
        top = means.loc[metric, ceiling] if ceiling in means.columns else float("nan")
        if direction == "closer" and not np.isfinite(top):
            continue
        values = {n: float(means.loc[metric, n]) for n in (system, *floors)}
        if any(not np.isfinite(v) for v in values.values()):
            continue

        def goodness(v: float, d: str = direction, ref: float = top) -> float:
            return -v if d == "lower" else v if d == "higher" else -abs(v - ref)

        best_floor = max(floors, key=lambda n: goodness(values[n]))
        rows.append(
            {
                "metric": metric,
                "system": values[system],
                "ceiling": float(top),
                "best_floor": values[best_floor],
                "beats_floors": all(goodness(values[system]) > goodness(values[n]) for n in floors),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "system", "ceiling", "best_floor", "beats_floors"])
