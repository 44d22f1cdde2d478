"""How much does the sampled initial pose change the dance? (book/initial_pose.md)

Dances are the composer's own output (unwarped by default): a claim about the model is judged
on what the model writes, not on what beat warping makes of it. Every verdict comes from
`d2mlib.stats.compare` (differences, seeds and clips counted) and `d2mlib.verdicts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from d2mlib import skeleton
from d2mlib.beats import beat_metrics
from d2mlib.generate import load_music
from d2mlib.metrics.classifier import DanceClassifier, embed_dances
from d2mlib.metrics.features import feature_matrix, normalise_by_real
from d2mlib.stats import compare
from d2mlib.studies.training import _joint_distance
from d2mlib.validate import check_same_length, metric_error
from d2mlib.verdicts import trend_verdict

if TYPE_CHECKING:
    from d2mlib.generate import DanceGenerator

PER_RUN = ("first_pose_px",)
"""Metrics with one value per (spread, seed); every other metric has one value per clip."""

HIGHER_BETTER = {"beat_hit_rate": True, "bas_kinematic": True, "style_consistency": True}

NAMES = {
    "first_pose_px": "first pose moved (px)",
    "shift_px": "dance moved (px)",
    "others_px": "distance to other seeds' dances (px)",
    "kinetic_to_others": "kinetic distance to other seeds' dances",
    "embedding_to_others": "embedding distance to other seeds' dances",
    "style_consistency": "style consistency",
    "beat_hit_rate": "beat hit rate",
    "beat_coverage": "beat coverage",
    "bas_kinematic": "beat align score (over dance beats)",
}
"""Readers' names of the study's metrics."""


def _mean_distance_to_others(items: Sequence[np.ndarray], k: int, fn: Callable) -> float:
    """Mean of fn(items[k], items[j]) over j != k."""
    return float(np.mean([fn(items[k], items[j]) for j in range(len(items)) if j != k]))


def _pose_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean joint distance (px) between two dances over their common frames."""
    n = min(len(a), len(b))
    return float(_joint_distance(a[:n], b[:n]).mean())


