"""The GPU timing run (`python -m d2mlib.timing.gpu`, `make bench-gpu`, `tools/gpu_bench.sh`).

One run on one device, within a time budget, writing the tidy rows of `results.SCHEMA` as it
goes (each task's rows appended atomically, so a killed run keeps what it measured):

- the device's matmul peak (fp32, bf16), measured first, in the same run as the steps;
- training steps of every stage by batch size (1 to 512), paper and book sizes, fp32 and bf16,
  with the FLOPs of each step (cuDNN's fused GRU/LSTM included) and its achieved FLOP/s, and
  on CUDA the peak memory of a step (benchmark "memory", unit "bytes");
- GRU against LSTM; composing a dance for 10 s to 5 min of (synthetic) music; the share of a
  step spent waiting for the feature store's loader;
- last, each configuration's batch doubled beyond 512 until the device runs out of memory:
  the batch that did not fit is a row of benchmark "oom" (unit "batch_size").

What is skipped, and why (a precision the config does not allow for a stage, the time budget,
no dataset), goes to `notes.csv` beside the rows; `machine.json` describes the machine. With
`--dry-run` the same code paths run on the CPU at the smoke sizes in seconds (the test does).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from d2mlib._io import write_text
from d2mlib.config import STAGES
from d2mlib.errors import ConfigError
from d2mlib.stages import fake_batch
from d2mlib.timing.inference import bench_inference
from d2mlib.timing.loop import bench_data_wait
from d2mlib.timing.measure import Measurement, measure_phases, sync_for
from d2mlib.timing.profile import bench_matmul, count_flops
from d2mlib.timing.results import append_results, machine_info, make_row, new_run_id, results_frame
from d2mlib.timing.training import POWERS_OF_TWO, _stepper, bench_rnn, timed_config, timed_stage

RESULTS_NAME = "timing-gpu.csv"
NOTES_NAME = "notes.csv"
MACHINE_NAME = "machine.json"


@dataclass(frozen=True)
class GpuPlan:
    """What the GPU run measures, how often, and within what time."""

    name: str
    presets: tuple[str, ...]  # model sizes of the training sweeps
    batch_sizes: tuple[int, ...]  # the sweep; then doubled beyond its end up to max_batch
    max_batch: int  # the doubling's cap (a safety stop; the device's memory ends it first)
    precisions: tuple[str, ...]
    rnn_batches: tuple[int, ...]  # batch sizes of GRU against LSTM
    inference_preset: str
    inference_lengths: tuple[float, ...]
    wait_preset: str  # model sizes of the data-wait steps
    wait_batch: int
    wait_steps: int
    matmul_size: int
    warmup: int
    repeats: int
    item_budget_s: float  # one measurement stops repeating past this (after 3 repeats)
    max_step_s: float  # a configuration stops growing once one of its steps takes this long
    budget_s: float  # the whole run; tasks that would start past it are skipped with a note
    host_presets: tuple[str, ...] = ()  # with time left: the same sweep on the host's CPU
    host_batch_sizes: tuple[int, ...] = ()  # the host CPU's batch sizes; () = batch_sizes


GPU_PLANS: dict[str, GpuPlan] = {
    "gpu": GpuPlan(
        name="gpu",
        presets=("paper", "book"),
        batch_sizes=POWERS_OF_TWO,
        max_batch=2**17,
        precisions=("fp32", "bf16"),
        rnn_batches=(64, 256),
        inference_preset="paper",
        inference_lengths=(10.0, 30.0, 60.0, 300.0),
        wait_preset="book",
        wait_batch=64,
        wait_steps=20,
        matmul_size=8192,
        warmup=2,
        repeats=5,
        item_budget_s=2.0,
        max_step_s=6.0,
        budget_s=330.0,
        host_presets=("paper", "book"),
        host_batch_sizes=(1, 8, 64, 256),
    ),
    "dry": GpuPlan(
        name="dry",
        presets=("smoke",),
        batch_sizes=(1, 2),
        max_batch=8,
        precisions=("fp32", "bf16"),
        rnn_batches=(2,),
        inference_preset="smoke",
        inference_lengths=(2.0, 4.0),
        wait_preset="smoke",
        wait_batch=4,
        wait_steps=2,
        matmul_size=64,
        warmup=1,
        repeats=2,
        item_budget_s=0.5,
        max_step_s=5.0,
        budget_s=120.0,
    ),
}


class Recorder:
    """Rows and notes of one run, written to `out` after every task; the run's clock and deadline."""

    def __init__(
        self,
        out: Path | None,
        budget_s: float,
        info: Mapping[str, Any],
        device: str = "cpu",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out, self.info, self.device, self.clock = out, dict(info), device, clock
        self.run_id = new_run_id()
        self.out_of_memory: set[tuple[str, ...]] = set()  # (device, stage, preset, precision)
        self.deadline = clock() + budget_s
        self.frames: list[pd.DataFrame] = []
        self.notes: list[dict[str, str]] = []
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - self.clock()

    def rows(self, df: pd.DataFrame) -> None:
        """Keep `df` and append it to the results file."""
        self.frames.append(df)
        if self.out is not None and len(df):
            append_results(df, self.out / RESULTS_NAME)

    def note(self, item: str, text: str) -> None:
        """Record why `item` was skipped or stopped, and rewrite the notes file."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self.notes.append({"run_id": self.run_id, "timestamp": stamp, "item": item, "note": text})
        print(f"note: {item}: {text}", flush=True)
        if self.out is not None:
            write_text(self.out / NOTES_NAME, pd.DataFrame(self.notes).to_csv(index=False))

    def table(self) -> pd.DataFrame:
        """Every row of this run."""
        frames = [f for f in self.frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else results_frame([])


def gpu_description(device: str) -> dict[str, Any]:
    """The device beyond `machine_info`: name, memory, capability, CUDA and cuDNN versions."""
    if not str(device).startswith("cuda"):
        return {"device": str(device)}
    props = torch.cuda.get_device_properties(device)
    return {
        "device": str(device),
        "name": props.name,
        "total_memory_bytes": int(props.total_memory),
        "multiprocessors": int(props.multi_processor_count),
        "capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }


def precision_applies(stage: str, preset: str, precision: str) -> bool:
    """Whether the config trains `stage` at `precision` (today bf16 covers style and decomp only)."""
    return timed_config(preset, "gru", precision).train_for(stage).precision == precision


def _free(device: str) -> None:
    """Release what a failed or finished configuration left on the device."""
    gc.collect()
    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()


def _step_rows(
    rec: Recorder, stage_obj: Any, key: dict[str, Any], plan: GpuPlan, warmup: int, repeats: int
) -> tuple[list[dict[str, Any]], float]:
    """Rows of one (configuration, batch size): phases, FLOPs, FLOP/s and, on CUDA, peak memory;
    and the step's median seconds. OutOfMemoryError propagates to the caller."""
    device, bs = key["device"], key["batch_size"]
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    step = _stepper(stage_obj, fake_batch(key["stage"], stage_obj.cfg, bs, device))
    n_flop = count_flops(step)  # doubles as the first warm-up call
    phases = measure_phases(
        step, max(warmup - 1, 0), repeats, sync=sync_for(device), budget_s=plan.item_budget_s
    )
    info, run_id = rec.info, rec.run_id
    rows = [make_row(info, run_id, "training", "s", m, phase=p, **key) for p, m in phases.items()]
    count = Measurement((n_flop,))
    rows.append(make_row(info, run_id, "flops", "FLOP", count, phase="total", **key))
    achieved = phases["total"].map(lambda s: n_flop / s)
    rows.append(make_row(info, run_id, "flops", "FLOP/s", achieved, phase="total", **key))
    if cuda:
        peak = Measurement((float(torch.cuda.max_memory_allocated(device)),))
        rows.append(make_row(info, run_id, "memory", "bytes", peak, phase="total", **key))
    return rows, phases["total"].median


def sweep(
    rec: Recorder,
    plan: GpuPlan,
    device: str,
    stage: str,
    preset: str,
    precision: str,
    batch_sizes: Sequence[int],
    grow: bool = False,
) -> None:
    """Time a training configuration over `batch_sizes` (with `grow`: doubling on until memory
    runs out, a step takes `plan.max_step_s`, `plan.max_batch` or the deadline), rows as it goes.

    Long because the stop rules (memory, step time, deadline, cap) each record their own note.
    """
    item = f"training {stage} {preset} {precision} [{device}]" + (" beyond" if grow else "")
    if not precision_applies(stage, preset, precision):
        rec.note(item, f"skipped: the config trains the {stage} stage in fp32 only")
        return
    if (device, stage, preset, precision) in rec.out_of_memory:
        return  # its sweep ran out of memory already; that row is written
    variant = "ours" if precision == "fp32" else f"ours_{precision}"
    obj = timed_stage(stage, preset, "gru", device, precision=precision)
    base = dict(device=device, stage=stage, variant=variant, preset=preset, rnn="gru")
    sizes = list(batch_sizes)
    warmup, repeats = (1, 3) if grow else (plan.warmup, plan.repeats)
    last_s = 0.0
    while sizes:
        bs = sizes.pop(0)
        guess = 2 * last_s * (warmup + 1) + max(plan.item_budget_s, 2 * last_s * 3)
        if rec.left() < (guess if last_s else 1.0):
            rec.note(item, f"stopped before batch {bs}: the time budget is spent")
            break
        try:
            rows, last_s = _step_rows(rec, obj, dict(base, batch_size=bs), plan, warmup, repeats)
        except torch.OutOfMemoryError:
            at = Measurement((bs,))
            oom = make_row(rec.info, rec.run_id, "oom", "batch_size", at, batch_size=bs, **base)
            rec.rows(results_frame([dict(oom, phase="total")]))
            rec.out_of_memory.add((device, stage, preset, precision))
            rec.note(item, f"out of memory at batch {bs}")
            break
        finally:
            _free(device)
        rec.rows(results_frame(rows))
        if not grow and sizes and last_s >= plan.max_step_s:
            rec.note(item, f"stopped after batch {bs}: a step took {last_s:.1f} s")
            break
        if grow and not sizes:
            if last_s >= plan.max_step_s:
                rec.note(item, f"stopped after batch {bs}: a step took {last_s:.1f} s")
            elif 2 * bs > plan.max_batch:
                rec.note(item, f"stopped after batch {bs}: the cap of {plan.max_batch} is reached")
            else:
                sizes.append(2 * bs)
    del obj
    _free(device)


def _guarded(rec: Recorder, label: str, thunk: Callable[[], pd.DataFrame | None]) -> None:
    """Run one task unless the deadline has passed; its rows are recorded; a failure is a note."""
    if rec.left() <= 0:
        rec.note(label, "skipped: the time budget is spent")
        return
    started = rec.clock()
    try:
        df = thunk()
    except torch.OutOfMemoryError:
        rec.note(label, "out of memory")
        df = None
    except Exception as exc:  # one broken task must not cost the rows of the others
        rec.note(label, f"failed: {type(exc).__name__}: {exc}")
        df = None
    finally:
        _free(rec.device)
    if df is not None:
        rec.rows(df)
    print(f"done: {label} ({rec.clock() - started:.1f} s, {rec.left():.0f} s left)", flush=True)


def peak_dtypes(device: str) -> tuple[str, ...]:
    """The matmul peaks a run measures: on CUDA TF32 too, the fp32 RNN steps' own ceiling."""
    cuda = str(device).startswith("cuda")
    return ("float32", "tf32", "bfloat16") if cuda else ("float32", "bfloat16")


def gpu_tasks(
    rec: Recorder, plan: GpuPlan, device: str, data_dir: Path | None
) -> list[tuple[str, Callable[[], pd.DataFrame | None]]]:
    """The run's (label, thunk) list in priority order: peak, sweeps, GRU/LSTM, inference,
    data wait, the host CPU's sweeps (a CPU against GPU comparison on one machine), then the
    growth of every configuration until memory runs out.

    Long because it is the run's task list, one entry per benchmark, read top to bottom.
    """
    common = dict(info=rec.info, run_id=rec.run_id)
    w, r = plan.warmup, plan.repeats
    configs = [(p, q, s) for q in plan.precisions for p in plan.presets for s in STAGES]
    tasks: list[tuple[str, Callable[[], pd.DataFrame | None]]] = [
        (
            "matmul peak",
            lambda: bench_matmul(plan.matmul_size, peak_dtypes(device), device, **common),
        ),
    ]
    for preset, precision, stage in configs:
        label = f"training {stage} {preset} {precision}"
        tasks.append(
            (
                label,
                lambda s=stage, p=preset, q=precision: sweep(
                    rec, plan, device, s, p, q, plan.batch_sizes
                ),
            )
        )
    for preset in plan.presets:
        for bs in plan.rnn_batches:
            tasks.append(
                (
                    f"GRU vs LSTM {preset} b={bs}",
                    lambda p=preset, b=bs: bench_rnn(STAGES, p, b, device, w, r, **common),
                )
            )
    tasks.append(
        (
            "inference",
            lambda: bench_inference(
                plan.inference_lengths, plan.inference_preset, device, warmup=1, repeats=r, **common
            ),
        )
    )
    tasks.append(("data wait", lambda: _data_wait(rec, plan, device, data_dir)))
    host_sizes = plan.host_batch_sizes or plan.batch_sizes
    host = [(p, s) for p in plan.host_presets for s in STAGES] if device != "cpu" else []
    for preset, stage in host:
        tasks.append(
            (
                f"training {stage} {preset} fp32 [cpu]",
                lambda s=stage, p=preset: sweep(rec, plan, "cpu", s, p, "fp32", host_sizes),
            )
        )
    top = plan.batch_sizes[-1]
    for preset, precision, stage in configs:
        tasks.append(
            (
                f"training {stage} {preset} {precision} beyond {top}",
                lambda s=stage, p=preset, q=precision: sweep(
                    rec, plan, device, s, p, q, (2 * top,), grow=True
                ),
            )
        )
    return tasks


def _data_wait(rec: Recorder, plan: GpuPlan, device: str, data_dir: Path | None) -> Any:
    """The data-wait rows, or a note when there is no dataset to read."""
    if data_dir is None or not Path(data_dir).exists():
        rec.note("data wait", f"skipped: no dataset at {data_dir} (pass --data)")
        return None
    return bench_data_wait(
        data_dir,
        STAGES,
        plan.wait_preset,
        plan.wait_batch,
        steps=plan.wait_steps,
        device=device,
        info=rec.info,
        run_id=rec.run_id,
    )


def run_gpu(
    out: str | Path | None,
    plan: GpuPlan | str = "gpu",
    device: str = "cuda",
    data_dir: str | Path | None = None,
    label: str | None = None,
    budget_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Recorder:
    """Run the GPU plan on `device`, writing rows, notes and the machine's description to `out`."""
    plan = GPU_PLANS[plan] if isinstance(plan, str) else plan
    if budget_s is not None:
        plan = dataclasses.replace(plan, budget_s=float(budget_s))
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but torch sees no CUDA device")
    info = machine_info(label)
    out_dir = Path(out) if out is not None else None
    rec = Recorder(out_dir, plan.budget_s, info, device, clock)
    if out_dir is not None:
        desc = {**info, "run_id": rec.run_id, "plan": dataclasses.asdict(plan)}
        desc["gpu"] = gpu_description(device)
        write_text(out_dir / MACHINE_NAME, json.dumps(desc, indent=2, default=str) + "\n")
    data = Path(data_dir) if data_dir is not None else None
    for label_, thunk in gpu_tasks(rec, plan, device, data):
        _guarded(rec, label_, thunk)
    return rec


def summary(rec: Recorder) -> str:
    """A few lines for the log: rows by benchmark, the OOM batches, the notes."""
    df = rec.table()
    lines = [f"{len(df)} rows, {len(rec.notes)} notes, {rec.left():.0f} s of budget left"]
    if len(df):
        lines.append(df.groupby("benchmark").size().to_string())
        oom = df[df["benchmark"] == "oom"]
        for _, row in oom.iterrows():
            what = f"{row['stage']} {row['preset']} {row['variant']}"
            lines.append(f"out of memory: {what} at batch {row['batch_size']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m d2mlib.timing.gpu --out DIR [--dry-run]`: the GPU timing run."""
    parser = argparse.ArgumentParser(prog="python -m d2mlib.timing.gpu", description=__doc__)
    parser.add_argument("--out", required=True, help=f"folder for {RESULTS_NAME} and the notes")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --dry-run)")
    parser.add_argument("--plan", choices=tuple(GPU_PLANS), default=None)
    parser.add_argument("--dry-run", action="store_true", help="the dry plan on the CPU")
    parser.add_argument("--data", default=None, help="dataset for the data-wait steps")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole run")
    parser.add_argument("--label", default=None, help="machine label (default: $D2M_MACHINE)")
    args = parser.parse_args(argv)
    device = args.device or ("cpu" if args.dry_run else "cuda")
    plan = args.plan or ("dry" if args.dry_run else "gpu")
    rec = run_gpu(args.out, plan, device, args.data, args.label, args.budget)
    print(summary(rec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
