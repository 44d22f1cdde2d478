"""The evaluation table: every metric of every system (data, baselines, trained models) over
seeds, and `d2m evaluate` (`main`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from d2mlib import config as cfgmod
from d2mlib import generate, skeleton
from d2mlib._io import atomic_path
from d2mlib.beats import beat_metrics
from d2mlib.data.layout import data_identity
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError
from d2mlib.metrics.baselines import random_units_baseline, retrieval_baseline
from d2mlib.metrics.classifier import (
    DanceClassifier,
    DanceClassifierConfig,
    embed_dances,
    train_dance_classifier,
)
from d2mlib.metrics.confidence import mean_and_spread
from d2mlib.metrics.diversity import diversity, multimodality, style_consistency
from d2mlib.metrics.eval_data import EvalConfig, EvalData, load_eval_data
from d2mlib.metrics.features import feature_matrix, normalise_by_real
from d2mlib.metrics.frechet import fid_from_features
from d2mlib.train.runs import DONE_MARKER
from d2mlib.validate import check_same_length, metric_error

if TYPE_CHECKING:
    from d2mlib.config import Config
    from d2mlib.generate import DanceGenerator

"""Frames of the centred moving average applied to the mean joint speed before looking for minima."""
"""Pixels per second: a speed minimum is a kinematic beat only if the motion around it exceeds this."""
"""Seconds: a kinematic beat within this distance of a musical beat is a hit (1.5 frames at 15 fps)."""
"""Seconds: the width of the Beat Align Score's Gaussian (AIST++ uses 3 frames at 60 fps, 0.05 s;
EDGE/Bailando-style code often uses 3 frames at 30 fps, 0.1 s)."""
"""Added to the covariance diagonals before the matrix square root, so singular sets stay finite."""
"""Floor on the real set's per-feature std when normalising FID_k / FID_g features."""


METRIC_NAMES: tuple[str, ...] = (
    "fid",
    "diversity",
    "multimodality",
    "style_consistency",
    "beat_coverage",
    "beat_hit_rate",
    "bas_kinematic",
    "bas_music",
    "fid_k",
    "fid_g",
    "diversity_k",
    "diversity_g",
)
TABLE_COLUMNS: tuple[str, ...] = ("system", "seed", "metric", "value")


def score_fixed(
    name: str,
    dances: Sequence[np.ndarray],
    data: EvalData,
    classifier: DanceClassifier,
    config: EvalConfig | None = None,
) -> pd.DataFrame:
    """Tidy rows (seed 0) of a deterministic set of dances, one per evaluated piece of music,
    scored like `evaluate_systems` scores the dataset (no multimodality: one dance per piece)."""
    config = config or EvalConfig()
    ref = _reference(data, classifier, config)
    scores = score_system(list(dances), data, ref, classifier, config)
    return pd.DataFrame(_rows(name, 0, scores), columns=list(TABLE_COLUMNS))


@dataclass
class _Reference:
    emb: np.ndarray
    k: np.ndarray
    g: np.ndarray


def _reference(data: EvalData, classifier: DanceClassifier, config: EvalConfig) -> _Reference:
    return _Reference(
        emb=embed_dances(classifier, data.reference).features,
        k=feature_matrix(data.reference, "k", config.fps),
        g=feature_matrix(data.reference, "g"),
    )


def score_system(
    dances: Sequence[np.ndarray],
    data: EvalData,
    ref: _Reference,
    classifier: DanceClassifier,
    config: EvalConfig,
    groups: Sequence[Sequence[np.ndarray]] | None = None,
) -> dict[str, float]:
    """Every metric for one set of dances (one per evaluated piece of music)."""
    check_same_length(dances, data.dances, "generated dances", "pieces of music")
    emb = embed_dances(classifier, dances)
    out = {
        "fid": fid_from_features(ref.emb, emb.features),
        "diversity": diversity(emb.features),
        "style_consistency": style_consistency(emb.predicted, data.styles),
    }
    if groups is not None:
        out["multimodality"] = multimodality([embed_dances(classifier, g).features for g in groups])
    for kind, real in (("k", ref.k), ("g", ref.g)):
        r, f = normalise_by_real(real, feature_matrix(dances, kind, config.fps))
        out[f"fid_{kind}"] = fid_from_features(r, f)
        out[f"diversity_{kind}"] = diversity(f)
    with_beats = [i for i, b in enumerate(data.music_beats) if b is not None]
    if with_beats:
        beats = beat_metrics(
            [dances[i] for i in with_beats],
            [data.music_beats[i] for i in with_beats],
            fps=config.fps,
            tolerance=config.tolerance,
            sigma=config.sigma,
            smoothing=config.smoothing,
            min_motion=config.min_motion,
        )
        out.update(
            {k: beats[k] for k in ("beat_coverage", "beat_hit_rate", "bas_kinematic", "bas_music")}
        )
    return out


DanceSampler = Callable[[int, int, Sequence[int]], list[np.ndarray]]
"""(seed, sample, clips) -> a dance for each listed piece of music (positions in EvalData).

For a fixed seed, `sample` varies only the generator's noise (same music, same initial pose):
sample 0 is scored, samples 1.. feed multimodality on the first few pieces only."""


