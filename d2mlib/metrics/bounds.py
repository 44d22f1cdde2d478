"""Comparing systems with the book's decision rule: scoring several runs, each metric's
direction, and where a system sits against the ceiling and the floors (`d2mlib.stats.compare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from d2mlib import generate
from d2mlib.metrics.eval_data import EvalConfig, EvalData, load_eval_data
from d2mlib.metrics.evaluation import (
    METRIC_NAMES,
    TABLE_COLUMNS,
    DanceSampler,
    dance_classifier_for_data,
    evaluate_systems,
    generator_sampler,
)
from d2mlib.stats import compare
from d2mlib.validate import metric_error


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
    runs: dict[str, Sequence[str | Path]], data: EvalData, warp: bool = False
) -> dict[str, DanceSampler]:
    """Samplers for named systems, each from its finished composition runs (one per training
    seed); unwarped (the models' own output) unless `warp`."""

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

    Evaluation seed s scores the run of training seed ``s % len(runs)``, unwarped; the dataset
    and the baselines are scored as in `evaluate_systems`; `config.max_clips` keeps a
    style-balanced subset of the split (`load_eval_data` with `max_clips`). Returns the tidy
    table (TABLE_COLUMNS).
    """
    config = config or EvalConfig()
    classifier, _ = dance_classifier_for_data(data_dir, runs_dir, config.classifier, progress)
    data = load_eval_data(data_dir, config)
    systems = run_systems(runs, data)
    return evaluate_systems(
        data, classifier, systems, seeds, config, include_baselines, progress=progress
    )


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
    "beat_coverage_true": "closer",
    "beat_hit_rate_true": "higher",
    "bas_kinematic_true": "higher",
    "bas_music_true": "higher",
    "fid_k_aist": "lower",
    "bas_fact": "higher",
    "bas_bailando": "higher",
    "music_dependence": "higher",
}
"""Which way is better for each metric: "lower", "higher", or "closer" to the dataset's value."""


def higher_is_better(metrics: Sequence[str] | None = None) -> dict[str, bool]:
    """`stats.compare`'s metrics_higher_better for the metrics with a direction ("closer"
    metrics have none: a difference there is reported, never called better or worse)."""
    names = METRIC_DIRECTIONS if metrics is None else metrics
    return {
        m: METRIC_DIRECTIONS[m] == "higher"
        for m in names
        if METRIC_DIRECTIONS.get(m) in ("higher", "lower")
    }


def for_compare(
    table: pd.DataFrame,
    systems: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The evaluation table cut to `systems` and `metrics`, ready for `stats.compare`.

    A deterministic system (scored with one seed: the dataset, retrieval, unit_recon) has no
    seed-to-seed variation, so its rows are repeated for every seed of the others: the rule
    then tests the model's seed mean against a fixed value (its seed variance counted once)
    instead of declaring the row untestable.
    """
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise metric_error(f"for_compare: table lacks columns {sorted(missing)}")
    t = table.loc[:, list(TABLE_COLUMNS)]
    if systems is not None:
        absent = sorted(set(systems) - set(t["system"]))
        if absent:
            raise metric_error(f"for_compare: no rows for system(s) {', '.join(absent)}")
        t = t[t["system"].isin(list(systems))]
    if metrics is not None:
        t = t[t["metric"].isin(list(metrics))]
    seeds = sorted(t["seed"].unique())
    counts = t.groupby("system")["seed"].nunique()
    parts = [t[t["system"].isin(counts[counts > 1].index)]]
    for name in counts[counts == 1].index:
        rows = t[t["system"] == name]
        parts += [rows.assign(seed=s) for s in seeds]
    out = pd.concat(parts, ignore_index=True)
    out["clip"] = pd.array(out["clip"], dtype="Float64").to_numpy(dtype=float, na_value=np.nan)
    return out


def reverse(result: pd.DataFrame) -> pd.DataFrame:
    """A compare() result read the other way round: effect = baseline - system (intervals and
    means swapped, "better" relabelled), so a model used as the baseline reads as the subject."""
    out = result.copy()
    out["effect"] = -result["effect"]
    for low, high in (("ci_low", "ci_high"), ("ci_low_fw", "ci_high_fw")):
        out[low], out[high] = -result[high], -result[low]
    out["mean_system"], out["mean_baseline"] = result["mean_baseline"], result["mean_system"]
    swap = {"system": "baseline", "baseline": "system"}
    out["better"] = result["better"].map(lambda b: swap.get(b, b))
    out["system"], out["baseline"] = result["baseline"], result["system"]
    return out


def judge_floors(
    table: pd.DataFrame,
    system: str = "full",
    floors: Sequence[str] = ("retrieval", "random_units"),
    metrics: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Does `system` beat each floor, per metric with a direction? One `stats.compare` call
    (Holm over all floors x metrics), read as `system` minus floor (`reverse`): one row per
    (floor, metric) with ``system`` = the model, ``baseline`` = the floor and ``beats`` = the
    rule finds the model better. "closer" metrics are left out (no direction to beat)."""
    names = [m for m in (metrics or METRIC_NAMES) if m in higher_is_better()]
    data = for_compare(table, [system, *floors], names)
    result = compare(data, system, metrics_higher_better=higher_is_better(names), alpha=alpha)
    out = reverse(result)
    out["beats"] = out["better"] == "system"
    return out.reset_index(drop=True)


def judge_ceiling(
    table: pd.DataFrame,
    systems: Sequence[str] = ("full", "unit_recon"),
    ceiling: str = "dataset",
    metrics: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """How far each system is from the ceiling (the dataset): one `stats.compare` call with the
    ceiling as baseline, every metric the ceiling has (its rows: system minus dataset)."""
    names = list(metrics or METRIC_NAMES)
    data = for_compare(table, [ceiling, *systems], names)
    present = set(data.loc[data["system"] == ceiling, "metric"])
    data = data[data["metric"].isin(present)]
    return compare(data, ceiling, metrics_higher_better=higher_is_better(names), alpha=alpha)
