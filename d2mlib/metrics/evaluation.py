"""The evaluation table: every metric of every system (data, baselines, trained models) over
seeds and clips, and `d2m evaluate` (`main`).

The table is tidy (TABLE_COLUMNS: system, metric, seed, clip, value), the input of the book's
decision rule `d2mlib.stats.compare`: per-clip metrics (beat metrics, style consistency) have
one row per evaluated clip, set-level metrics (FID, diversity, multimodality) one row per run
with the clip empty. A per-clip beat hit rate is that clip's hits / kinematic beats, so the
summary's mean is a mean over clips (not the pooled ratio over the whole set). Models are
scored on their own, unwarped output; beat warping is post-processing, reported as
"<system>_warped" and compared with floors warped the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from d2mlib import generate, skeleton
from d2mlib._io import atomic_path
from d2mlib.beats import align_to_beats, beat_metrics, seconds_to_frames
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError
from d2mlib.metrics.baselines import (
    KeyedRetrieval,
    composer_reconstruction_ceiling,
    random_units_baseline,
    retrieval_baseline,
    unit_reconstruction_ceiling,
)
from d2mlib.metrics.classifier import (
    DanceClassifier,
    DanceClassifierConfig,
    embed_dances,
    train_dance_classifier,
)
from d2mlib.metrics.confidence import mean_and_spread
from d2mlib.metrics.dependence import clip_dependence
from d2mlib.metrics.diversity import diversity, multimodality
from d2mlib.metrics.eval_data import EvalConfig, EvalData, load_eval_data
from d2mlib.metrics.features import feature_matrix, normalise_by_real
from d2mlib.metrics.field_beats import bailando_beat_align_score, fact_beat_align_score
from d2mlib.metrics.field_features import kinetic_features_aist
from d2mlib.metrics.frechet import fid_from_features
from d2mlib.metrics.systems import (
    BANK_FITTED,
    BANK_SYSTEM,
    KEYED_BANK_POOL,
    KEYED_RETRIEVAL,
    find_systems,
)
from d2mlib.validate import check_same_length, metric_error

if TYPE_CHECKING:
    from d2mlib.generate import DanceGenerator

CORE_METRICS: tuple[str, ...] = (
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
"""The paper's six metrics and the field's six, as the book has always reported them."""
BEAT_METRICS: tuple[str, ...] = ("beat_coverage", "beat_hit_rate", "bas_kinematic", "bas_music")
TRUE_BEAT_METRICS: tuple[str, ...] = tuple(f"{m}_true" for m in BEAT_METRICS)
"""The beat metrics scored against the world's true beats (clip meta.json), where it has them."""
FIELD_METRICS: tuple[str, ...] = ("fid_k_aist", "bas_fact", "bas_bailando")
"""The field's exact variants (metrics.field_features.VARIANTS): AIST++ kinetic FID_k, FACT's
and Bailando's Beat Align Scores in seconds, against the same musical beats as `bas_*`."""
MUSIC_METRICS: tuple[str, ...] = ("music_dependence",)
"""Does the dance follow its own music beyond style and beats (`metrics.dependence`)."""
METRIC_NAMES: tuple[str, ...] = CORE_METRICS + TRUE_BEAT_METRICS + FIELD_METRICS + MUSIC_METRICS
PER_CLIP_METRICS: frozenset[str] = frozenset(
    ("style_consistency", *BEAT_METRICS, *TRUE_BEAT_METRICS, "bas_fact", "bas_bailando")
    + MUSIC_METRICS
)
"""Metrics with one value per evaluated clip (the rest are one value per set of dances)."""
TABLE_COLUMNS: tuple[str, ...] = ("system", "metric", "seed", "clip", "value")
"""The tidy table `stats.compare` reads: clip is empty (NA) for a metric computed per run."""

Scores = dict[str, "float | np.ndarray"]
"""A system's scores: a float per set-level metric, an array (one value per clip) per clip."""


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
    return pd.DataFrame(_rows(name, 0, scores), columns=list(TABLE_COLUMNS)).astype(
        {"clip": "Int64"}
    )


