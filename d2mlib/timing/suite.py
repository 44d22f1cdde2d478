"""The timing suites (`smoke`, `book`, `paper`): which benchmarks run, and `d2m bench` (`main`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from d2mlib.config import STAGES
from d2mlib.data.layout import default_data_dir
from d2mlib.data.writer import ensure_dataset
from d2mlib.errors import ConfigError
from d2mlib.timing.analysis import targets
from d2mlib.timing.inference import INFERENCE_LENGTHS, bench_inference
from d2mlib.timing.loading import bench_audio, bench_loading
from d2mlib.timing.loop import bench_data_wait, bench_loop_overhead
from d2mlib.timing.profile import bench_matmul
from d2mlib.timing.results import (
    DEFAULT_OUT,
    append_results,
    machine_info,
    new_run_id,
    results_frame,
)
from d2mlib.timing.training import POWERS_OF_TWO, bench_naive_decomp, bench_rnn, bench_training

# Suites and the command line


@dataclass(frozen=True)
class SuitePlan:
    """What a suite measures and how often."""

    name: str
    data_preset: str  # synthetic dataset the loading benchmarks read when no data_dir is given
    train_preset: str  # the scaled-down preset timed over every batch size
    train_batch_sizes: tuple[int, ...]
    paper_preset: str  # the paper-size preset (training, FLOPs, naive decomposition, inference)
    paper_batch_sizes: tuple[int, ...]
    compare_batch: int  # batch of the naive-vs-ours decomposition and the FLOP counts
    loader_batch: int
    loader_workers: tuple[int, ...]
    loader_batches: int
    inference_lengths: tuple[float, ...]
    audio_lengths: tuple[float, ...]
    loop_steps: int
    matmul_size: int
    warmup: int
    repeats: int


SUITES: dict[str, SuitePlan] = {
    "quick": SuitePlan(
        name="quick",
        data_preset="smoke",
        train_preset="smoke",
        train_batch_sizes=(1, 8),
        paper_preset="smoke",
        paper_batch_sizes=(8,),
        compare_batch=8,
        loader_batch=8,
        loader_workers=(0,),
        loader_batches=3,
        inference_lengths=(10.0,),
        audio_lengths=(2.0,),
        loop_steps=4,
        matmul_size=256,
        warmup=1,
        repeats=2,
    ),
    "default": SuitePlan(
        name="default",
        data_preset="book",
        train_preset="book",
        train_batch_sizes=POWERS_OF_TWO,
        paper_preset="paper",
        paper_batch_sizes=(1, 16, 64),
        compare_batch=64,
        loader_batch=64,
        loader_workers=(0, 1, 2),
        loader_batches=10,
        inference_lengths=INFERENCE_LENGTHS,
        audio_lengths=(10.0, 60.0, 300.0),
        loop_steps=20,
        matmul_size=2048,
        warmup=1,
        repeats=3,
    ),
    "full": SuitePlan(
        name="full",
        data_preset="book",
        train_preset="book",
        train_batch_sizes=POWERS_OF_TWO,
        paper_preset="paper",
        paper_batch_sizes=POWERS_OF_TWO,
        compare_batch=64,
        loader_batch=64,
        loader_workers=(0, 1, 2),
        loader_batches=30,
        inference_lengths=(10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0),
        audio_lengths=(10.0, 30.0, 60.0, 300.0),
        loop_steps=50,
        matmul_size=4096,
        warmup=2,
        repeats=7,
    ),
}


def resolve_devices(device: str = "auto") -> list[str]:
    """Devices to time: "auto" -> CPU and, when present, CUDA; "cpu"; "cuda" (ConfigError if absent)."""

    if device == "auto":
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    if device == "cpu":
        return ["cpu"]
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' asked for, but torch sees no CUDA device")
        return [device]
    raise ConfigError(f"device must be auto, cpu or cuda, got {device!r}")


def _paper_sizes(plan: SuitePlan, stage: str) -> tuple[int, ...]:
    """Paper-size batch sizes of a stage; the decomposition's compare_batch is timed in the
    side-by-side comparison with the original's structure instead."""
    if stage != "decomp":
        return plan.paper_batch_sizes
    return tuple(b for b in plan.paper_batch_sizes if b != plan.compare_batch)


