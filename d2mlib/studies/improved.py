"""Does a bigger music style extractor classify better, and does it make better dances?
The paper's and the improved extractor trained alike, their test accuracy per clip, the style
consistency of dances composed from their codes, and a ballet-only composer (book/improved.md).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib import config, synth
from d2mlib.config import STYLES, Config
from d2mlib.data import dataset_complete
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError
from d2mlib.stats import COLUMNS
from d2mlib.studies.world_card import second_world
from d2mlib.synth.config import PRESET_NAMES, check_style
from d2mlib.validate import metric_error

SYSTEMS = ("paper", "improved")
SMOKE_HIDDEN = 16  # the improved extractor's width at smoke scale (its shape kept, tiny)
VALIDATIONS = 8  # validations per run (besides each epoch's end): enough points to find a plateau


def extractor_configs(
    preset: str,
    seed: int,
    steps: int,
    lr: float | None = None,
    precision: str | None = None,
    smoke_width: bool = False,
) -> dict[str, Config]:
    """The paper's and the improved extractor's configs, trained alike (same steps, lr, precision).

    Both validate VALIDATIONS times over the run (and at each epoch's end), for `plateau_step`.

    The improved extractor keeps the preset's style-code size (the composer's input); with
    `smoke_width` its GRU is SMOKE_HIDDEN wide (the smoke tests' scale).
    """
    r = dataclasses.replace
    paper = config.make_config(preset, seed=seed)
    extra = {"steps": int(steps), "val_every": max(int(steps) // VALIDATIONS, 1)}
    if lr is not None:
        extra["lr"] = float(lr)
    if precision is not None:
        extra["precision"] = precision
    train_style = r(paper.train_style, **extra)
    style = r(config.preset("improved").style, code_dim=paper.style.code_dim)
    if smoke_width:
        style = r(style, hidden=SMOKE_HIDDEN)
    return {
        "paper": r(paper, train_style=train_style),
        "improved": r(paper, style=style, train_style=train_style),
    }


PLATEAU_TOLERANCE = (
    0.02  # two points: about the sampling noise of a validation accuracy on ~400 windows
)


def plateau_step(
    steps: Sequence[int], values: Sequence[float], tolerance: float = PLATEAU_TOLERANCE
) -> int:
    """The first step at which a validation curve comes within `tolerance` of its best level.

    The curve is smoothed by a centred running median over three logged points first, so that one
    lucky evaluation does not set the level; the best level is the smoothed curve's maximum.
    """
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if s.size == 0 or s.shape != v.shape:
        raise metric_error(
            f"plateau_step: need equally long, non-empty steps and values, got {s.size} and {v.size}"
        )
    if not np.all(np.isfinite(v)):
        raise metric_error("plateau_step: the curve holds non-finite values")
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    smooth = pd.Series(v).rolling(3, center=True, min_periods=1).median().to_numpy()
    first = int(np.flatnonzero(smooth >= smooth.max() - float(tolerance))[0])
    return int(s[first])


def validation_curves(runs: Mapping[tuple[str, int], Any], term: str = "accuracy") -> pd.DataFrame:
    """Validation `term` of each (system, seed) -> Run: rows system, seed, step, value."""
    parts = []
    for (system, seed), run in runs.items():
        m = run.metrics()
        m = m[(m["split"] == "val") & (m["term"] == term)]
        parts.append(
            pd.DataFrame(
                {
                    "system": system,
                    "seed": int(seed),
                    "step": m["step"].to_numpy(),
                    "value": m["value"].to_numpy(float),
                }
            )
        )
    if not parts:
        raise metric_error("validation_curves: no runs given")
    return pd.concat(parts, ignore_index=True)


def plateau_table(curves: pd.DataFrame, tolerance: float = PLATEAU_TOLERANCE) -> pd.DataFrame:
    """`plateau_step` of each (system, seed) curve of `validation_curves`, with the final value."""
    rows = []
    for (system, seed), c in curves.groupby(["system", "seed"], sort=False):
        c = c.sort_values("step")
        rows.append(
            {
                "system": system,
                "seed": seed,
                "plateau step": plateau_step(c["step"], c["value"], tolerance),
                "last step": int(c["step"].iloc[-1]),
                "best": float(c["value"].max()),
                "last": float(c["value"].iloc[-1]),
            }
        )
    return pd.DataFrame(rows)


def borrowing_clips(store: FeatureStore, split: str = "test") -> pd.Series:
    """Whether each clip (row of the clips table) of `split` borrows another style's traits.

    Read from the synthetic world's meta.json ("borrowed"); NaN for a clip without one.
    """
    out = {}
    for clip in store.clip_indices(split):
        meta = Path(store.clips_table["audio"].iloc[int(clip)]).parent.parent / "meta.json"
        if not meta.is_file():
            out[int(clip)] = np.nan
            continue
        try:
            out[int(clip)] = bool(json.loads(meta.read_text(encoding="utf-8")).get("borrowed"))
        except (OSError, ValueError) as exc:
            raise metric_error(f"borrowing_clips: unreadable meta.json {meta} ({exc})") from exc
    return pd.Series(out, name="borrowing", dtype=object)


def clip_accuracy_table(
    predictions: Mapping[tuple[str, int], pd.DataFrame],
    metric: str = "accuracy",
    borrowing: pd.Series | None = None,
) -> pd.DataFrame:
    """The decision rule's tidy table of per-clip accuracy from `style_predictions` tables.

    One row per (system, seed, test clip): the fraction of the clip's windows given the right
    style. With `borrowing` (clip -> bool) two more metrics split the clips: `metric` + " on
    borrowing clips" and `metric` + " on clean clips".
    """
    rows = []
    for (system, seed), table in predictions.items():
        hit = (table["style"] == table["predicted"]).astype(float)
        per_clip = hit.groupby(table["clip"]).mean()
        for clip, value in per_clip.items():
            rows.append((system, metric, int(seed), int(clip), float(value)))
            if borrowing is not None and clip in borrowing.index and pd.notna(borrowing[clip]):
                kind = "borrowing" if borrowing[clip] else "clean"
                rows.append(
                    (system, f"{metric} on {kind} clips", int(seed), int(clip), float(value))
                )
    if not rows:
        raise metric_error("clip_accuracy_table: no predictions given")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def consistency_table(
    composed: Mapping[str, pd.DataFrame], seed: int = 0, metric: str = "style consistency"
) -> pd.DataFrame:
    """Tidy rows of style consistency: 1 when the judge gives a composed dance its music's style.

    `composed` maps a system to its `composed_styles` table (one dance per clip, composer `seed`).
    """
    rows = []
    for system, table in composed.items():
        hit = (table["style"] == table["predicted"]).astype(float)
        rows += [
            (system, metric, int(seed), int(c), float(h))
            for c, h in zip(table["clip"], hit, strict=True)
        ]
    if not rows:
        raise metric_error("consistency_table: no composed dances given")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def classified_as_table(
    composed: Mapping[str, pd.DataFrame], music: str, seed: int = 0
) -> pd.DataFrame:
    """Tidy rows, for the dances composed to `music`'s clips: 1 when the judge calls the dance
    each style (metric "classified as <style>"), per system."""
    index = STYLES.index(check_style(music))
    rows = []
    for system, table in composed.items():
        mine = table[table["style"] == index]
        if mine.empty:
            raise metric_error(f"classified_as_table: {system!r} composed nothing to {music} music")
        for s, name in enumerate(STYLES):
            hits = (mine["predicted"] == s).astype(float)
            rows += [
                (system, f"classified as {name}", int(seed), int(c), float(h))
                for c, h in zip(mine["clip"], hits, strict=True)
            ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def world_preset(preset: str, ambiguity: float) -> str:
    """The synthetic preset of `preset`'s world with the ambiguity dial at `ambiguity`: the preset
    itself, or its '<preset>-amb<percent>' twin (the style chapter's second world, "book-amb50")."""
    if float(synth.synth_preset(preset).ambiguity) == float(ambiguity):
        return preset
    twin = f"{preset}-amb{round(100 * float(ambiguity)):02d}"
    if twin not in PRESET_NAMES or float(synth.synth_preset(twin).ambiguity) != float(ambiguity):
        raise ConfigError(f"no synthetic preset {twin!r} with ambiguity {ambiguity:g}")
    return twin


def ensure_world(data_dir: str | Path, ambiguity: float) -> Path:
    """The synthetic world of `data_dir` with the ambiguity dial at `ambiguity`: `data_dir` itself
    when that is its own dial, else its twin preset written beside it ('<folder>-amb<percent>',
    as the style chapter writes it) if missing."""
    marker = dataset_complete(data_dir)
    if marker is None or marker.get("preset") not in PRESET_NAMES:
        raise ConfigError(f"ensure_world: {data_dir} is not a complete synthetic world")
    preset = str(marker["preset"])
    twin = world_preset(preset, ambiguity)
    if twin == preset:
        return Path(data_dir)
    world = second_world(data_dir, suffix=twin[len(preset) + 1 :])  # the style chapter's twin
    if world is None:
        raise ConfigError(f"ensure_world: no {twin!r} preset to write beside {data_dir}")
    return world


def plateau_sentence(
    plateau: int, steps: int, last_logged: int | None = None, tolerance: float = PLATEAU_TOLERANCE
) -> str:
    """Whether `steps` trains past a measured `plateau` step, in words (the page's sentence).

    `last_logged` is the last evaluated step (default `steps`): a plateau found there means the
    curve was still rising when training stopped.
    """
    if plateau < 0 or steps < 1:
        raise metric_error(
            f"plateau_sentence: need plateau >= 0 and steps >= 1, got {plateau}, {steps}"
        )
    last = int(steps if last_logged is None else last_logged)
    if plateau >= last:
        return (
            f"the best level came only at the last evaluation (step {last:,}), so the curves may "
            "still be rising: train longer before trusting the comparison."
        )
    left = steps - plateau
    return (
        f"the remaining {left:,} of the {steps:,} steps ({left / steps:.0%} of the training) "
        f"added less than {100 * tolerance:g} points: both are compared after their accuracy "
        "levelled off."
    )


def borrowing_sentence(
    verdict: str, paper_borrowing: float, improved_borrowing: float, paper_clean: float
) -> str:
    """The page's sentence on borrowing clips: both extractors' accuracy there (fractions), the
    paper's on the other clips, and the rule's `verdict` sentence for the difference."""
    for name, value in (
        ("paper_borrowing", paper_borrowing),
        ("improved_borrowing", improved_borrowing),
        ("paper_clean", paper_clean),
    ):
        if not 0.0 <= float(value) <= 1.0:
            raise metric_error(f"borrowing_sentence: {name} must be a fraction, got {value!r}")
    return (
        f"on the clips whose music borrows another style's traits the paper's extractor gives "
        f"{paper_borrowing:.0%} of the windows their style ({paper_clean:.0%} on the other clips) "
        f"and the improved one {improved_borrowing:.0%} (the rule on the difference: {verdict})."
    )


def plateau_phrase(plateau: int, steps: int) -> str:
    """`plateau_sentence` for an opening line: 'past the step (80) where ... levelled off' or
    'with validation accuracy still rising at the end'."""
    if plateau < 0 or steps < 1:
        raise metric_error(
            f"plateau_phrase: need plateau >= 0 and steps >= 1, got {plateau}, {steps}"
        )
    if plateau >= steps:
        return "with validation accuracy still rising at the end"
    return f"past the step ({plateau:,}) by which every run's validation accuracy had levelled off"
