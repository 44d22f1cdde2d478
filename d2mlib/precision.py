"""Does bfloat16 autocast train the same model as float32?

`TrainConfig.precision = "bf16"` runs a stage's forward passes under bfloat16 autocast: the matrix
products (the recurrences' included, see `d2mlib.models.dance_unit.fast_rnn`) take bfloat16
operands, while states, gates, losses and optimiser stay float32. On a CPU with AVX512-BF16 that
roughly halves a paper-size decomposition step. Speed only counts if the training is unchanged, so
`precision_curves` trains the same stage twice, same seed and same batches, once per precision,
and `precision_gap` measures how far apart the two loss curves are.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib.errors import ConfigError

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


def precision_curves(
    cfg: Any,
    data_dir: str | Path,
    runs_dir: str | Path,
    stage: str = "decomp",
    steps: int = 200,
    progress: bool = False,
) -> pd.DataFrame:
    """Loss curves of `stage` trained in fp32 and in bf16 from the same seed on the same batches:
    tidy rows (precision, step, epoch, split, term, value). Runs are cached like any other."""
    from d2mlib.train import train_stage

    frames = []
    for precision in ("fp32", "bf16"):
        run = train_stage(
            stage,
            precision_config(cfg, stage, precision, steps),
            data_dir,
            runs_dir,
            progress=progress,
        )
        m = run.metrics()
        frames.append(m.assign(precision=precision)[["precision", *m.columns]])
    return pd.concat(frames, ignore_index=True)


def precision_gap(curves: pd.DataFrame, term: str = "total", window: int = 5) -> dict[str, float]:
    """How far the bf16 curve is from the fp32 one for `term`: the largest relative gap of the
    training curve after a rolling mean over `window` logged points, its mean, and the relative
    gap of the last validation value."""
    if not {"precision", "step", "split", "term", "value"} <= set(curves.columns):
        raise ConfigError("curves must have the columns of precision_curves")
    sel = curves[curves["term"] == term]
    if sel.empty:
        raise ConfigError(f"no {term!r} rows in the curves")
    out: dict[str, float] = {}
    train = sel[sel["split"] == "train"].pivot_table(
        index="step", columns="precision", values="value"
    )
    train = train.rolling(window, min_periods=1).mean().dropna()
    rel = _relative(train["bf16"].to_numpy(), train["fp32"].to_numpy())
    out["train_max"] = float(rel.max())
    out["train_mean"] = float(rel.mean())
    val = sel[sel["split"] == "val"].pivot_table(index="step", columns="precision", values="value")
    val = val.dropna()
    if len(val):
        last = val.iloc[-1]
        out["val_last"] = float(_relative(np.array([last["bf16"]]), np.array([last["fp32"]]))[0])
    return out


def _relative(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|a - ref| / |ref|, 0 where both are equal (a loss term that is exactly 0 in both)."""
    diff = np.abs(a - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / np.abs(ref))
