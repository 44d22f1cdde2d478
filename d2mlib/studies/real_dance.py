"""Real dance: finding and importing the ballroom dances, their beat alignment against the
synthetic world's and against shuffled music, style recognition on real music, and the
evaluation of models trained on them without beat warping (book/real_dance.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import fill
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from d2mlib import ballroom, config, skeleton
from d2mlib._io import file_lock
from d2mlib.beats import beat_metrics, kinematic_beat_times
from d2mlib.card import clip_dance
from d2mlib.data import MARKER, dataset_complete, read_dataset
from d2mlib.errors import DataError
from d2mlib.metrics.bounds import evaluate_runs
from d2mlib.metrics.eval_data import EvalConfig, balanced_order
from d2mlib.studies.style_classification import classification_scores
from d2mlib.train.runs import config_for_data
from d2mlib.validate import metric_error
from d2mlib.verdicts import claim_verdict

ENV = "D2M_BALLROOM"  # where a user's copy of the dataset lies (checked first)
REPOSITORY = "https://github.com/mhy12345/Music-to-Dance-Motion-Synthesis"
# smoke mode: the two shortest dances of each style with several (about 8 minutes in all)
SMOKE_CLIPS = ("DANCE_C_8", "DANCE_C_6", "DANCE_R_8", "DANCE_R_3", "DANCE_W_24", "DANCE_W_22")
BEAT_METRICS = ("beat_hit_rate", "bas_kinematic", "bas_music")
OWN, SHUFFLED, SYNTHETIC = (
    "real dances, own music",
    "real dances, another dance's music",
    "synthetic world",
)
MISSING_NOTE = (
    "The ballroom dances of Tang, Jia and Mao (*Dance with Melody*, ACM Multimedia 2018) are "
    "not on this machine, so this chapter has nothing to show. To build it, run `make ballroom` "
    f"(it clones {REPOSITORY} into data/tang2018), or point the environment variable {ENV} at "
    "a copy of that dataset, and build the book again. The other chapters do not need it."
)


def candidates(root: str | Path) -> list[Path]:
    """Where the dataset is looked for, in order: $D2M_BALLROOM, data/tang2018, ../shared."""
    root = Path(root)
    env = os.environ.get(ENV, "").strip()
    found = [Path(env)] if env else []
    return found + [root / "data" / "tang2018", root.parent / "shared" / "data" / "tang2018"]


def find_ballroom(root: str | Path) -> Path | None:
    """The first candidate folder that holds dance folders (DANCE_<letter>_<n>), else None."""
    for path in candidates(root):
        if path.is_dir() and any(p.is_dir() for p in path.glob("DANCE_*")):
            return path
    return None


def _fresh(out: Path, src: Path, clips: Sequence[str] | None, styles: Sequence[str]) -> bool:
    """True when `out` is a finished import of these clips and styles from `src`."""
    summary_path = out / ballroom.SUMMARY_FILE
    if not (out / MARKER).is_file() or not summary_path.is_file():
        return False
    marker = dataset_complete(out)
    if marker is None or marker.get("preset") != ballroom.MARKER_PRESET:
        return False
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    want = [f.name for f in ballroom.find_clips(src) if ballroom.style_of(f) in styles]
    if clips is not None:
        want = [c for c in clips if c in set(want)]
    have = [c["clip"] for c in summary.get("clips", [])]
    return summary.get("source") == str(src) and sorted(have) == sorted(want)


def ensure_import(
    src: str | Path,
    out: str | Path,
    clips: Sequence[str] | None = None,
    styles: Sequence[str] = ballroom.STYLES,
    workers: int = 2,
) -> dict[str, Any]:
    """The import summary of `src` in `out`, importing only when `out` is missing or stale."""
    src, out = Path(src), Path(out)
    with file_lock(out):  # a chapter executed alongside may be importing it: wait for it
        return _ensure_import(src, out, clips, styles, workers)


def _ensure_import(
    src: Path, out: Path, clips: Sequence[str] | None, styles: Sequence[str], workers: int
) -> dict[str, Any]:
    """ensure_import's work, under its lock."""
    if _fresh(out, src, clips, styles):
        summary = json.loads((out / ballroom.SUMMARY_FILE).read_text(encoding="utf-8"))
        summary["data_dir"], summary["imported"] = str(out), False
        return summary
    summary = ballroom.import_ballroom(
        src, out, clips=clips, styles=styles, workers=workers, progress=False
    )
    summary["imported"] = True
    return summary


