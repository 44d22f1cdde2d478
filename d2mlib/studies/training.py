"""How well do the three stages learn? Held-out scores of runs, the runs' overview,
reconstruction errors against two baselines, beat scores of composed dances (book/training.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from d2mlib import skeleton
from d2mlib.beats import DEFAULT_MAX_SHIFT, align_to_beats, beat_metrics, seconds_to_frames
from d2mlib.config import STYLES, ComposerConfig, Config, DanceUnitConfig, resolve_device
from d2mlib.data.loaders import sequence_loader
from d2mlib.data.store import FeatureStore
from d2mlib.errors import D2MError
from d2mlib.metrics.classifier import DanceClassifier, embed_dances
from d2mlib.metrics.frechet import fid_from_features
from d2mlib.models.composer_inputs import unit_audio_summary
from d2mlib.models.dance_unit import Gaussian
from d2mlib.models.prior import moved
from d2mlib.stages import DEPENDENCY_MODULES, build_stage, spec, split_loader
from d2mlib.stats import COLUMNS, compare
from d2mlib.studies.style_classification import classification_scores, style_predictions
from d2mlib.train.checkpoints import load_checkpoint
from d2mlib.train.loop import run_validation, validation_batches
from d2mlib.train.runs import Run, load_run, read_run
from d2mlib.validate import check_dance, check_dance_set, check_same_length, metric_error
from d2mlib.verdicts import fmt_pct


def _joint_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of each joint between poses a and b (..., 14, 2) -> (..., 14), pixels."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def reconstruction_table(
    units: np.ndarray, recon: np.ndarray, styles: Sequence[int | str], mean_pose: np.ndarray
) -> pd.DataFrame:
    """Mean L1 error per coordinate (pixels) of reconstructed units, by style and overall.

    Columns: ``units`` (count), ``model`` (the reconstructions), ``first pose held`` (every
    frame predicted as the unit's first pose) and ``mean pose`` (every frame predicted as
    `mean_pose` (14, 2), e.g. the training set's mean pose).
    """
    x = check_dance_set(units, "reconstruction units")
    y = check_dance_set(recon, "reconstructions")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise metric_error(
            f"reconstruction_table: units {x.shape} and reconstructions {y.shape} differ"
        )
    mean_pose = np.asarray(mean_pose, np.float64).reshape(skeleton.NUM_JOINTS, 2)
    names = np.asarray([STYLES[int(s)] if not isinstance(s, str) else s for s in styles])
    check_same_length(x, names, "units", "styles")
    errors = {
        "model": np.abs(y - x).mean(axis=(1, 2, 3)),
        "first pose held": np.abs(x[:, :1] - x).mean(axis=(1, 2, 3)),
        "mean pose": np.abs(mean_pose - x).mean(axis=(1, 2, 3)),
    }
    rows = {}
    order = [s for s in STYLES if s in set(names)] + [
        s for s in dict.fromkeys(names) if s not in STYLES
    ]
    for name in order + ["all"]:
        pick = np.ones(len(names), bool) if name == "all" else names == name
        rows[name] = {"units": int(pick.sum())} | {
            k: float(v[pick].mean()) for k, v in errors.items()
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def reconstruction_comparison(
    units: np.ndarray, recon: np.ndarray, mean_pose: np.ndarray
) -> pd.DataFrame:
    """The decision rule on the reconstruction error: each baseline against the VAE.

    Per-unit mean L1 error (px per coordinate) of the VAE ("dance-unit VAE"), of holding the
    unit's first pose ("first pose held") and of the training set's mean pose ("mean pose");
    each unit is a clip of one run (one seed: the rule counts the units only). Effects are
    baseline error minus the VAE's: positive where the VAE errs less.
    """
    x = np.asarray(check_dance_set(units, "reconstruction units"), np.float64)
    y = np.asarray(check_dance_set(recon, "reconstructions"), np.float64)
    if x.shape != y.shape:
        raise metric_error(f"reconstruction_comparison: units {x.shape} and {y.shape} differ")
    mean_pose = np.asarray(mean_pose, np.float64).reshape(skeleton.NUM_JOINTS, 2)
    errors = {
        "dance-unit VAE": np.abs(y - x).mean(axis=(1, 2, 3)),
        "first pose held": np.abs(x[:, :1] - x).mean(axis=(1, 2, 3)),
        "mean pose": np.abs(mean_pose - x).mean(axis=(1, 2, 3)),
    }
    tidy = pd.concat(
        pd.DataFrame(
            {"system": k, "metric": "error (px)", "seed": 0, "clip": np.arange(len(v)), "value": v}
        )
        for k, v in errors.items()
    )
    return compare(tidy, "dance-unit VAE", metrics_higher_better={"error (px)": False})


def motion_ratio(units: np.ndarray, recon: np.ndarray) -> pd.DataFrame:
    """How much rebuilt units move against the real ones, frame by frame along the unit.

    For frames t = 1 .. T-1: the mean joint displacement from frame t-1 to t of the
    reconstructions divided by that of the real units (mean over units and joints, px); 1 means
    the rebuilt units move as much as the real ones, below 1 they are damped. Columns: frame,
    real_px, rebuilt_px, ratio.
    """
    x = np.asarray(check_dance_set(units, "real units"), np.float64)
    y = np.asarray(check_dance_set(recon, "rebuilt units"), np.float64)
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] < 2:
        raise metric_error(
            f"motion_ratio: needs real and rebuilt units of one shape (N, T>=2, 14, 2), "
            f"got {x.shape} and {y.shape}"
        )
    real = _joint_distance(x[:, 1:], x[:, :-1]).mean(axis=(0, 2))
    rebuilt = _joint_distance(y[:, 1:], y[:, :-1]).mean(axis=(0, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(real > 0, rebuilt / real, np.nan)
    frames = np.arange(1, x.shape[1])
    return pd.DataFrame({"frame": frames, "real_px": real, "rebuilt_px": rebuilt, "ratio": ratio})


def _spread(units: np.ndarray) -> np.ndarray:
    """Units (N, T, 14, 2) -> (N,): the root mean square of each joint's offset from frame 0, px."""
    return np.sqrt(((units - units[:, :1]) ** 2).mean(axis=(1, 2, 3)))


def unit_spread_table(units: np.ndarray, recons: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Tidy rows (stats.COLUMNS): per unit, how far each reconstruction's joints range from its
    first frame as a percentage of how far the real unit's do ("spread share")."""
    return _share_table(units, recons, _spread, "spread share")


def restored_dances(
    real: Sequence[np.ndarray], rebuilt: Sequence[np.ndarray], spread: bool = False
) -> list[np.ndarray]:
    """Dances rebuilt unit by unit (`metrics.unit_reconstruction_ceiling`) with each 32-frame unit
    moved to start at the real unit's first pose and, with `spread`, its offsets from there
    scaled to the real unit's spread: what the rebuilt start and the damping each cost."""
    check_same_length(real, rebuilt, "real dances", "rebuilt dances")
    n = skeleton.UNIT_FRAMES
    out = []
    for i, (x, y) in enumerate(zip(real, rebuilt, strict=True)):
        x, y = check_dance(x, f"real dance {i}"), check_dance(y, f"rebuilt dance {i}")
        if x.shape != y.shape:
            raise metric_error(f"restored_dances: dance {i} has shapes {x.shape} and {y.shape}")
        frames = n * (len(x) // n)
        xu, yu = (d[:frames].reshape(-1, n, *d.shape[1:]) for d in (x, y))
        offsets = yu - yu[:, :1]
        if spread:
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(_spread(yu) > 0, _spread(xu) / _spread(yu), 1.0)
            offsets = offsets * scale[:, None, None, None]
        units = xu[:, :1] + offsets
        out.append(np.concatenate([units.reshape(frames, *x.shape[1:]), y[frames:]]))
    return out


def linear_code_dances(
    train_units: np.ndarray,
    dances: Sequence[np.ndarray],
    size: int,
    normaliser: skeleton.Normaliser,
    max_units: int = 20_000,
) -> list[np.ndarray]:
    """Dances rebuilt unit by unit through a linear code of `size` numbers: each unit's offsets
    from its first pose (normalised) projected on the training units' first `size` principal
    components (from at most `max_units` evenly spaced training units), added back to the real
    first pose. What a code of that size holds when the map to it and back is only linear; frames
    after the last whole unit stay real."""
    x = np.asarray(check_dance_set(train_units, "training units"), np.float64)
    if x.ndim != 4 or len(x) == 0:
        raise metric_error(f"linear_code_dances: needs training units (N, T, 14, 2), got {x.shape}")
    if int(size) < 0:
        raise metric_error(f"linear_code_dances: size must be >= 0, got {size}")
    n = x.shape[1]
    pick = np.linspace(0, len(x) - 1, min(len(x), int(max_units))).round().astype(int)
    units = np.asarray(normaliser.normalise(x[pick]), np.float64).reshape(len(pick), n, -1)
    offsets = (units - units[:, :1]).reshape(len(pick), -1)
    mean = offsets.mean(axis=0)
    basis = np.linalg.svd(offsets - mean, full_matrices=False)[2][: int(size)]
    out = []
    for i, dance in enumerate(dances):
        d = check_dance(dance, f"dance {i}")
        frames = n * (len(d) // n)
        u = np.asarray(normaliser.normalise(d[:frames].reshape(-1, n, *d.shape[1:])), np.float64)
        u = u.reshape(-1, n, units.shape[-1])
        off = (u - u[:, :1]).reshape(len(u), -1) - mean
        rebuilt = u[:, :1] + ((off @ basis.T) @ basis + mean).reshape(u.shape)
        poses = normaliser.denormalise(rebuilt.astype(np.float32)).reshape(frames, *d.shape[1:])
        out.append(np.concatenate([poses.astype(np.float64), d[frames:]]))
    return out


def restoration_phrase(fid_rebuilt: float, fid_start: float, fid_spread: float) -> str:
    """Which restoration (`restored_dances`) takes the larger share of the rebuilt dances' FID
    away: giving back the spread after the start ("the damping, more than the start,") or the
    start itself ("the start, more than the damping,"), as a phrase for the training chapter."""
    values = (fid_rebuilt, fid_start, fid_spread)
    if not all(np.isfinite(values)):
        raise metric_error(f"restoration_phrase: FIDs must be finite, got {values}")
    if fid_start - fid_spread > fid_rebuilt - fid_start:
        return "the damping, more than the start,"
    return "the start, more than the damping,"


def linear_code_phrase(fid_linear: float, fid_paper: float) -> str:
    """How the linear code's FID (`linear_code_dances`) compares with the paper's decomposition's
    (FID `fid_paper`, trained as long as the chapter's comparison), as a clause for the training
    chapter: both are one number per set, so the clause compares them and judges nothing."""
    if not (np.isfinite(fid_linear) and np.isfinite(fid_paper)):
        raise metric_error(
            f"linear_code_phrase: FIDs must be finite, got {fid_linear}, {fid_paper}"
        )
    if fid_linear < fid_paper:
        return (
            "lower than the paper's decomposition's, so a code of this size has room for the "
            "dances, and that recurrent VAE does not use it at this length of training"
        )
    return "no lower than the paper's decomposition's, so a code of this size limits both"


def rhythm_sentence(metrics: pd.DataFrame, weight: float) -> str:
    """What a composition run's rhythm term (`models.rhythm`) did over its training, from its
    validation rows (a run's `metrics()`), as a sentence for the training chapter: its unweighted
    value at the first and last validation, or that the run has no such term."""
    if weight <= 0:
        return (
            "This preset's composer has no rhythm term (`w_rhythm` is 0): nothing in its losses "
            "asks its dances to move with their music's beats."
        )
    val = metrics[(metrics["split"] == "val") & (metrics["term"] == "rhythm")].sort_values("step")
    if val.empty:
        raise metric_error("rhythm_sentence: the run logged no validation rhythm term")
    first, last = val.iloc[0], val.iloc[-1]
    a, b = float(first["value"]) / weight, float(last["value"]) / weight
    if not (np.isfinite(a) and np.isfinite(b)):
        raise metric_error(f"rhythm_sentence: the term must be finite, got {a} and {b}")
    went = "fell" if b < a else "rose" if b > a else "stayed"
    return (
        f"On the validation sequences its rhythm term {went} from {a:.2f} at step "
        f"{int(first['step']):,} to {b:.2f} at step {int(last['step']):,} (0: the real dance's own "
        "speed; 1: a speed no more like it, beat to beat, than chance, at the same mean)."
    )


ADVERSARIES = (  # (discriminator's term, generator's term, weight field, what it judges)
    ("disc_mov", "gan", "w_gan", "movement-code"),
    ("disc_dance", "dance_gan", "w_dance_gan", "dance-latent"),
)


def adversarial_sentence(metrics: pd.DataFrame, cfg: ComposerConfig) -> str:
    """Where a composition run's adversarial game ended, from its training rows (a run's
    `metrics()`), as a sentence: each discriminator's loss and the generator's unweighted term
    against it, averaged over the first and the last tenth of the logged steps."""
    train = metrics[metrics["split"] == "train"]
    parts = []
    for disc, gen, weight_field, what in ADVERSARIES:
        weight = getattr(cfg, weight_field)
        if weight <= 0:
            continue
        game = train[train["term"].isin((disc, gen))]
        if not np.isfinite(game["value"]).all():
            raise metric_error(f"adversarial_sentence: {disc} and {gen} must be finite")
        game = game.pivot_table(index="step", columns="term", values="value")
        if set(game.columns) != {disc, gen}:
            raise metric_error(f"adversarial_sentence: the run logged no training {disc}/{gen}")
        tenth = max(len(game) // 10, 1)
        first, last = game.iloc[:tenth], game.iloc[-tenth:]
        d0, d1, g1 = first[disc].mean(), last[disc].mean(), last[gen].mean() / weight
        parts.append(
            f"the {what} discriminator's loss averaged {d1:.2g} over steps {last.index[0]:,} "
            f"to {last.index[-1]:,} ({d0:.2g} over the first tenth of the run), and the "
            f"generator's term against it {g1:.2f} (unweighted)"
        )
    if not parts:
        return "This preset's composer has no adversarial terms (`w_gan` and `w_dance_gan` are 0)."
    return (
        f"Where the adversarial game ended: {'; '.join(parts)}. A least-squares discriminator "
        "that tells every composed sample from the real ones scores 0 and leaves the generator's "
        "term at 1; one that cannot tell them apart scores 0.25 and leaves it at 0.25."
    )


def fid_against(
    classifier: DanceClassifier,
    reference: Sequence[np.ndarray],
    sets: Mapping[str, Sequence[np.ndarray]],
) -> pd.Series:
    """Each set of dances' FID against `reference` on the dance classifier's embedding, as the
    evaluation scores FID (`metrics.score_system`)."""
    ref = embed_dances(classifier, reference).features
    return pd.Series(
        {
            name: fid_from_features(ref, embed_dances(classifier, d).features)
            for name, d in sets.items()
        }
    )


def validation_at(metrics: pd.DataFrame, term: str, step: int) -> tuple[pd.Series, pd.Series]:
    """A run's validation `term` at its last validation at or before `step`, and at its end:
    two rows (step, value) of the tidy metrics (`Run.metrics()`)."""
    val = metrics[(metrics["split"] == "val") & (metrics["term"] == term)].sort_values("step")
    if val.empty:
        raise metric_error(f"validation_at: the run has no validation {term!r}")
    before = val[val["step"] <= step]
    then = before.iloc[-1] if len(before) else val.iloc[0]
    return then[["step", "value"]], val.iloc[-1][["step", "value"]]


MOTION_SWITCHES = (
    "enc_input",
    "dec_output",
    "dec_anchor",
    "dec_time_code",
    "w_velocity",
    "linear_path",
)
"""The decomposition's switches against damped reconstructions (`models.dance_unit`)."""


def without_motion_switches(cfg: Config) -> Config:
    """`cfg` with the decomposition's motion switches at the paper's values (sizes, training
    and everything else unchanged): the model the book's decomposition is compared with."""
    paper = DanceUnitConfig()
    switches = {k: getattr(paper, k) for k in MOTION_SWITCHES}
    return dataclasses.replace(cfg, dance_unit=dataclasses.replace(cfg.dance_unit, **switches))


def _share_table(
    units: np.ndarray,
    recons: Mapping[str, np.ndarray],
    measure: Callable[[np.ndarray], np.ndarray],
    metric: str,
) -> pd.DataFrame:
    """Tidy rows (stats.COLUMNS) of `metric`: per unit, each reconstruction's `measure` (N units
    -> N values) as a percentage of the real unit's."""
    x = np.asarray(check_dance_set(units, "real units"), np.float64)
    real = measure(x)
    rows = []
    for system, recon in recons.items():
        y = np.asarray(check_dance_set(recon, f"{system} units"), np.float64)
        if y.shape != x.shape:
            raise metric_error(f"{metric}: {system} has shape {y.shape}, not {x.shape}")
        value = measure(y)
        for i in np.flatnonzero(real > 0):
            rows.append((system, metric, 0, str(i), 100.0 * value[i] / real[i]))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _motion(units: np.ndarray) -> np.ndarray:
    """Units (N, T, 14, 2) -> (N,): how far the joints move from frame to frame in all, px."""
    return _joint_distance(units[:, 1:], units[:, :-1]).sum(axis=(1, 2))


def unit_motion_table(units: np.ndarray, recons: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Tidy rows (stats.COLUMNS): per unit, how far each reconstruction's joints move from frame
    to frame as a percentage of how far the real unit's move ("motion share")."""
    return _share_table(units, recons, _motion, "motion share")


def _test_codes(
    generator: Any, store: FeatureStore, split: str, batch: int
) -> tuple[Gaussian, torch.Tensor]:
    """The real movement codes (B, 3, z_m) of the first `batch` 3-unit sequences of `split`,
    and their audio (B, 96, 28)."""
    loader = sequence_loader(store, split, batch_size=batch, n_units=(3,), shuffle=False)
    loader.set_epoch(0)
    units, audio, _ = next(iter(loader))
    b, n = units.shape[:2]
    with torch.no_grad():
        _, q = generator.dance_unit.encode(units.reshape(b * n, *units.shape[2:]))
    return Gaussian(q.mu.view(b, n, -1), q.logvar.view(b, n, -1)), audio


def dance_latents(
    generator: Any, store: FeatureStore, split: str = "test", batch: int = 64
) -> dict[str, float]:
    """The composer's dance latents of `batch` real sequences of `split`: how much their means
    differ across sequences ("spread": per-dimension standard deviation, mean over dimensions)
    against the noise a posterior sample adds ("posterior sd": mean over sequences and
    dimensions), and their ratio. A ratio well below 1 means a sampled latent says little about
    its dance, so the decoder can only rebuild something near the mean. Also the spread of the
    latents the composer draws from the same sequences' music (its prior, noise seeded 0:
    "composed spread") and its share of the encoder's ("composed share")."""
    c = generator.composer
    real, audio = _test_codes(generator, store, split, batch)
    with torch.no_grad():
        q = c.dance_enc(real)
        noise = torch.randn(len(audio), c.cfg.noise_dim, generator=torch.Generator().manual_seed(0))
        drawn = c.dance_latent(generator.style.code(audio), noise, audio)
        composed = drawn.sample(generator=torch.Generator().manual_seed(1))
    spread = float(q.mu.std(0).mean())
    sd = float(torch.exp(0.5 * q.logvar).mean())
    wide = float(composed.std(0).mean())
    return {
        "spread": spread,
        "posterior sd": sd,
        "ratio": spread / sd,
        "composed spread": wide,
        "composed share": wide / spread if spread > 0 else float("nan"),
    }


def composer_codes(
    generator: Any, store: FeatureStore, split: str = "test", batch: int = 64
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much of the real movement codes the composer reproduces, on `batch` test sequences.

    Rows: the real codes (the decomposition's posterior means), the codes the composer rebuilds
    from the real dance's latent (its autoencoder path, posterior mean), the codes it composes
    from the music (its generator path), and these real codes' mean for every unit (the
    trivial answer). Columns: spread (per-dimension standard deviation across units, mean over
    dimensions) and L1 to the real codes (mean absolute difference). Also the per-sequence L1
    as tidy rows (stats.COLUMNS) for the decision rule."""
    c = generator.composer
    real, audio = _test_codes(generator, store, split, batch)
    b, n = real.mu.shape[:2]
    with torch.no_grad():
        music = unit_audio_summary(audio, n, c.cfg.music_input)
        rebuilt = c.rebuild(real, audio, n)
        noise = torch.randn(b, c.cfg.noise_dim, generator=torch.Generator().manual_seed(0))
        z = moved(c.moments, c.dance_latent(generator.style.code(audio), noise, audio).mu)
        composed = c.movement_codes(z, music).mu
    mean = real.mu.mean(dim=(0, 1), keepdim=True).expand_as(real.mu)
    rows, tidy = [], []
    for name, codes in (
        ("real", real.mu),
        ("rebuilt from the real dance latent", rebuilt),
        ("composed from the music", composed),
        ("the mean code", mean),
    ):
        flat = codes.reshape(-1, codes.shape[-1])
        per_sequence = (codes - real.mu).abs().mean(dim=(1, 2))
        spread = float(flat.std(0).mean())
        rows.append(
            {"codes": name, "spread": spread, "L1 to the real codes": float(per_sequence.mean())}
        )
        metric = "L1 to the real codes"
        tidy += [(name, metric, 0, str(i), float(v)) for i, v in enumerate(per_sequence)]
    return pd.DataFrame(rows).set_index("codes"), pd.DataFrame(tidy, columns=list(COLUMNS))


BEAT_SYSTEMS = ("real", "composed", "composed, warped")
"""The dances `held_out_beats` scores: the clip's own, the composer's own output, and that
output beat-warped onto the music's beats (the post-processing step)."""


def held_out_beats(
    generator: Any, clips: Sequence[Any], seeds: Sequence[int], max_shift: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Beat scores of the real dances and the composer's dances, unwarped and warped.

    Composes one unwarped dance per clip (HeldOutClip) and seed, warps a copy onto the music's
    beats (`beats.align_to_beats`, as DanceGenerator.compose(warp=True) does) and scores all
    against the same beats. Returns (tidy rows system, metric, seed, clip, value for
    beat_hit_rate and bas_kinematic, the real dances under seed 0; heard rows clip, style,
    heard_as: the style the extractor hears in each clip's music).
    """
    if not len(clips) or not len(seeds):
        raise metric_error("held_out_beats: needs at least one clip and one seed")
    shift = DEFAULT_MAX_SHIFT if max_shift is None else int(max_shift)
    rows: list[dict[str, Any]] = []
    heard = []

    def score(system: str, seed: int, c: int, poses: np.ndarray, beats: np.ndarray) -> None:
        m = beat_metrics([poses], [beats])
        for metric in ("beat_hit_rate", "bas_kinematic"):
            rows.append(dict(system=system, metric=metric, seed=seed, clip=c, value=m[metric]))

    for c, clip in enumerate(clips):
        music = clip.music()
        score("real", 0, c, clip.poses, clip.beat_times)
        for seed in seeds:
            dance = generator.compose(music, seed=int(seed), warp=False)
            score("composed", int(seed), c, dance.poses, clip.beat_times)
            frames = seconds_to_frames(music.beat_times)
            warped = align_to_beats(dance.poses, frames, shift) if len(frames) else dance.poses
            score("composed, warped", int(seed), c, warped, clip.beat_times)
        heard.append({"clip": c, "style": clip.style, "heard_as": dance.style})
    return pd.DataFrame(rows), pd.DataFrame(heard)


def held_out_summary(beats: pd.DataFrame, heard: pd.DataFrame) -> pd.DataFrame:
    """A reader's table per style and overall: clips, share heard as its style, and the beat
    hit rate of each of BEAT_SYSTEMS (mean over seeds and clips), from `held_out_beats`."""
    hit = beats[beats["metric"] == "beat_hit_rate"].merge(heard[["clip", "style"]], on="clip")
    out = {}
    present = list(dict.fromkeys(heard["style"]))
    ordered = [s for s in STYLES if s in present] + [s for s in present if s not in STYLES]
    for style in [*ordered, "all"]:
        mine = heard if style == "all" else heard[heard["style"] == style]
        h = hit if style == "all" else hit[hit["style"] == style]
        row = {
            "clips": len(mine),
            "heard as its style": fmt_pct(np.mean(mine["style"] == mine["heard_as"])),
        }
        for system in BEAT_SYSTEMS:
            per_seed = h[h["system"] == system].groupby("seed")["value"].mean()
            row[f"beat hit rate ({system})"] = fmt_pct(per_seed.mean())
        out[style] = row
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "music of style"
    return table


def style_test_scores(run_path: str | Path, store: FeatureStore, split: str = "test") -> dict:
    """Accuracy, precision and recall of a style run on every window tiling `split`'s clips.

    The one computation of a style extractor's test scores (the style chapter's
    `style_predictions` and `classification_scores`): a fraction of all windows, so the same
    run gives the same number wherever the book quotes it.
    """
    model = load_run(Path(run_path))[0]["style"]
    table = style_predictions(model, store, split)
    return classification_scores(table["style"], table["predicted"]) | {"windows": len(table)}


def evaluate_run(
    path: str | Path,
    data_dir: str | Path,
    split: str = "test",
    which: str = "best",
    max_batches: int | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Mean validation terms (e.g. the style extractor's loss and accuracy) of a run on `split`."""

    run = read_run(Path(path))
    modules, cfg = load_run(run.path, which=which, device=device)
    deps = {k: modules[k] for k in DEPENDENCY_MODULES} if spec(run.stage).needs else None
    stage_obj = build_stage(run.stage, cfg, device, deps)
    for name, module in stage_obj.modules().items():
        module.load_state_dict(modules[name].state_dict())
    loader = split_loader(run.stage, cfg, FeatureStore.open(data_dir), split, batch_size)
    values = run_validation(
        stage_obj,
        stage_obj.modules(),
        validation_batches(loader),
        max_batches,
        resolve_device(device),
    )
    if not values:
        raise D2MError(f"split {split!r} yielded no batches", data_dir)
    return values


def runs_overview(runs: Mapping[str, Run]) -> Any:
    """One row per stage's run: steps, batch size, trained parameters (millions), minutes, cached."""

    rows = {}
    for stage, run in runs.items():
        ckpt = load_checkpoint(run.checkpoint_path("last"))
        weights = ckpt["modules"][spec(run.stage).main_module]
        n_params = sum(int(v.numel()) for v in weights.values() if v.is_floating_point())
        rows[stage] = {
            "steps": int(run.step),
            "batch size": int(run.cfg.train_for(run.stage).batch_size),
            "parameters (M)": n_params / 1e6,
            "minutes": float(run.info.get("seconds", float("nan"))) / 60,
            "cached": bool(run.cached),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