def _euclid(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two feature vectors."""
    return float(np.linalg.norm(a - b))


def _compose_all(
    generator: DanceGenerator, tracks: list, levels: list[float], seeds: list[int], warp: bool
) -> tuple[dict, dict]:
    """Every (spread, seed)'s dances for the tracks, and its initial pose."""
    dances: dict[tuple[float, int], list[np.ndarray]] = {}
    firsts: dict[tuple[float, int], np.ndarray] = {}
    for spread in levels:
        for seed in seeds:
            out = [generator.compose(m, seed=seed, init_spread=spread, warp=warp) for m in tracks]
            dances[spread, seed] = [np.asarray(d.poses, np.float64) for d in out]
            firsts[spread, seed] = generator.initial_pose(seed, spread)
    return dances, firsts


def _split_by_key(keys: list, values: np.ndarray) -> dict:
    """Rows of `values` (one per dance, keys x clips in order) grouped by key."""
    return dict(zip(keys, np.split(np.asarray(values), len(keys)), strict=True))


def initial_pose_study(
    generator: DanceGenerator,
    music: Sequence[object],
    music_styles: Sequence[int],
    spreads: Sequence[float],
    seeds: Sequence[int],
    classifier: DanceClassifier | None = None,
    real: Sequence[np.ndarray] | None = None,
    warp: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much the initial-pose spread changes the dances composed for the same music.

    For every spread and seed, composes a dance for each piece of `music` (generate.Music or
    audio) with ``init_spread=spread``, unwarped unless `warp`. The same seed at spread 0 (the
    reference) shares the composer's noise, so its distance to the reference is the initial
    pose's effect alone. Returns (table, profile). table rows (spread, seed, clip, metric,
    value): ``first_pose_px`` (per run, clip NaN: mean joint distance of the initial pose to the
    reference's) and, per clip, ``shift_px`` (to the reference dance), ``others_px`` (to the
    other seeds' dances for the same music), ``kinetic_to_others`` (kinetic features normalised
    by `real`, when given), ``embedding_to_others`` and ``style_consistency`` (1 when the
    `classifier` names the music's style, when given), ``beat_hit_rate``, ``beat_coverage`` and
    ``bas_kinematic`` (against the music's beats). profile rows (spread, time_s, shift_px): the
    initial pose's effect frame by frame, averaged over seeds and music.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or not len(music):
        raise metric_error("initial_pose_study: needs at least 2 seeds and one piece of music")
    tracks = [load_music(m) for m in music]
    check_same_length(tracks, list(music_styles), "music", "music styles")
    levels = sorted({0.0, *(float(s) for s in spreads)})
    dances, firsts = _compose_all(generator, tracks, levels, seeds, warp)
    keys = list(dances)
    flat = [d for key in keys for d in dances[key]]
    features: dict[str, dict] = {}
    pred = None
    if classifier is not None:
        e = embed_dances(classifier, flat)
        features["embedding_to_others"] = _split_by_key(keys, e.features)
        pred = _split_by_key(keys, e.predicted)
    if real is not None:
        _, f = normalise_by_real(feature_matrix(real, "k"), feature_matrix(flat, "k"))
        features["kinetic_to_others"] = _split_by_key(keys, f)
    styles = np.asarray(music_styles)
    rows: list[dict[str, object]] = []
    for spread in [float(s) for s in spreads]:
        for k, seed in enumerate(seeds):
            mine, ref = dances[spread, seed], dances[0.0, seed]
            first = float(_joint_distance(firsts[spread, seed], firsts[0.0, seed]).mean())
            rows.append(dict(spread=spread, seed=seed, clip=np.nan, metric="first_pose_px"))
            rows[-1]["value"] = first
            for c, track in enumerate(tracks):
                values = {
                    "shift_px": _pose_gap(mine[c], ref[c]),
                    "others_px": _mean_distance_to_others(
                        [dances[spread, s][c] for s in seeds], k, _pose_gap
                    ),
                }
                for name, feats in features.items():
                    group = [feats[spread, s][c] for s in seeds]
                    values[name] = _mean_distance_to_others(group, k, _euclid)
                if pred is not None:
                    values["style_consistency"] = float(pred[spread, seed][c] == styles[c])
                bm = beat_metrics([mine[c]], [track.beat_times])
                values |= {m: bm[m] for m in ("beat_hit_rate", "beat_coverage", "bas_kinematic")}
                rows += [
                    dict(spread=spread, seed=seed, clip=c, metric=m, value=v)
                    for m, v in values.items()
                ]
    return pd.DataFrame(rows), _profile(dances, spreads, seeds)


def _profile(dances: dict, spreads: Sequence[float], seeds: list[int]) -> pd.DataFrame:
    """The initial pose's effect frame by frame: (spread, time_s, shift_px), mean over seeds, music."""
    parts = []
    for spread in [float(s) for s in spreads]:
        for seed in seeds:
            mine, ref = dances[spread, seed], dances[0.0, seed]
            n = min(len(d) for d in mine)
            gap = np.mean(
                [_joint_distance(a[:n], b[:n]).mean(-1) for a, b in zip(mine, ref, strict=True)], 0
            )
            time_s = np.arange(n) / skeleton.FPS
            parts.append(pd.DataFrame({"spread": spread, "time_s": time_s, "shift_px": gap}))
    return pd.concat(parts).groupby(["spread", "time_s"], as_index=False)["shift_px"].mean()


def _values(table: pd.DataFrame, metric: str, spread: float) -> pd.DataFrame:
    """The rows of one metric at one spread."""
    pick = (table["metric"] == metric) & np.isclose(table["spread"], float(spread))
    return table.loc[pick]


def mean_over_runs(table: pd.DataFrame, metric: str, spread: float) -> float:
    """The mean of `metric` at `spread`: over clips within each seed, then over seeds."""
    rows = _values(table, metric, spread)
    if rows.empty:
        raise metric_error(f"initial-pose table: no {metric!r} rows at spread {spread:g}")
    return float(rows.groupby("seed")["value"].mean().mean())


def offset_comparison(table: pd.DataFrame, spread: float) -> pd.DataFrame:
    """The decision rule on 'the initial pose moves a dance more than another seed does'.

    One compare() row: system "initial pose" (the dance's distance to the same seed's dance at
    spread 0, at `spread`) against baseline "another seed" (the distance between different
    seeds' dances at spread 0), both in px, per seed and clip.
    """
    shift = _values(table, "shift_px", spread).assign(system="initial pose")
    others = _values(table, "others_px", 0.0).assign(system="another seed")
    tidy = pd.concat([shift, others]).assign(metric="distance (px)")
    return compare(tidy[["system", "metric", "seed", "clip", "value"]], "another seed")


def spread_comparison(
    table: pd.DataFrame, spread: float, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """The decision rule on each metric at `spread` against spread 0 (one call, Holm over all).

    Default metrics: those measured per clip other than the distances to the reference.
    """
    if metrics is None:
        skip = {"shift_px", *PER_RUN}
        metrics = [m for m in dict.fromkeys(table["metric"]) if m not in skip]
    parts = []
    for level, system in ((spread, f"spread {spread:g}"), (0.0, "spread 0")):
        rows = table[table["metric"].isin(list(metrics)) & np.isclose(table["spread"], level)]
        parts.append(rows.assign(system=system))
    tidy = pd.concat(parts)[["system", "metric", "seed", "clip", "value"]]
    return compare(tidy, "spread 0", metrics_higher_better=HIGHER_BETTER)


def _mean_sd(mean: float, sd: float, sig: int = 3) -> str:
    """'0.330 (sd 0.002)': the mean to `sig` significant digits, the sd to the same decimals."""
    if not np.isfinite(mean):
        return "n/a"
    top = max(abs(mean), abs(sd) if np.isfinite(sd) else 0.0)
    decimals = 0 if top == 0 else max(sig - 1 - int(np.floor(np.log10(top))), 0)
    spread = f"{sd:,.{decimals}f}" if np.isfinite(sd) else "n/a"
    return f"{mean:,.{decimals}f} (sd {spread})"


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """A reader's table: one row per metric (readable name), one column per spread, each cell
    the mean over seeds with the seed-to-seed standard deviation in brackets."""
    per_seed = table.groupby(["metric", "spread", "seed"], sort=False)["value"].mean()
    stats = per_seed.groupby(["metric", "spread"], sort=False).agg(["mean", "std"])
    cells = {(m, s): _mean_sd(r["mean"], r["std"]) for (m, s), r in stats.iterrows()}
    metrics = list(dict.fromkeys(table["metric"]))
    spreads = sorted(set(table["spread"]))
    out = pd.DataFrame(
        [[cells.get((m, s), "") for s in spreads] for m in metrics],
        index=[NAMES.get(m, m.replace("_", " ")) for m in metrics],
        columns=[f"spread {s:g}" for s in spreads],
    )
    out.index.name = "measure"
    return out


def fade(profile: pd.DataFrame, spread: float, last_s: float = 1.0) -> tuple[float, float, str]:
    """The initial pose's effect at the first frame, its mean over the last `last_s` seconds,
    and `verdicts.trend_verdict` on the two (fades / persists / grows)."""
    curve = profile[np.isclose(profile["spread"], float(spread))].sort_values("time_s")
    if curve.empty:
        raise metric_error(f"initial-pose profile: no curve at spread {spread:g}")
    start = float(curve["shift_px"].iloc[0])
    end = float(curve.loc[curve["time_s"] >= curve["time_s"].max() - last_s, "shift_px"].mean())
    return start, end, trend_verdict(start, end)
