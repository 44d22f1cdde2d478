"""Does bfloat16 autocast train the same model as float32?

`TrainConfig.precision = "bf16"` runs a stage's forward passes under bfloat16 autocast: the matrix
products (the recurrences' included, see `d2mlib.models.rnn.fast_rnn`) take bfloat16
operands, while states, gates, losses and optimiser stay float32. On a CPU with bfloat16
instructions that speeds up a paper-size decomposition step (the timing chapter measures by how
much). Speed only counts if the training is unchanged, so `precision_curves` trains the same stage
twice, same seed and same batches, once per precision, and once more in fp32 from another seed; `precision_gap` measures how far the bf16 curve is from
the fp32 one, and, as the yardstick, how far the other seed's is.

(book/timing.md)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib.errors import ConfigError
from d2mlib.train.runs import train_stage

PRECISION_STAGES = ("style", "decomp")


def precision_config(cfg: Any, stage: str, precision: str, steps: int) -> Any:
    """`cfg` with `stage` trained for `steps` steps at `precision`, validated 4 times."""
    if stage not in PRECISION_STAGES:
        raise ConfigError(f"stage must be one of {PRECISION_STAGES}, got {stage!r}")
    if isinstance(steps, bool) or int(steps) < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    key = f"train_{stage}"
    t = getattr(cfg, key)
    val = max(int(steps) // 4, 1)
    t = dataclasses.replace(
        t,
        steps=int(steps),
        epochs=0,
        precision=precision,
        log_every=5,
        val_every=val,
        checkpoint_every=max(int(steps), 1),
    )
    return dataclasses.replace(cfg, **{key: t})


RUNS = ("fp32", "bf16", "fp32, next seed")
"""The three runs of `precision_curves`: fp32 and bf16 from the same seed, and fp32 from the next
seed, whose distance from the first is the yardstick for bf16's."""


def precision_curves(
    cfg: Any,
    data_dir: str | Path,
    runs_dir: str | Path,
    stage: str = "decomp",
    steps: int = 200,
    progress: bool = False,
) -> pd.DataFrame:
    """Loss curves of `stage` trained three times (RUNS): fp32 and bf16 from the stage's seed on
    the same batches, and fp32 from the next seed. Tidy rows (run, step, epoch, split, term,
    value); runs are cached like any other."""

    frames = []
    for run_name in RUNS:
        c = precision_config(cfg, stage, "bf16" if run_name == "bf16" else "fp32", steps)
        if run_name == "fp32, next seed":
            t = c.train_for(stage)
            c = dataclasses.replace(
                c, **{f"train_{stage}": dataclasses.replace(t, seed=t.seed + 1)}
            )
        run = train_stage(stage, c, data_dir, runs_dir, progress=progress)
        m = run.metrics()
        frames.append(m.assign(run=run_name)[["run", *m.columns]])
    return pd.concat(frames, ignore_index=True)


def precision_gap(
    curves: pd.DataFrame, term: str = "total", other: str = "bf16", window: int = 5
) -> dict[str, float]:
    """How far run `other` is from the fp32 run for `term`: the largest relative gap of the
    training curve after a rolling mean over `window` logged steps, its mean, and the relative
    gap of the last validation value."""
    if not {"run", "step", "split", "term", "value"} <= set(curves.columns):
        raise ConfigError("curves must have the columns of precision_curves")
    if other not in set(curves["run"]) or "fp32" not in set(curves["run"]):
        raise ConfigError(f"curves need the runs 'fp32' and {other!r}")
    sel = curves[curves["term"] == term]
    if sel.empty:
        raise ConfigError(f"no {term!r} rows in the curves")
    out: dict[str, float] = {}
    train = sel[sel["split"] == "train"].pivot_table(index="step", columns="run", values="value")
    train = train[["fp32", other]].rolling(window, min_periods=1).mean().dropna()
    rel = _relative(train[other].to_numpy(), train["fp32"].to_numpy())
    out["train_max"] = float(rel.max())
    out["train_mean"] = float(rel.mean())
    val = sel[sel["split"] == "val"].pivot_table(index="step", columns="run", values="value")
    val = val[["fp32", other]].dropna() if other in val else val.iloc[0:0]
    if len(val):
        last = val.iloc[-1]
        out["val_last"] = float(_relative(np.array([last[other]]), np.array([last["fp32"]]))[0])
    return out


def _relative(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|a - ref| / |ref|, 0 where both are equal (a loss term that is exactly 0 in both)."""
    diff = np.abs(a - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / np.abs(ref))