def _check_sampled(dances: list[np.ndarray], n: int, system: str) -> list[np.ndarray]:
    if len(dances) != n:
        raise metric_error(
            f"mismatched lengths: system {system!r} returned {len(dances)} dances for {n} pieces"
        )
    return dances


def _rows(system: str, seed: int, scores: dict[str, float]) -> list[dict[str, object]]:
    return [
        {"system": system, "seed": seed, "metric": m, "value": float(scores[m])}
        for m in METRIC_NAMES
        if m in scores
    ]


def evaluate_systems(
    data: EvalData,
    classifier: DanceClassifier,
    systems: dict[str, DanceSampler],
    seeds: int = 3,
    config: EvalConfig | None = None,
    include_baselines: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Score the dataset (ceiling), the given systems and the two baselines (floors) over seeds.

    Returns the tidy table (system, seed, metric, value). The dataset and the retrieval
    baseline are deterministic: they get one row per metric, with seed 0; the dataset has no
    multimodality (one dance per piece of music) and retrieval's is 0 by construction.
    """
    config = config or EvalConfig()
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}")
    ref = _reference(data, classifier, config)
    n_mm = min(config.multimodality_clips, len(data.dances))
    rows: list[dict[str, object]] = []
    rows += _rows("dataset", 0, score_system(data.dances, data, ref, classifier, config))
    all_systems: dict[str, DanceSampler] = dict(systems)
    if include_baselines:
        retrieved = retrieval_baseline(data)
        groups = [[retrieved[i]] * config.samples_per_music for i in range(n_mm)]
        rows += _rows(
            "retrieval", 0, score_system(retrieved, data, ref, classifier, config, groups)
        )
        all_systems["random_units"] = lambda seed, sample, clips: random_units_baseline(
            data, seed, sample, clips
        )
    everything = list(range(len(data.dances)))
    first = list(range(n_mm))
    jobs = [(name, seed) for name in all_systems for seed in range(seeds)]
    if progress:
        jobs = tqdm(jobs, desc="evaluate", unit="run", leave=False)
    for name, seed in jobs:
        sampler = all_systems[name]
        scored = _check_sampled(sampler(seed, 0, everything), len(everything), name)
        extra = [
            _check_sampled(sampler(seed, s, first), n_mm, name)
            for s in range(1, config.samples_per_music)
        ]
        groups = [[scored[i]] + [e[i] for e in extra] for i in first]
        rows += _rows(name, seed, score_system(scored, data, ref, classifier, config, groups))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread (sample std over seeds; 0 with one seed) and n per system and metric."""
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise metric_error(f"summarise: table lacks columns {sorted(missing)}")
    if table.empty:
        raise metric_error("summarise: empty table")
    out = []
    for (system, metric), g in table.groupby(["system", "metric"], sort=False):
        values = g["value"].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        mean, spread = mean_and_spread(values) if values.size else (float("nan"), float("nan"))
        out.append(
            {"system": system, "metric": metric, "mean": mean, "spread": spread, "n": values.size}
        )
    return pd.DataFrame(out, columns=["system", "metric", "mean", "spread", "n"])


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table as CSV atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def dance_classifier_for_data(
    data_dir: str | Path,
    runs_dir: str | Path,
    config: DanceClassifierConfig | None = None,
    progress: bool = False,
) -> tuple[DanceClassifier, Path]:
    """The dance classifier of a dataset: trained on its train-split units (val split to pick
    the best checkpoint), cached as a run under `runs_dir`."""

    store = FeatureStore.open(data_dir)
    config = config or DanceClassifierConfig()
    if config.num_styles < len(store.styles):  # a dataset of more styles (e.g. the ballroom)
        config = dataclasses.replace(config, num_styles=len(store.styles))
    train = (np.asarray(store.units("train")), store.unit_styles("train"))
    val = (np.asarray(store.units("val")), store.unit_styles("val"))
    if val[0].shape[0] == 0:
        val = train
    return train_dance_classifier(train, val, runs_dir, config, progress=progress)


def evaluate(
    runs_dir: str | Path,
    data_dir: str | Path,
    seeds: int = 3,
    systems: dict[str, DanceSampler] | None = None,
    config: EvalConfig | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The evaluation table: dataset (ceiling), trained systems, retrieval and random units (floors).

    `systems` maps a name to a sampler (seed, sample) -> dances, one per evaluated piece of
    music (see `load_eval_data`); by default the full model and every ablation found under
    `runs_dir` (`model_systems`). The dance classifier is trained once per dataset and cached
    under `runs_dir`. Returns the tidy DataFrame (system, seed, metric, value).
    """
    config = config or EvalConfig()
    classifier, _ = dance_classifier_for_data(data_dir, runs_dir, config.classifier, progress)
    data = load_eval_data(data_dir, config)
    if systems is None:
        systems = model_systems(runs_dir, data, data_dir)
    return evaluate_systems(
        data, classifier, systems, seeds=seeds, config=config, progress=progress
    )


def ablation_name(cfg: Config) -> str:
    """ "full", or the ablation (d2mlib.config.ABLATIONS) a composition config switches on."""

    for name in cfgmod.ABLATIONS:
        if cfgmod.ablation(cfg, name).composer == cfg.composer:
            return name
    return "full"


def find_systems(
    runs_dir: str | Path, data_dir: str | Path | None = None, preset: str | None = None
) -> dict[str, Path]:
    """The newest finished composition run per system ("full" and each ablation) under `runs_dir`.

    Only runs trained on `data_dir` (when given) and of `preset` (when given) count.
    """

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return {}
    want = data_identity(data_dir) if data_dir is not None else None
    newest: dict[str, tuple[float, Path]] = {}
    for path in sorted(runs_dir.glob("comp-*")):
        done, info_path = path / DONE_MARKER, path / "run.json"
        if not (done.is_file() and info_path.is_file() and (path / "config.yaml").is_file()):
            continue
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if want is not None and info.get("data") != want:
            continue
        if preset is not None and info.get("preset") != preset:
            continue
        name = ablation_name(cfgmod.from_yaml(path / "config.yaml"))
        stamp = done.stat().st_mtime
        if name not in newest or stamp > newest[name][0]:
            newest[name] = (stamp, path)
    return {name: newest[name][1] for name in sorted(newest, key=lambda n: (n != "full", n))}


def derived_seed(*key: int) -> int:
    """A seed for one (system, seed, ...) combination, stable across runs."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])


def generator_sampler(generator: DanceGenerator, data: EvalData, warp: bool = True) -> DanceSampler:
    """A DanceSampler over a d2mlib.generate.DanceGenerator: one composed dance per piece.

    Seed s and piece i fix the initial pose (decoded from a z_init drawn from (s, i)); sample
    k draws the composer's noise from (s, i, k), so the samples of one piece share music and
    initial pose and differ only in noise. With
    `warp` the dance is beat-warped onto the music's beats, as the demo does.
    """

    musics = [
        generate.Music(
            features=np.asarray(feats, np.float32),
            beat_times=np.zeros(0) if beats is None else np.asarray(beats, np.float64),
            duration=len(feats) / skeleton.FPS,
            source=f"clip {i}",
        )
        for i, (feats, beats) in enumerate(zip(data.audio, data.music_beats, strict=True))
    ]

    def sample(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        out = []
        for i in clips:
            pose = generator.initial_pose(derived_seed(seed, i))
            noise = derived_seed(seed, i, k)
            dance = generator.compose(musics[i], seed=noise, init_pose=pose, warp=warp)
            out.append(np.asarray(dance.poses, dtype=np.float64))
        return out

    return sample


def model_systems(
    runs_dir: str | Path,
    data: EvalData,
    data_dir: str | Path | None = None,
    preset: str | None = None,
    compare_warp: bool = True,
) -> dict[str, DanceSampler]:
    """Samplers for the full model and each ablation with a finished run under `runs_dir`.

    Every system composes with beat warping (as the demo does); with `compare_warp` the full
    model is also scored without it, as "full_nowarp", so the table shows what warping buys.
    """

    systems: dict[str, DanceSampler] = {}
    for name, path in find_systems(runs_dir, data_dir, preset).items():
        gen = generate.DanceGenerator.from_run(path)
        systems[name] = generator_sampler(gen, data, warp=True)
        if name == "full" and compare_warp:
            systems["full_nowarp"] = generator_sampler(gen, data, warp=False)
    return systems


def main(argv: Sequence[str] | None = None) -> int:
    """`d2m evaluate --run RUNS_DIR --data DATA_DIR [--seeds 3] --out table.csv`."""

    parser = argparse.ArgumentParser(
        prog="d2m evaluate", description="Score the dataset, the trained systems and two baselines."
    )
    parser.add_argument("--run", required=True, type=Path, help="runs directory")
    parser.add_argument("--data", required=True, type=Path, help="dataset directory")
    parser.add_argument("--seeds", type=int, default=3, help="generator seeds per system")
    parser.add_argument("--out", required=True, type=Path, help="output CSV (tidy table)")
    parser.add_argument("--split", default="test", help="split whose music is danced to")
    parser.add_argument("--max-clips", type=int, default=None, help="cap the evaluated clips")
    parser.add_argument(
        "--music-beats",
        choices=("librosa", "meta"),
        default="librosa",
        help="musical beats: librosa's tracker on the clip audio, or the synthetic meta.json",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    config = EvalConfig(split=args.split, max_clips=args.max_clips, music_beats=args.music_beats)
    table = evaluate(args.run, args.data, seeds=args.seeds, config=config, progress=not args.quiet)
    write_table(table, args.out)
    summary = summarise(table)
    print(
        summary.pivot(index="metric", columns="system", values="mean").to_string(
            float_format="%.4g"
        )
    )
    print(f"wrote {args.out}: {len(table)} rows")
    return 0


"""Which way is better for each metric: "lower", "higher", or "closer" to the dataset's value."""
