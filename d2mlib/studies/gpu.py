"""CPU against GPU: when does a GPU pay for training, and by how much?

The GPU's rows come from one run of `tools/gpu_bench.sh` (`make bench-gpu`) on the GPU machine,
committed as `book/results/timing-h200.csv` (the tidy rows of `d2mlib.timing`); the CPU's from
the chapter's own measurements and any `make bench` table. Nothing here is filled in: a batch
size one device did not measure has no speed-up, and without the GPU file there is no GPU
column at all. The seed's figures (`SEED_FIGURES`) are the student's, quoted, never measured here.

(book/timing.md)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from d2mlib.errors import MetricError
from d2mlib.timing.analysis import select
from d2mlib.timing.results import load_results

GPU_RESULTS = Path("book") / "results" / "timing-h200.csv"  # from the project root
GPU_COMMAND = "make bench-gpu"  # or: bash tools/gpu_bench.sh OUT (see its header)

# The student's re-training of the original code (the seed repository's notes), quoted as given:
# one training iteration at batch 256, on a CPU and on an 11.5 GB GPU, which ran out of memory
# at batch 512. Not measured by this book.
SEED_FIGURES: dict[str, float] = {
    "batch_size": 256,
    "cpu_ms": 7367.0,
    "gpu_ms": 482.0,
    "gpu_oom_batch": 512,
    "gpu_memory_gb": 11.5,
}


def gpu_results(path: str | Path) -> pd.DataFrame | None:
    """The committed GPU results table at `path`, or None when no GPU run has been committed."""
    path = Path(path)
    return load_results(path) if path.exists() else None


def _one_machine(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the machine with the most of them (ties: the latest), so one column is one box."""
    if rows.empty:
        return rows
    counts = rows.groupby("machine").agg(n=("median", "size"), last=("timestamp", "max"))
    best = counts.sort_values(["n", "last"], ascending=False).index[0]
    return rows[rows["machine"] == best]


def step_times(
    df: pd.DataFrame,
    device: str,
    preset: str,
    stage: str,
    variant: str = "ours",
    machine: str | None = None,
) -> pd.DataFrame:
    """Seconds per training step by batch size on `device` ("cpu" or "cuda"), one machine:
    `machine` (a results table's label) or else the one with the most rows."""
    rows = select(
        df, benchmark="training", phase="total", preset=preset, stage=stage, variant=variant
    )
    rows = rows[(rows["rnn"] == "gru") & rows["device"].str.startswith(device)]
    rows = rows[rows["machine"] == machine] if machine is not None else _one_machine(rows)
    return rows.sort_values("batch_size").reset_index(drop=True)


def describe_gpu_run(df: pd.DataFrame) -> dict[str, str | int]:
    """The GPU run's machine and date from its rows: device, host CPU, its cores and the torch
    threads the run used, torch, day, run id and machine label."""
    cuda = df[df["device"].astype(str).str.startswith("cuda")]
    if cuda.empty:
        raise MetricError("describe_gpu_run: the table has no CUDA rows")
    first = cuda.sort_values("timestamp").iloc[0]
    return {
        "device": str(first["cuda_device"]),
        "cpu": str(first["cpu"]),
        "cores": int(first["logical_cores"]),
        "threads": int(first["torch_threads"]),
        "torch": str(first["torch_version"]),
        "date": str(first["timestamp"])[:10],
        "run_id": str(first["run_id"]),
        "machine": str(first["machine"]),
    }


def cpu_gpu_table(
    df: pd.DataFrame,
    preset: str,
    stage: str,
    variant: str = "ours",
    cpu_machine: str | None = None,
) -> pd.DataFrame:
    """CPU and GPU seconds per step side by side by batch size, and the speed-up (CPU / GPU);
    empty where a device did not measure that batch size. The CPU rows are `cpu_machine`'s (the
    GPU box's own host CPU, say), else those of the machine with the most CPU rows."""
    cpu = step_times(df, "cpu", preset, stage, variant, cpu_machine).set_index("batch_size")
    gpu = step_times(df, "cuda", preset, stage, variant).set_index("batch_size")
    table = pd.DataFrame({"cpu_s": cpu["median"], "gpu_s": gpu["median"]}).sort_index()
    table["speed_up"] = table["cpu_s"] / table["gpu_s"]
    # the speed-up's spread from the repeats' quartiles: slowest CPU against fastest GPU and back
    table["speed_up_q1"] = cpu["q1"] / gpu["q3"]
    table["speed_up_q3"] = cpu["q3"] / gpu["q1"]
    table.index = table.index.astype(int)
    return table.rename_axis("batch_size")