def alignment_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Per style and overall: the importer's beat check at the configured alignment and at
    each dance's best offset (hit rates, median best offset in seconds)."""
    table = pd.DataFrame(summary["clips"])
    rows = {}
    for style in [*summary["styles"], "all"]:
        g = table if style == "all" else table[table["style"] == style]
        rows[style] = {
            "clips": len(g),
            "hit rate, configured": g["hit_rate"].mean(),
            "hit rate, best offset": g["best_hit_rate"].mean(),
            "median best offset (s)": g["best_offset_s"].median(),
            "max bone CV": g["max_bone_cv"].max(),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


# ----------------------------------------------------------------------------- beats


@dataclass(frozen=True, eq=False)
class ClipDance:
    """One clip's real dance and its music's beat times (meta.json)."""

    name: str
    style: str
    poses: np.ndarray = field(repr=False)  # (T, 14, 2) pixels
    beats: np.ndarray = field(repr=False)  # seconds from the dance's first frame


def clip_dances(data_dir: str | Path, max_clips: int | None = None) -> list[ClipDance]:
    """The dances of a dataset with meta.json beat times (up to `max_clips`, balanced by style)."""
    index = read_dataset(data_dir, check_arrays=False)
    clips = index.clips.reset_index(drop=True)
    order = balanced_order(clips["style"].to_numpy(), max_clips)
    out = []
    for row in clips.iloc[order].itertuples(index=False):
        meta = Path(row.audio).parent.parent / "meta.json"
        if not meta.is_file():
            continue
        try:
            times = json.loads(meta.read_text(encoding="utf-8"))["beat_times"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"no readable beat_times ({exc})", meta) from exc
        units = index.units
        g = units[
            (units["style"] == row.style)
            & (units["video"] == row.video)
            & (units["clip"] == row.clip)
        ]
        if g.empty:
            continue
        stack = np.stack([np.load(p) for p in g["path"]])
        dance = clip_dance(stack, g["k"].to_numpy())
        name = f"{row.video}/{row.clip}"
        out.append(ClipDance(name, row.style, dance, np.asarray(times, dtype=np.float64)))
    return out


def shuffled_pairs(styles: Sequence[str], seed: int = 0) -> np.ndarray:
    """For each clip, another clip of the same style whose music it is paired with (a random
    derangement within each style); -1 for a style's only clip."""
    styles = np.asarray(styles)
    rng = np.random.default_rng(seed)
    pairs = np.full(len(styles), -1, dtype=np.int64)
    for style in dict.fromkeys(styles.tolist()):
        members = np.flatnonzero(styles == style)
        if len(members) < 2:
            continue
        perm = rng.permutation(members)
        pairs[perm] = np.roll(perm, -int(rng.integers(1, len(members))))
    return pairs


def beat_rows(
    dances: Sequence[ClipDance], system: str, pairs: Sequence[int] | None = None
) -> pd.DataFrame:
    """Tidy rows (system, metric, seed 0, clip, value) of each dance's beat metrics against its
    own music's beats, or against clip pairs[i]'s (both cut to the shorter; -1 skips)."""
    rows = []
    for i, clip in enumerate(dances):
        j = i if pairs is None else int(pairs[i])
        if j < 0:
            continue
        other = dances[j]
        frames = min(len(clip.poses), len(other.poses))
        scores = beat_metrics([clip.poses[:frames]], [other.beats])
        rows += [
            {"system": system, "metric": m, "seed": 0, "clip": clip.name, "value": scores[m]}
            for m in BEAT_METRICS
        ]
    if not rows:
        raise metric_error(f"beat_rows: no dances to score for {system!r}")
    return pd.DataFrame(rows)


def beat_comparison(
    real: Sequence[ClipDance], synthetic: Sequence[ClipDance], seed: int = 0
) -> pd.DataFrame:
    """The real dances' beat metrics with their own music, with another dance's music (same
    style) and the synthetic world's dances', in the tidy layout d2mlib.stats.compare reads.

    Only dances with a partner of their style take part (a style's only dance has no
    shuffled control), so own and shuffled music are scored on the same dances (paired)."""
    pairs = shuffled_pairs([c.style for c in real], seed)
    keep = np.flatnonzero(pairs >= 0)
    if keep.size == 0:
        raise metric_error("beat_comparison: no style has two dances to shuffle music between")
    remap = {int(old): new for new, old in enumerate(keep)}
    partnered = [real[i] for i in keep]
    pairs = np.array([remap[int(pairs[i])] for i in keep])
    parts = [beat_rows(partnered, OWN), beat_rows(partnered, SHUFFLED, pairs)]
    if synthetic:
        parts.append(beat_rows(synthetic, SYNTHETIC))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- style


def with_steps(cfg: config.Config, stage: str, steps: int) -> config.Config:
    """`cfg` training `stage` for `steps` steps (validation and checkpoints scaled to fit)."""
    key = {"style": "train_style", "decomp": "train_decomp", "comp": "train_comp"}[stage]
    t = getattr(cfg, key)
    every = max(1, int(steps) // 4)
    t = dataclasses.replace(
        t, steps=int(steps), val_every=every, checkpoint_every=every, log_every=max(1, every // 5)
    )
    return dataclasses.replace(cfg, **{key: t})


def style_config(
    preset: str, data_dir: str | Path, extractor: str, seed: int, steps: int
) -> config.Config:
    """The preset's config with the paper's or the improved style extractor, one class per
    dataset style, trained for `steps` steps with `seed`."""
    cfg = config_for_data(config.make_config(preset, seed=seed), data_dir)
    if extractor == "improved":
        improved = dataclasses.replace(
            config.preset("improved").style,
            code_dim=cfg.style.code_dim,
            num_classes=cfg.style.num_classes,
        )
        cfg = dataclasses.replace(cfg, style=improved)
    elif extractor != "paper":
        raise metric_error(
            f"style_config: extractor must be 'paper' or 'improved', not {extractor}"
        )
    return with_steps(cfg, "style", steps)


def clip_accuracy(predictions: pd.DataFrame, clip_names: Sequence[str], system: str, seed: int):
    """Tidy rows (system, metric "accuracy", seed, clip, value): the share of each test clip's
    windows a `style_predictions` table got right."""
    right = predictions["style"] == predictions["predicted"]
    acc = right.groupby(predictions["clip"]).mean()
    return pd.DataFrame(
        {
            "system": system,
            "metric": "accuracy",
            "seed": int(seed),
            "clip": [clip_names[int(c)] for c in acc.index],
            "value": acc.to_numpy(dtype=np.float64),
        }
    )


def style_scores(predictions: pd.DataFrame, names: Sequence[str]) -> dict[str, float]:
    """Accuracy and per-style precision and recall of a `style_predictions` table."""
    return classification_scores(
        predictions["style"], predictions["predicted"], len(names), names=names
    )


# ----------------------------------------------------------------------------- evaluation


def evaluate_unwarped(
    comp_runs: dict[str, Sequence[str | Path]],
    data_dir: str | Path,
    runs_dir: str | Path,
    seeds: int = 3,
    eval_config: EvalConfig | None = None,
) -> pd.DataFrame:
    """The evaluation table (dataset ceiling, systems, retrieval and random-unit floors) with
    every system's own dances, not warped onto the beats; columns system, seed, metric, value."""
    config = eval_config or EvalConfig(music_beats="meta")  # the imported clips' beats
    return evaluate_runs(comp_runs, data_dir, runs_dir, seeds, config)


def seconds_of(clip: ClipDance) -> float:
    """The length of a clip's dance in seconds."""
    return len(clip.poses) / skeleton.FPS


def row_of(result: pd.DataFrame, system: str, metric: str) -> pd.Series:
    """The d2mlib.stats.compare row of (system, metric)."""
    rows = result[(result["system"] == system) & (result["metric"] == metric)]
    if rows.empty:
        raise metric_error(f"row_of: no compare row for system {system!r}, metric {metric!r}")
    return rows.iloc[0]


def note_figure(text: str) -> Figure:
    """A small figure that only says `text` (stands in for a figure the build could not make)."""
    fig, ax = plt.subplots(figsize=(6, 1.2), layout="constrained")
    ax.axis("off")
    ax.text(0.5, 0.5, fill(text, 90), ha="center", va="center", fontsize=9, transform=ax.transAxes)
    return fig


CHANCE = "always the largest style"


def chance_rows(predictions: pd.DataFrame, clip_names: Sequence[str]) -> pd.DataFrame:
    """Tidy accuracy rows (one seed) of always answering the style with the most test clips in
    a `style_predictions` table: 1 for each clip of that style, 0 for the others."""
    style_of_clip = predictions.groupby("clip")["style"].first()
    largest = int(style_of_clip.value_counts().sort_index().idxmax())
    return pd.DataFrame(
        {
            "system": CHANCE,
            "metric": "accuracy",
            "seed": 0,
            "clip": [clip_names[int(c)] for c in style_of_clip.index],
            "value": (style_of_clip.to_numpy() == largest).astype(np.float64),
        }
    )


READING_KEYS = ("reading_shuffled", "reading_synth", "reading_style", "reading_eval")


def readings(beat_cmp: pd.DataFrame, style_cmp: pd.DataFrame, eval_cmp: pd.DataFrame) -> dict:
    """The chapter's conclusions, one sentence per question, chosen by the decision rule's
    verdicts (d2mlib.verdicts.claim_verdict on d2mlib.stats.compare rows)."""
    shuffled = claim_verdict(row_of(beat_cmp, SHUFFLED, "beat_hit_rate"), "lower")
    synth = claim_verdict(row_of(beat_cmp, SYNTHETIC, "beat_hit_rate"), "higher")
    chance = claim_verdict(row_of(style_cmp, CHANCE, "accuracy"), "lower")
    improved = claim_verdict(row_of(style_cmp, "improved", "accuracy"), "higher")
    fid = claim_verdict(row_of(eval_cmp, "full", "fid"), "lower")
    out = {
        "reading_shuffled": (
            "Another dance's music lowers the hit rate (confirmed by the rule): the dancers "
            "follow their own music's beats, if loosely."
            if shuffled == "confirmed"
            else "The rule finds no sign that another dance's music of the same style lowers "
            f"it ({shuffled}): by this beat definition (minima of joint speed) the real "
            "dances are no closer to their own beats than to another song's, so on these "
            "dances the beat metrics do not show the dancers following their own music."
        ),
        "reading_synth": (
            "The synthetic dancers are built to stop on the beat and hit it more often "
            "(confirmed): the synthetic chapters' beat results describe that world, not "
            "these real dances."
            if synth == "confirmed"
            else f"That the synthetic dancers hit the beat more often is {synth} here."
        ),
        "reading_style": (
            (
                "The music's style is recognised better than by always answering the style "
                "with the most test dances (confirmed by the rule)"
                if chance == "confirmed"
                else "The rule cannot tell the extractors' accuracy from always answering the "
                f"style with the most test dances ({chance}; only a few test dances)"
            )
            + f"; that the improved extractor does better than the paper's is {improved}."
        ),
        "reading_eval": (
            "The composer's own dances having a lower FID than random units is "
            f"{fid}; the evaluation table above gives every metric against the real dances "
            "and both floors."
        ),
    }
    return out


def offset_search(dances: Sequence[ClipDance], pairs: Sequence[int] | None = None) -> pd.DataFrame:
    """Per dance: the beat hit rate at the configured alignment and at the best offset within
    half a beat (d2mlib.ballroom.alignment_check), against its own music's beats or against
    clip pairs[i]'s (-1 skips): how much searching offsets gains even with the wrong music."""
    rows = []
    for i, clip in enumerate(dances):
        j = i if pairs is None else int(pairs[i])
        if j < 0:
            continue
        frames = min(len(clip.poses), len(dances[j].poses))
        kin = kinematic_beat_times(clip.poses[:frames])
        music = dances[j].beats[dances[j].beats <= frames / skeleton.FPS]
        check = ballroom.alignment_check(kin, music)
        rows.append(
            {"clip": clip.name, "configured": check["hit_rate"], "best": check["best_hit_rate"]}
        )
    return pd.DataFrame(rows, columns=["clip", "configured", "best"])