@dataclass
class _Reference:
    emb: np.ndarray
    k: np.ndarray
    g: np.ndarray
    k_aist: np.ndarray


def _aist_kinetic(dances: Sequence[np.ndarray], fps: float) -> np.ndarray:
    return np.stack([kinetic_features_aist(d, fps) for d in dances])


def _reference(data: EvalData, classifier: DanceClassifier, config: EvalConfig) -> _Reference:
    return _Reference(
        emb=embed_dances(classifier, data.reference).features,
        k=feature_matrix(data.reference, "k", config.fps),
        g=feature_matrix(data.reference, "g"),
        k_aist=_aist_kinetic(data.reference, config.fps),
    )


def clip_beat_scores(
    dances: Sequence[np.ndarray],
    beats: Sequence[np.ndarray | None],
    config: EvalConfig,
    suffix: str = "",
) -> dict[str, np.ndarray]:
    """The four beat metrics of each dance against its music's beats: arrays, NaN where a clip
    has no beats (or, for coverage and the music-direction BAS, no beats inside the dance)."""
    check_same_length(dances, beats, "dances", "beat arrays")
    out = {m + suffix: np.full(len(dances), np.nan) for m in BEAT_METRICS}
    for i, (dance, times) in enumerate(zip(dances, beats, strict=True)):
        if times is None:
            continue
        one = beat_metrics(
            [dance],
            [times],
            fps=config.fps,
            tolerance=config.tolerance,
            sigma=config.sigma,
            smoothing=config.smoothing,
            min_motion=config.min_motion,
        )
        for m in BEAT_METRICS:
            out[m + suffix][i] = one[m]
    return out


def _field_beats(dances: Sequence[np.ndarray], data: EvalData, fps: float) -> dict[str, np.ndarray]:
    fact, bailando = np.full(len(dances), np.nan), np.full(len(dances), np.nan)
    for i, (dance, times) in enumerate(zip(dances, data.music_beats, strict=True)):
        if times is not None:
            fact[i] = fact_beat_align_score(dance, times, fps)
            bailando[i] = bailando_beat_align_score(dance, times, fps)
    return {"bas_fact": fact, "bas_bailando": bailando}


def score_system(
    dances: Sequence[np.ndarray],
    data: EvalData,
    ref: _Reference,
    classifier: DanceClassifier,
    config: EvalConfig,
    groups: Sequence[Sequence[np.ndarray]] | None = None,
) -> Scores:
    """Every metric for one set of dances (one per evaluated piece of music): set-level metrics
    as floats, per-clip metrics (PER_CLIP_METRICS) as arrays over the pieces."""
    check_same_length(dances, data.dances, "generated dances", "pieces of music")
    emb = embed_dances(classifier, dances)
    out: Scores = {
        "fid": fid_from_features(ref.emb, emb.features),
        "diversity": diversity(emb.features),
        "style_consistency": (np.asarray(emb.predicted) == np.asarray(data.styles)).astype(float),
    }
    if groups is not None:
        out["multimodality"] = multimodality([embed_dances(classifier, g).features for g in groups])
    for kind, real in (("k", ref.k), ("g", ref.g)):
        r, f = normalise_by_real(real, feature_matrix(dances, kind, config.fps))
        out[f"fid_{kind}"] = fid_from_features(r, f)
        out[f"diversity_{kind}"] = diversity(f)
    r, f = normalise_by_real(ref.k_aist, _aist_kinetic(dances, config.fps))
    out["fid_k_aist"] = fid_from_features(r, f)
    out.update(clip_beat_scores(dances, data.music_beats, config))
    out.update(_field_beats(dances, data, config.fps))
    if data.true_beats is not None:
        out.update(clip_beat_scores(dances, data.true_beats, config, suffix="_true"))
    out["music_dependence"] = clip_dependence(dances, data.audio)
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