def speed_up_row(table: pd.DataFrame, batch_size: int) -> dict[str, float | bool]:
    """A `stats.compare`-shaped row for the claim "the GPU is faster" at `batch_size`: the log
    speed-up and, as its interval, the logs of the repeats' quartile speed-ups (ci_level 0.5);
    it differs when that interval excludes no speed-up. NaN where a device did not measure."""
    if batch_size not in table.index:
        nan = float("nan")
        return {"effect": nan, "ci_low": nan, "ci_high": nan, "differs": False, "ci_level": 0.5}
    row = table.loc[batch_size]
    low, high = float(np.log(row["speed_up_q1"])), float(np.log(row["speed_up_q3"]))
    differs = bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))
    effect = float(np.log(row["speed_up"]))
    return {"effect": effect, "ci_low": low, "ci_high": high, "differs": differs, "ci_level": 0.5}


def gpu_pays_from(table: pd.DataFrame) -> int | None:
    """The smallest batch size from which the GPU is faster at it and at every larger batch both
    devices measured; None when no batch size has both, or the GPU is never faster there."""
    both = table.dropna(subset=["speed_up"]).sort_index()
    if both.empty:
        return None
    faster = (both["speed_up"] > 1).to_numpy()
    for i in range(len(both)):
        if faster[i:].all():
            return int(both.index[i])
    return None


def out_of_memory(df: pd.DataFrame) -> pd.DataFrame:
    """Where the GPU ran out of memory: stage, preset, variant, the batch that did not fit, and
    the largest batch that did (with its peak memory in GB where measured)."""
    oom = select(df, benchmark="oom")
    out = []
    for _, row in oom.iterrows():
        key = dict(stage=row["stage"], preset=row["preset"], variant=row["variant"])
        fit = select(df, benchmark="training", phase="total", device=row["device"], **key)
        fit = fit[fit["batch_size"] < row["batch_size"]]
        largest = int(fit["batch_size"].max()) if len(fit) else None
        mem = select(df, benchmark="memory", batch_size=largest, **key) if largest else fit[:0]
        gb = float(mem["median"].iloc[-1]) / 1e9 if len(mem) else np.nan
        out.append(dict(key, out_of_memory_at=int(row["batch_size"]), largest_fit=largest, gb=gb))
    cols = ["stage", "preset", "variant", "out_of_memory_at", "largest_fit", "gb"]
    return pd.DataFrame(out, columns=cols)


def flop_shares(df: pd.DataFrame, device: str = "cuda") -> pd.DataFrame:
    """Achieved FLOP/s of the training steps over the device's matmul peak of the same dtype,
    measured in the same run: one row per stage, preset, variant at its largest batch. A float32
    step is set against the TF32 peak where the run measured one: cuDNN's RNNs use TF32 by default."""
    peaks = select(df, benchmark="matmul_peak")
    peaks = peaks[peaks["device"].str.startswith(device)]
    got = select(df, benchmark="flops", unit="FLOP/s")
    got = got[got["device"].str.startswith(device)]
    out = []
    for (stage, preset, variant), rows in got.groupby(["stage", "preset", "variant"]):
        top = rows[rows["batch_size"] == rows["batch_size"].max()].iloc[-1]
        same_run = peaks[peaks["run_id"] == top["run_id"]]
        dtype = "bf16" if variant.endswith("bf16") else "fp32"
        if dtype == "fp32" and (same_run["variant"] == "tf32").any():
            dtype = "tf32"
        peak = same_run[same_run["variant"] == dtype]
        if peak.empty:
            continue
        p = float(peak["median"].iloc[-1])
        out.append(
            dict(
                stage=stage,
                preset=preset,
                variant=variant,
                batch_size=int(top["batch_size"]),
                tflops=float(top["median"]) / 1e12,
                peak_tflops=p / 1e12,
                peak_dtype=dtype,
                share=float(top["median"]) / p,
            )
        )
    cols = [
        "stage",
        "preset",
        "variant",
        "batch_size",
        "tflops",
        "peak_tflops",
        "peak_dtype",
        "share",
    ]
    return pd.DataFrame(out, columns=cols)


def seed_comparison(
    df: pd.DataFrame | None, stages: tuple[str, ...], cpu_machine: str | None = None
) -> pd.DataFrame:
    """The student's figures at batch 256 beside ours (paper sizes, fp32), ms per training step;
    our cells are empty where nothing was measured. `cpu_machine` as in `cpu_gpu_table`."""
    bs = int(SEED_FIGURES["batch_size"])
    rows = [
        dict(who="seed (student, original code)", stage="one iteration", cpu_ms=SEED_FIGURES["cpu_ms"],
             gpu_ms=SEED_FIGURES["gpu_ms"])
    ]  # fmt: skip
    for stage in stages:
        table = (
            cpu_gpu_table(df, "paper", stage, cpu_machine=cpu_machine)
            if df is not None
            else pd.DataFrame()
        )
        cell = table.loc[bs] if bs in table.index else pd.Series(dtype=float)
        rows.append(
            dict(
                who="this book (paper sizes)",
                stage=stage,
                cpu_ms=1e3 * cell.get("cpu_s", np.nan),
                gpu_ms=1e3 * cell.get("gpu_s", np.nan),
            )
        )
    out = pd.DataFrame(rows)
    out["speed_up"] = out["cpu_ms"] / out["gpu_ms"]
    return out
