"""How much does the sampled initial pose change the dance? (book/initial_pose.md)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from d2mlib import skeleton
from d2mlib.beats import beat_metrics
from d2mlib.generate import load_music
from d2mlib.metrics.classifier import DanceClassifier, embed_dances
from d2mlib.metrics.confidence import mean_and_spread
from d2mlib.metrics.diversity import style_consistency
from d2mlib.metrics.features import feature_matrix, normalise_by_real
from d2mlib.studies.training import _joint_distance
from d2mlib.validate import check_same_length, metric_error

if TYPE_CHECKING:
    from d2mlib.generate import DanceGenerator


def _mean_distance_to_others(items: Sequence[np.ndarray], k: int, fn: Callable) -> float:
    """Mean of fn(items[k], items[j]) over j != k."""
    return float(np.mean([fn(items[k], items[j]) for j in range(len(items)) if j != k]))


def _pose_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean joint distance (px) between two dances over their common frames."""
    n = min(len(a), len(b))
    return float(_joint_distance(a[:n], b[:n]).mean())


def initial_pose_study(
    generator: DanceGenerator,
    music: Sequence[object],
    music_styles: Sequence[int],
    spreads: Sequence[float],
    seeds: Sequence[int],
    classifier: DanceClassifier | None = None,
    real: Sequence[np.ndarray] | None = None,
    warp: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much the initial-pose spread changes the dances composed for the same music.

    For every spread and seed, composes a dance for each piece of `music` (generate.Music or
    audio) with ``init_spread=spread``. The same seed at spread 0 (the reference) shares the
    composer's noise, so its distance to the reference is the initial pose's effect alone.
    Returns (table, profile). table rows (spread, seed, metric, value): ``first_pose_px`` (mean
    joint distance of the initial pose to the reference's), ``shift_px`` (of the dances, over
    frames and music), ``others_px`` (to the other seeds' dances for the same music),
    ``kinetic_to_others`` (the same on kinetic features normalised by `real`, when given),
    ``embedding_to_others`` and ``style_consistency`` (with `classifier`), ``beat_hit_rate``,
    ``beat_coverage`` and ``bas_kinematic``. profile rows (spread, time_s, shift_px): the
    initial pose's effect frame by frame, averaged over seeds and music.

    Long because one pass over spreads x seeds x music fills the table and the profile together (each dance is composed once).
    """

    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or not len(music):
        raise metric_error("initial_pose_study: needs at least 2 seeds and one piece of music")
    tracks = [load_music(m) for m in music]
    check_same_length(tracks, list(music_styles), "music", "music styles")
    levels = sorted({0.0, *(float(s) for s in spreads)})
    dances: dict[tuple[float, int], list[np.ndarray]] = {}
    firsts: dict[tuple[float, int], np.ndarray] = {}
    for spread in levels:
        for seed in seeds:
            out = [generator.compose(m, seed=seed, init_spread=spread, warp=warp) for m in tracks]
            dances[spread, seed] = [np.asarray(d.poses, np.float64) for d in out]
            firsts[spread, seed] = generator.initial_pose(seed, spread)
    emb = kin = None
    keys = list(dances)
    flat = [d for key in keys for d in dances[key]]
    if classifier is not None:
        e = embed_dances(classifier, flat)
        emb = dict(zip(keys, np.split(e.features, len(keys)), strict=True))
        pred = dict(zip(keys, np.split(e.predicted, len(keys)), strict=True))
    if real is not None:
        _, f = normalise_by_real(feature_matrix(real, "k"), feature_matrix(flat, "k"))
        kin = dict(zip(keys, np.split(f, len(keys)), strict=True))
    beats = [t.beat_times for t in tracks]
    rows: list[dict[str, object]] = []
    profile: list[pd.DataFrame] = []
    for spread in [float(s) for s in spreads]:
        for k, seed in enumerate(seeds):
            mine, ref = dances[spread, seed], dances[0.0, seed]
            values = {
                "first_pose_px": float(
                    _joint_distance(firsts[spread, seed], firsts[0.0, seed]).mean()
                ),
                "shift_px": float(
                    np.mean([_pose_gap(a, b) for a, b in zip(mine, ref, strict=True)])
                ),
                "others_px": float(
                    np.mean(
                        [
                            _mean_distance_to_others(
                                [dances[spread, s][c] for s in seeds], k, _pose_gap
                            )
                            for c in range(len(tracks))
                        ]
                    )
                ),
            }
            for name, table in (("kinetic_to_others", kin), ("embedding_to_others", emb)):
                if table is not None:
                    groups = np.stack(
                        [table[spread, s] for s in seeds], axis=1
                    )  # (music, seeds, D)
                    values[name] = float(
                        np.mean(
                            [
                                _mean_distance_to_others(
                                    list(g), k, lambda a, b: float(np.linalg.norm(a - b))
                                )
                                for g in groups
                            ]
                        )
                    )
            if classifier is not None:
                values["style_consistency"] = style_consistency(
                    pred[spread, seed], np.asarray(music_styles)
                )
            bm = beat_metrics(mine, beats)
            values |= {m: bm[m] for m in ("beat_hit_rate", "beat_coverage", "bas_kinematic")}
            rows += [
                {"spread": spread, "seed": seed, "metric": m, "value": v} for m, v in values.items()
            ]
            n = min(len(d) for d in mine)
            gap = np.mean(
                [_joint_distance(a[:n], b[:n]).mean(-1) for a, b in zip(mine, ref, strict=True)], 0
            )
            profile.append(
                pd.DataFrame(
                    {
                        "spread": spread,
                        "seed": seed,
                        "time_s": np.arange(n) / skeleton.FPS,
                        "shift_px": gap,
                    }
                )
            )
    prof = pd.concat(profile).groupby(["spread", "time_s"], as_index=False)["shift_px"].mean()
    return pd.DataFrame(rows), prof


def spread_verdict(
    a: Sequence[float],
    b: Sequence[float],
    larger: str = "larger than",
    smaller: str = "smaller than",
    within: str = "within the seed-to-seed spread of",
) -> str:
    """`larger` / `smaller` when the means of a and b differ by more than the sum of their
    standard deviations over seeds (ddof=1), else `within`."""
    (ma, sa), (mb, sb) = mean_and_spread(a), mean_and_spread(b)
    if ma - mb > sa + sb:
        return larger
    if mb - ma > sa + sb:
        return smaller
    return within