def suite_tasks(
    plan: SuitePlan,
    devices: Sequence[str],
    data_dir: Path,
    info: Mapping[str, Any],
    run_id: str,
    note: Callable[[str], None] | None = None,
) -> list[tuple[str, Callable[[], pd.DataFrame]]]:
    """The (label, thunk) list a suite runs, each thunk returning tidy rows; `note` hears
    which training configuration is being timed.

    Long because it is the suite's task list, one entry per benchmark, read top to bottom.
    """
    w, r = plan.warmup, plan.repeats
    common = dict(info=info, run_id=run_id)
    tasks: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("audio features", lambda: bench_audio(plan.audio_lengths, w, r, **common)),
        (
            "data loading",
            lambda: bench_loading(
                data_dir,
                plan.loader_batch,
                plan.loader_workers,
                n_batches=plan.loader_batches,
                **common,
            ),
        ),
        (
            "data wait",
            lambda: bench_data_wait(
                data_dir,
                STAGES,
                plan.train_preset,
                plan.loader_batch,
                steps=max(plan.loader_batches, 3),
                **common,
            ),
        ),
    ]
    for dev in devices:
        tasks += [
            (
                f"matmul peak [{dev}]",
                lambda dev=dev: bench_matmul(plan.matmul_size, device=dev, **common),
            ),
        ]
        for stage in STAGES:
            tasks.append(
                (
                    f"training {stage} {plan.train_preset} [{dev}]",
                    lambda stage=stage, dev=dev: bench_training(
                        (stage,),
                        plan.train_preset,
                        plan.train_batch_sizes,
                        dev,
                        warmup=w,
                        repeats=r,
                        progress=note,
                        **common,
                    ),
                )
            )
        for stage in STAGES:
            tasks.append(
                (
                    f"training {stage} {plan.paper_preset} [{dev}]",
                    lambda stage=stage, dev=dev: bench_training(
                        (stage,),
                        plan.paper_preset,
                        _paper_sizes(plan, stage),
                        dev,
                        flops=stage != "style",
                        warmup=w,
                        repeats=r,
                        progress=note,
                        **common,
                    ),
                )
            )
        tasks += [
            (
                f"decomposition, original structure [{dev}]",
                lambda dev=dev: bench_naive_decomp(
                    plan.paper_preset,
                    plan.compare_batch,
                    dev,
                    warmup=w,
                    repeats=r,
                    **common,
                ),
            ),
            (
                f"GRU vs LSTM [{dev}]",
                lambda dev=dev: bench_rnn(
                    STAGES, plan.train_preset, plan.loader_batch, dev, w, r, **common
                ),
            ),
            (
                f"loop overhead [{dev}]",
                lambda dev=dev: bench_loop_overhead(
                    "decomp",
                    plan.train_preset,
                    plan.loader_batch,
                    plan.loop_steps,
                    r,
                    dev,
                    **common,
                ),
            ),
            (
                f"inference [{dev}]",
                lambda dev=dev: bench_inference(
                    plan.inference_lengths, plan.paper_preset, dev, warmup=w, repeats=r, **common
                ),
            ),
        ]
    return tasks


def run_suite(
    name: str = "default",
    out: str | Path | None = DEFAULT_OUT,
    device: str = "auto",
    label: str | None = None,
    data_dir: str | Path | None = None,
    progress: bool = True,
    only: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run a suite ("quick", "default", "full"), appending each benchmark's rows to `out` as it ends.

    `data_dir` defaults to the synthetic dataset of the suite's data preset (written if
    missing). `only` keeps the tasks whose label contains one of the given words. Returns this
    run's rows.
    """

    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; expected one of {tuple(SUITES)}")
    plan = SUITES[name]
    devices = resolve_devices(device)
    if data_dir is None:
        data_dir = ensure_dataset(
            default_data_dir(plan.data_preset), plan.data_preset, progress=progress
        )
    info = machine_info(label)
    run_id = new_run_id()
    holder: dict[str, Any] = {}

    def note(text: str) -> None:
        if "bar" in holder:
            holder["bar"].set_postfix_str(text)

    tasks = suite_tasks(plan, devices, Path(data_dir), info, run_id, note)
    if only:
        tasks = [t for t in tasks if any(word in t[0] for word in only)]
    frames = []
    bar = tqdm(tasks, desc=f"bench {name}", unit="bench", disable=not progress, leave=True)
    holder["bar"] = bar
    for label_, thunk in bar:
        bar.set_postfix_str(label_)
        df = thunk()
        frames.append(df)
        if out is not None:
            append_results(df, out)
    bar.close()
    return pd.concat(frames, ignore_index=True) if frames else results_frame([])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m d2mlib.timing` / `d2m bench`: run a suite and append to the results CSV."""

    parser = argparse.ArgumentParser(
        prog="d2m bench",
        description="Time training, data loading, inference and audio features; append the "
        "results (one row per measurement) to a CSV that several machines can share.",
    )
    parser.add_argument("--suite", choices=tuple(SUITES), default="default")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="results CSV (appended to)")
    parser.add_argument(
        "--device", default="auto", help="auto (CPU, and CUDA if present), cpu, cuda"
    )
    parser.add_argument(
        "--label",
        default=None,
        help="machine label (default: $D2M_MACHINE or a hash of the hostname)",
    )
    parser.add_argument("--data", default=None, help="dataset folder for the loading benchmarks")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="run only benchmarks whose label contains one of these words",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    df = run_suite(
        args.suite,
        args.out,
        args.device,
        args.label,
        args.data,
        progress=not args.no_progress,
        only=args.only,
    )
    table = targets(df)
    print(f"{len(df)} measurements appended to {args.out}")
    if len(table):
        with pd.option_context("display.width", 140, "display.max_colwidth", 80):
            print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
