"""Reading timing results: the latest rows, pivots, and the speed targets as measured."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib.errors import ConfigError
from d2mlib.timing.results import load_results, results_frame
from d2mlib.verdicts import count_phrase

# The speed targets, read from the table


def _pick(df: pd.DataFrame, **where: Any) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for col, value in where.items():
        mask &= (df[col] == value).to_numpy(dtype=bool, na_value=False)
    return df[mask]


def _one(df: pd.DataFrame, **where: Any) -> float | None:
    rows = _pick(df, **where)
    return float(rows["median"].iloc[-1]) if len(rows) else None


KEY_COLUMNS: tuple[str, ...] = (
    "machine",
    "device",
    "benchmark",
    "stage",
    "variant",
    "preset",
    "phase",
    "batch_size",
    "rnn",
    "length_s",
    "workers",
    "unit",
)


def latest(df: pd.DataFrame) -> pd.DataFrame:
    """Keep, for every measurement key (machine, device, benchmark, ...), its most recent row."""
    keyed = df.assign(_order=np.arange(len(df)))
    keyed = keyed.sort_values(["timestamp", "_order"], kind="stable")
    keyed = keyed.drop_duplicates(list(KEY_COLUMNS), keep="last").sort_values("_order")
    return keyed.drop(columns="_order").reset_index(drop=True)


def pivot(
    df: pd.DataFrame,
    index: str = "batch_size",
    columns: Sequence[str] = ("machine", "device", "stage"),
    **where: Any,
) -> pd.DataFrame:
    """Medians of the latest rows matching `where` (column=value), `index` down, `columns` across.

    Every (machine, device) that measured contributes its own columns, so a GPU box's rows
    appear beside the CPU's; cells nobody measured stay empty (NaN), never filled in.
    """
    rows = _pick(latest(df), **where)
    if rows.empty:
        return pd.DataFrame()
    cells = [index, *columns]
    if rows.duplicated(cells).any():
        varying = [c for c in KEY_COLUMNS if c not in cells and rows[c].astype(str).nunique() > 1]
        raise ConfigError(
            f"several measurements fall in one cell; they differ in {varying}: "
            "select one value of each (e.g. variant='ours')"
        )
    return rows.pivot_table(index=index, columns=list(columns), values="median", aggfunc="first")


def targets(df: pd.DataFrame, run_id: str | None = None) -> pd.DataFrame:
    """The issue's speed targets as measured in one run (default: the latest run of the table).

    One row per target: what, measured value, threshold, whether it is met; a target whose
    measurements are missing from the run is left out (never filled in).

    Long because it reads one block per speed target, in the order the timing chapter lists them.
    """
    if df.empty:
        return pd.DataFrame(columns=["target", "measured", "threshold", "met", "detail"])
    run_id = run_id or str(df["run_id"].iloc[-1])
    run = df[df["run_id"] == run_id]
    device = "cpu" if (run["device"] == "cpu").any() else str(run["device"].iloc[0])
    run = run[run["device"].isin([device, "cpu"])]
    out: list[dict[str, Any]] = []

    def add(
        target: str, value: float | None, threshold: str, met: bool | None, detail: str
    ) -> None:
        if value is not None and math.isfinite(value):
            out.append(
                dict(target=target, measured=value, threshold=threshold, met=met, detail=detail)
            )

    load = _pick(run, benchmark="loading", stage="unit", workers=0)
    store, naive = _one(load, variant="store"), _one(load, variant="naive")
    if store and naive:
        add(
            "unit loading speed-up (store / naive, 0 workers)",
            store / naive,
            ">= 20",
            store / naive >= 20,
            f"{store:.0f} vs {naive:.0f} samples/s",
        )
    wait = _pick(run, benchmark="data_wait")
    if len(wait):
        worst = float(wait["median"].max())
        stage = str(wait.loc[wait["median"].idxmax(), "stage"])
        add(
            "share of a training step waiting for data (0 workers, worst stage)",
            worst,
            "< 0.5",
            worst < 0.5,
            f"worst stage: {stage}",
        )
    over = _one(run, benchmark="loop_overhead", variant="overhead")
    if over is not None:
        add(
            "training loop overhead over the bare step",
            over,
            "< 0.10",
            over < 0.10,
            "batch " + str(_pick(run, benchmark="loop_overhead")["batch_size"].iloc[0]),
        )
    slow_rows = _pick(run, benchmark="training", stage="decomp", variant="naive", phase="total")
    if len(slow_rows):
        last = slow_rows.iloc[-1]
        preset, bs = str(last["preset"]), int(last["batch_size"])
        slow = float(last["median"])
        kinds = {
            "ours": ("speed-up over the original's structure", "s vs {slow:.3g} s (both fp32)"),
            "ours_bf16": ("speed-up, bf16 autocast", "s (bf16) vs {slow:.3g} s (original, fp32)"),
        }
        for variant, (what, unit) in kinds.items():
            step = _one(
                run,
                benchmark="training",
                stage="decomp",
                variant=variant,
                phase="total",
                preset=preset,
                batch_size=bs,
                rnn=str(last["rnn"]),
            )
            if step:
                add(
                    f"decomposition step {what} ({preset}, batch {bs})",
                    slow / step,
                    ">= 2",
                    slow / step >= 2,
                    f"{step:.3g} " + unit.format(slow=slow),
                )
    inf = _pick(run, benchmark="inference", length_s=60.0)
    if len(inf):
        paper = inf[inf["preset"] == "paper"]
        row = (paper if len(paper) else inf).iloc[-1]
        sec = float(row["median"]) * 60.0
        add(
            f"compute for a 60 s dance ({row['preset']} sizes)",
            sec,
            "< 1 s",
            sec < 1.0,
            f"{count_phrase(int(row['torch_threads']), 'torch thread')} on "
            f"{count_phrase(int(row['logical_cores']), 'core')}",
        )
    for dtype in ("fp32", "bf16"):
        peak = _one(run, benchmark="matmul_peak", variant=dtype)
        pairs = [("decomp", "ours"), ("comp", "ours")]
        pairs += [("decomp", "ours_bf16")] if dtype == "bf16" else []
        for stage, variant in pairs:
            got = _pick(run, benchmark="flops", unit="FLOP/s", stage=stage, variant=variant)
            if peak and len(got):
                top = got[got["batch_size"] == got["batch_size"].max()].iloc[-1]
                value = float(top["median"])
                name = stage + (" (bf16 autocast)" if variant == "ours_bf16" else "")
                add(
                    f"{name} achieved FLOP/s / {dtype} matmul peak "
                    f"({top['preset']}, batch {int(top['batch_size'])})",
                    value / peak,
                    "reported",
                    None,
                    f"{value / 1e9:.3g} vs {peak / 1e9:.3g} GFLOP/s",
                )
    return pd.DataFrame(out, columns=["target", "measured", "threshold", "met", "detail"])


# Reading results from several machines (the timing chapter)


def read_results(paths: Sequence[str | Path | None]) -> pd.DataFrame:
    """Every results table among `paths` (CSV files or folders of CSVs) that exists, as one frame.

    Missing paths and None are skipped; a row found in several of the tables is kept once.
    """
    frames, seen = [], set()
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        key = path.resolve()
        if key in seen or not path.exists():
            continue
        seen.add(key)
        frames.append(load_results(path))
    frames = [f for f in frames if len(f)]
    if not frames:
        return results_frame([])
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


def select(df: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The latest row of every measurement key in `df` that matches `where` (column=value)."""
    return _pick(latest(df), **where).reset_index(drop=True)
