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
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib.errors import ConfigError
from d2mlib.train.runs import train_stage
from d2mlib.verdicts import fmt_num, fmt_pct, ratio_verdict

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


def gap_verdict(gap: float, seed_gap: float, threshold: float = 1.25) -> str:
    """How far bf16 moves the loss curve against how far another seed moves it, in words.

    `gap` and `seed_gap` are relative gaps (fractions, e.g. `precision_gap`'s train_max). bf16
    moves the curve 'more than' another seed when its gap is at least `threshold` times the
    seed's, 'less than' when at most 1/`threshold` times, else 'about as much as'; the
    sentence carries both gaps and their ratio, so it cannot contradict them.
    """
    if not (np.isfinite(gap) and np.isfinite(seed_gap) and gap >= 0 and seed_gap >= 0):
        raise ConfigError(f"gaps must be finite and >= 0, got {gap!r}, {seed_gap!r}")
    if not (np.isfinite(threshold) and threshold >= 1):
        raise ConfigError(f"threshold must be >= 1, got {threshold!r}")
    both = f"{fmt_pct(gap, 2)} against {fmt_pct(seed_gap, 2)}"
    if seed_gap == 0:
        word = "about as much as" if gap == 0 else "more than"
        return f"{word} another seed does ({both})"
    ratio = gap / seed_gap
    if ratio >= threshold:
        word = f"more than another seed does ({fmt_num(ratio, 2)} times as much"
    elif ratio <= 1 / threshold:
        word = f"less than another seed does ({fmt_num(ratio, 2)} times as much"
    else:
        word = f"about as much as another seed does (within {fmt_pct(threshold - 1)}"
    return f"{word}: {both})"


def speed_sentences(steps: pd.DataFrame, target: float = 2.0) -> pd.DataFrame:
    """Per model size: the batched step against the original's structure, in words.

    `steps`: one row per preset (index), median step seconds in columns ``naive`` and ``ours``
    (and ``ours_bf16`` when measured). Returns per preset the speed-ups and
    `verdicts.ratio_verdict` sentences with the `target` speed-up, ours and ours in bf16.
    """
    if not {"naive", "ours"} <= set(steps.columns):
        raise ConfigError("steps need the columns 'naive' and 'ours' (median seconds)")
    rows = {}
    for preset, r in steps.iterrows():
        row = {
            "speed-up": r["naive"] / r["ours"],
            "verdict": ratio_verdict(r["ours"], r["naive"], target=target),
        }
        if "ours_bf16" in steps.columns and np.isfinite(r.get("ours_bf16", np.nan)):
            row["speed-up, bf16"] = r["naive"] / r["ours_bf16"]
            row["verdict, bf16"] = ratio_verdict(r["ours_bf16"], r["naive"], target=target)
        rows[preset] = row
    return pd.DataFrame.from_dict(rows, orient="index")


OPERATOR_KINDS = (
    (("mm", "addmm", "bmm", "matmul", "linear", "baddbmm"), "matrix products"),
    (("tanh", "sigmoid", "relu", "gelu", "elu"), "activation functions"),
    (("add", "mul", "sub", "div", "add_", "mul_"), "element-wise arithmetic"),
    (("copy_", "cat", "stack", "to", "contiguous", "clone"), "copying tensors"),
    (("slice", "select", "index", "narrow", "view", "unbind", "split"), "slicing tensors"),
    (("empty", "empty_strided", "zeros", "ones", "full"), "allocating tensors"),
)
RECURRENT = ("gru", "lstm", "rnn")


def operator_kind(op: str) -> str:
    """A reader's name for a profiler operator: 'aten::mm' -> 'matrix products'."""
    name = str(op).split("::")[-1].lower()
    backward = re.fullmatch(r"(.+?)backward\d*", name)
    name = backward.group(1) if backward else name
    if any(r in name for r in RECURRENT):
        kind = "the recurrent layers"
        return f"{kind} (backward pass)" if backward else kind
    for names, kind in OPERATOR_KINDS:
        if name in names or any(name.startswith(n + "_") for n in names if len(n) > 3):
            return f"{kind} (backward pass)" if backward else kind
    return "a single operator (named in the profile below)"