def _rows(system: str, seed: int, scores: Scores) -> list[dict[str, object]]:
    """Tidy rows: one per clip with a finite value for per-clip metrics, one (clip NA) per run."""
    rows: list[dict[str, object]] = []
    for m in METRIC_NAMES:
        if m not in scores:
            continue
        value = scores[m]
        if np.ndim(value) == 0:
            if np.isfinite(value):
                rows.append(
                    dict(system=system, metric=m, seed=seed, clip=pd.NA, value=float(value))
                )
            continue
        rows += [
            dict(system=system, metric=m, seed=seed, clip=i, value=float(v))
            for i, v in enumerate(np.asarray(value, dtype=np.float64))
            if np.isfinite(v)
        ]
    return rows


def cached_sampler(sampler: DanceSampler) -> DanceSampler:
    """The same sampler, remembering each (seed, sample, clips) call's dances: a warped system
    built on it (`warped_sampler`) reuses the compositions instead of composing again."""
    memo: dict[tuple[int, int, tuple[int, ...]], list[np.ndarray]] = {}

    def sample(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        key = (int(seed), int(k), tuple(int(c) for c in clips))
        if key not in memo:
            memo[key] = sampler(seed, k, clips)
        return memo[key]

    return sample


def warp_dance(dance: np.ndarray, beats: np.ndarray | None) -> np.ndarray:
    """Beat warping as post-processing: the dance's kinematic beats moved onto the music's
    beats (seconds), exactly as `DanceGenerator.compose(warp=True)` does; unchanged without beats."""
    if beats is None or len(beats) == 0:
        return np.asarray(dance, dtype=np.float64)
    warped = align_to_beats(np.asarray(dance, np.float32), seconds_to_frames(beats))
    return warped.astype(np.float64)


def warped_sampler(sampler: DanceSampler, data: EvalData) -> DanceSampler:
    """`sampler` followed by beat warping onto each piece's musical beats (`warp_dance`): how a
    warped model is compared with floors warped the same way."""

    def sample(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        dances = sampler(seed, k, clips)
        return [warp_dance(d, data.music_beats[i]) for d, i in zip(dances, clips, strict=True)]

    return sample


def floor_samplers(data: EvalData, warped: bool = False) -> dict[str, DanceSampler]:
    """The floors as samplers: retrieval (deterministic) and random units; with `warped`, also
    both floors beat-warped (`retrieval_warped`, `random_units_warped`)."""
    retrieved = retrieval_baseline(data)

    def retrieval(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        return [retrieved[i] for i in clips]

    def random_units(seed: int, k: int, clips: Sequence[int]) -> list[np.ndarray]:
        return random_units_baseline(data, seed, k, clips)

    out: dict[str, DanceSampler] = {"retrieval": retrieval, "random_units": random_units}
    if warped:
        out = {name: cached_sampler(s) for name, s in out.items()}
        for name in list(out):
            out[f"{name}_warped"] = warped_sampler(out[name], data)
    return out


DETERMINISTIC: frozenset[str] = frozenset(("retrieval", "retrieval_warped"))
"""Systems scored once (seed 0): the same dances whatever the seed."""


def evaluate_systems(
    data: EvalData,
    classifier: DanceClassifier,
    systems: dict[str, DanceSampler],
    seeds: int = 3,
    config: EvalConfig | None = None,
    include_baselines: bool = True,
    progress: bool = False,
    warped_floors: bool = False,
) -> pd.DataFrame:
    """Score the dataset (ceiling), the given systems and the two baselines (floors) over seeds.

    Returns the tidy table (TABLE_COLUMNS: system, metric, seed, clip, value), one row per clip
    for per-clip metrics and one row with an empty clip per set-level metric. The dataset and
    retrieval are deterministic: seed 0 only; the dataset has no multimodality (one dance per
    piece of music) and retrieval's is 0 by construction. `warped_floors` adds both floors
    beat-warped, for comparison with a warped model.
    """
    config = config or EvalConfig()
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}")
    ref = _reference(data, classifier, config)
    n_mm = min(config.multimodality_clips, len(data.dances))
    rows = _rows("dataset", 0, score_system(data.dances, data, ref, classifier, config))
    all_systems: dict[str, DanceSampler] = dict(systems)
    if include_baselines:
        all_systems.update(floor_samplers(data, warped=warped_floors))
    everything = list(range(len(data.dances)))
    first = list(range(n_mm))
    jobs = [
        (name, seed)
        for name in all_systems
        for seed in range(1 if name in DETERMINISTIC else seeds)
    ]
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
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype({"clip": "Int64"})


def seed_means(table: pd.DataFrame) -> pd.DataFrame:
    """One value per (system, metric, seed): per-clip metrics averaged over the seed's clips."""
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise metric_error(f"table lacks columns {sorted(missing)}")
    if table.empty:
        raise metric_error("empty table")
    keys = ["system", "metric", "seed"]
    out = table.groupby(keys, sort=False)["value"].agg(["mean", "size"]).reset_index()
    return out.rename(columns={"mean": "value", "size": "n_clips"})


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread (sample std over seeds of the per-seed means; 0 with one seed), n (seeds)
    and n_clips (clips per seed; 0 for a set-level metric) per system and metric."""
    per_seed = seed_means(table)
    per_clip = table.assign(_c=table["clip"].notna()).groupby(["system", "metric"], sort=False)[
        "_c"
    ]
    clipped = per_clip.any()
    out = []
    for (system, metric), g in per_seed.groupby(["system", "metric"], sort=False):
        mean, spread = mean_and_spread(g["value"].to_numpy(dtype=np.float64))
        n_clips = int(g["n_clips"].max()) if clipped[(system, metric)] else 0
        out.append(
            dict(system=system, metric=metric, mean=mean, spread=spread, n=len(g))
            | {"n_clips": n_clips}
        )
    return pd.DataFrame(out, columns=["system", "metric", "mean", "spread", "n", "n_clips"])


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
    """The evaluation table: dataset (ceiling), unit_recon, comp_recon, the models and the floors.

    `systems` maps a name to a sampler (seed, sample, clips) -> dances, one per evaluated piece
    of music (see `load_eval_data`); by default `model_systems`: the full model unwarped
    ("full"), the same dances beat-warped ("full_warped") and every ablation and bank composer
    found under `runs_dir`, unwarped; then the floors are scored warped too (`retrieval_warped`,
    `random_units_warped`), and "unit_recon" (`unit_recon_table`) and "comp_recon"
    (`comp_recon_table`) are added when a full run exists, "bank_recon" when a bank run does
    (its autoencoder's `comp_recon`) and, for a bank that matches music, the two floors of
    `keyed_floors` (real windows drawn by the same match) and BANK_FITTED (the same decoder
    drawing from Gaussians fitted to its bank). The dance classifier is trained once
    per dataset and cached under `runs_dir`.
    Returns the tidy DataFrame (TABLE_COLUMNS).
    """
    config = config or EvalConfig()
    classifier, _ = dance_classifier_for_data(data_dir, runs_dir, config.classifier, progress)
    data = load_eval_data(data_dir, config)
    extra: list[pd.DataFrame] = []
    if systems is None:
        found = find_systems(runs_dir, data_dir)
        systems = model_systems(found, data)
        if "full" in found:
            gen = generate.DanceGenerator.from_run(found["full"], device="cpu")
            extra.append(unit_recon_table(gen, data, classifier, config))
            extra.append(comp_recon_table(gen, data, classifier, config))
        if BANK_SYSTEM in found:
            gen = generate.DanceGenerator.from_run(found[BANK_SYSTEM], device="cpu")
            extra.append(comp_recon_table(gen, data, classifier, config, f"{BANK_SYSTEM}_recon"))
            if gen.composer.cfg.bank_match == "music":
                systems |= keyed_floors(data, gen)
                fitted = generator_sampler(gen.drawing_by("fitted"), data)
                systems[BANK_FITTED] = cached_sampler(fitted)
    warped = any(name.endswith("_warped") for name in systems)
    table = evaluate_systems(
        data, classifier, systems, seeds, config, progress=progress, warped_floors=warped
    )
    return pd.concat([table, *extra], ignore_index=True)


def keyed_floors(data: EvalData, bank: generate.DanceGenerator) -> dict[str, DanceSampler]:
    """The two keyed-retrieval floors of a music-matched bank run: KEYED_RETRIEVAL (any style,
    every training window) and KEYED_BANK_POOL (the bank's pool size, the song's style)."""
    cfg = bank.composer.cfg
    return {
        KEYED_RETRIEVAL: KeyedRetrieval(data, cfg.bank_topk),
        KEYED_BANK_POOL: KeyedRetrieval(data, cfg.bank_topk, pool=cfg.bank_size, by_style=True),
    }


def unit_recon_table(
    generator: DanceGenerator, data: EvalData, classifier: DanceClassifier, config: EvalConfig
) -> pd.DataFrame:
    """Rows of "unit_recon": the real evaluated dances rebuilt unit by unit through the
    generator's decomposition (`unit_reconstruction_ceiling`), scored like the dataset."""
    dances = unit_reconstruction_ceiling(generator.dance_unit, generator.pose_normaliser, data)
    return score_fixed("unit_recon", dances, data, classifier, config)


def comp_recon_table(
    generator: DanceGenerator,
    data: EvalData,
    classifier: DanceClassifier,
    config: EvalConfig,
    name: str = "comp_recon",
) -> pd.DataFrame:
    """Rows of `name`: the real evaluated dances rebuilt through the composer's own
    autoencoder (`composer_reconstruction_ceiling`), scored like the dataset."""
    dances = composer_reconstruction_ceiling(generator, data)
    return score_fixed(name, dances, data, classifier, config)


def derived_seed(*key: int) -> int:
    """A seed for one (system, seed, ...) combination, stable across runs."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])


def generator_sampler(
    generator: DanceGenerator, data: EvalData, warp: bool = False
) -> DanceSampler:
    """A DanceSampler over a d2mlib.generate.DanceGenerator: one composed dance per piece.

    Seed s and piece i fix the initial pose (decoded from a z_init drawn from (s, i)); sample
    k draws the composer's noise from (s, i, k), so the samples of one piece share music and
    initial pose and differ only in noise. By default the dance is the model's own output;
    with `warp` it is beat-warped onto the music's beats, as the demo does.
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
            style = int(data.styles[i]) if generator.needs_style else None
            dance = generator.compose(musics[i], noise, pose, warp=warp, style=style)
            out.append(np.asarray(dance.poses, dtype=np.float64))
        return out

    return sample


def model_systems(
    runs: dict[str, Path], data: EvalData, warped_full: bool = True
) -> dict[str, DanceSampler]:
    """Samplers for the systems `find_systems` found: each composes unwarped (the model's own
    output); with `warped_full` the full model's same dances are also beat-warped, as
    "full_warped" (warping is post-processing, reported separately)."""

    systems: dict[str, DanceSampler] = {}
    for name, path in runs.items():
        gen = generate.DanceGenerator.from_run(path, device="cpu")
        systems[name] = cached_sampler(generator_sampler(gen, data, warp=False))
        if name == "full" and warped_full:
            systems["full_warped"] = warped_sampler(systems["full"], data)
    return systems


def main(argv: Sequence[str] | None = None) -> int:
    """`d2m evaluate --run RUNS_DIR --data DATA_DIR [--seeds 3] --out table.csv`."""

    parser = argparse.ArgumentParser(
        prog="d2m evaluate",
        description="Score the dataset, unit_recon, comp_recon, the trained systems (unwarped; "
        "full also warped) and two baselines (plain and warped) into a tidy per-clip table.",
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
        help="musical beats: librosa's tracker on the clip audio, or the synthetic meta.json "
        "(the *_true metrics always use meta.json's beats where the clips have them)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    config = EvalConfig(split=args.split, max_clips=args.max_clips, music_beats=args.music_beats)
    table = evaluate(args.run, args.data, seeds=args.seeds, config=config, progress=not args.quiet)
    write_table(table, args.out)
    summary = summarise(table)
    wide = summary.pivot(index="metric", columns="system", values="mean")
    print(wide.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {args.out}: {len(table)} rows")
    return 0
