"""Timing training steps of the three stages: batch sizes, GRU against LSTM, the naive
decomposition step, FLOPs and a profile; untrained stages built from the stage registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from d2mlib.config import STAGES, with_precision, with_rnn
from d2mlib.config import preset as preset_config
from d2mlib.stages import build_stage, fake_batch, spec, untrained_deps
from d2mlib.timing.measure import Measurement, measure_phases, measure_phases_interleaved, sync_for
from d2mlib.timing.profile import bench_matmul, count_flops, profile_step
from d2mlib.timing.results import machine_info, make_row, new_run_id, results_frame

# Training steps of the three stages

POWERS_OF_TWO: tuple[int, ...] = tuple(2**k for k in range(10))  # 1 .. 512


def timed_config(preset: str = "book", rnn: str = "gru", precision: str = "fp32") -> Any:
    """The config preset with every recurrent layer set to `rnn` ("gru" or "lstm") and every
    stage trained at `precision` ("fp32" or "bf16")."""
    return with_precision(with_rnn(preset_config(preset), rnn), precision)


def timed_stage(
    stage: str,
    preset: str = "book",
    rnn: str = "gru",
    device: str = "cpu",
    naive: bool = False,
    precision: str = "fp32",
) -> Any:
    """A fresh (untrained) training stage "style", "decomp" or "comp" at `preset` sizes.

    The composition stage's untrained style extractor and dance unit are drawn from the
    stage's seed, leaving torch's global RNG as it was.
    """
    cfg = timed_config(preset, rnn, precision)
    deps = None
    if spec(stage).needs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train_comp.seed)
            deps = untrained_deps(cfg)
    return build_stage(stage, cfg, device, deps, naive=naive)


def _stepper(stage_obj: Any, batch: Any) -> Callable[[], Any]:
    counter = {"step": 0}

    def step() -> Any:
        counter["step"] += 1
        return stage_obj.training_step(batch, counter["step"])

    return step


def bench_training(
    stages: Sequence[str] = STAGES,
    preset: str = "book",
    batch_sizes: Sequence[int] = POWERS_OF_TWO,
    device: str = "cpu",
    rnn: str = "gru",
    naive: bool = False,
    flops: bool = False,
    warmup: int = 1,
    repeats: int = 5,
    budget_s: float | None = None,
    progress: Callable[[str], None] | None = None,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    benchmark: str = "training",
) -> pd.DataFrame:
    """One training iteration per stage and batch size, split into forward, backward, optimiser.

    With `flops`, the FLOPs of one step are counted during the first warm-up call (so counting
    costs no timed run) and rows of FLOPs per step and achieved FLOP/s are added.
    """
    info = info or machine_info()
    run_id = run_id or new_run_id()
    sync = sync_for(device)
    variant = "naive" if naive else "ours"
    rows = []
    for name in stages:
        obj = timed_stage(name, preset, rnn, device, naive=naive)
        for bs in batch_sizes:
            if progress is not None:
                progress(f"{benchmark} {name} {preset} b={bs} {variant}")
            step = _stepper(obj, fake_batch(name, obj.cfg, bs, device))
            n_flop = None
            if flops:
                n_flop = count_flops(step)  # doubles as the first warm-up call
            phases = measure_phases(
                step, max(warmup - (1 if flops else 0), 0), repeats, sync=sync, budget_s=budget_s
            )
            keys = dict(
                device=device, stage=name, variant=variant, preset=preset, batch_size=bs, rnn=rnn
            )
            for phase, m in phases.items():
                rows.append(make_row(info, run_id, benchmark, "s", m, phase=phase, **keys))
            if n_flop is not None:
                count = Measurement((float(n_flop),))
                rows.append(make_row(info, run_id, "flops", "FLOP", count, phase="total", **keys))
                achieved = phases["total"].map(lambda s, f=n_flop: f / s)
                rows.append(
                    make_row(info, run_id, "flops", "FLOP/s", achieved, phase="total", **keys)
                )
        del obj
    return results_frame(rows)


def bench_naive_decomp(
    preset: str = "paper",
    batch_size: int = 64,
    device: str = "cpu",
    rnn: str = "gru",
    flops: bool = True,
    warmup: int = 1,
    repeats: int = 5,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    bf16: bool = True,
) -> pd.DataFrame:
    """The decomposition step against a straightforward one with the original's structure
    (DecompStage(naive=True), fp32), on the same batch, steps taken in turn (side by side).

    Rows as `bench_training`: benchmark "training", variant "naive", "ours" (fp32) and, with
    `bf16`, "ours_bf16" (ours under bfloat16 autocast); with `flops`, the FLOPs of each (counted
    during its first warm-up call) and its achieved FLOP/s.
    """
    info = info or machine_info()
    run_id = run_id or new_run_id()
    variants = {"ours": "fp32", "naive": "fp32"} | ({"ours_bf16": "bf16"} if bf16 else {})
    objs = {
        v: timed_stage("decomp", preset, rnn, device, naive=v == "naive", precision=p)
        for v, p in variants.items()
    }
    batch = fake_batch("decomp", objs["ours"].cfg, batch_size, device)
    steps = {v: _stepper(o, batch) for v, o in objs.items()}
    n_flop = {v: count_flops(s) for v, s in steps.items()} if flops else {}
    phases = measure_phases_interleaved(
        steps, max(warmup - (1 if flops else 0), 0), repeats, sync=sync_for(device)
    )
    rows = []
    for variant, res in phases.items():
        keys = dict(
            device=device,
            stage="decomp",
            variant=variant,
            preset=preset,
            batch_size=batch_size,
            rnn=rnn,
        )
        for phase, m in res.items():
            rows.append(make_row(info, run_id, "training", "s", m, phase=phase, **keys))
        if variant in n_flop:
            f = n_flop[variant]
            rows.append(
                make_row(
                    info, run_id, "flops", "FLOP", Measurement((float(f),)), phase="total", **keys
                )
            )
            rows.append(
                make_row(
                    info,
                    run_id,
                    "flops",
                    "FLOP/s",
                    res["total"].map(lambda t, f=f: f / t),
                    phase="total",
                    **keys,
                )
            )
    return results_frame(rows)


def bench_rnn(
    stages: Sequence[str] = STAGES,
    preset: str = "book",
    batch_size: int = 64,
    device: str = "cpu",
    warmup: int = 1,
    repeats: int = 5,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """GRU against LSTM at equal hidden size: a training iteration of each stage with each."""
    info = info or machine_info()
    run_id = run_id or new_run_id()
    frames = [
        bench_training(
            stages,
            preset,
            (batch_size,),
            device,
            rnn=rnn,
            warmup=warmup,
            repeats=repeats,
            info=info,
            run_id=run_id,
            benchmark="rnn",
        )
        for rnn in ("gru", "lstm")
    ]
    return pd.concat(frames, ignore_index=True)


def bench_flops(
    stages: Sequence[str] = ("decomp", "comp"),
    preset: str = "paper",
    batch_size: int = 64,
    device: str = "cpu",
    matmul_size: int = 2048,
    warmup: int = 1,
    repeats: int = 3,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """FLOPs of one training step per stage, achieved FLOP/s, and the machine's matmul FLOP/s
    (fp32 and bf16) measured in the same run."""
    info = info or machine_info()
    run_id = run_id or new_run_id()
    common = dict(info=info, run_id=run_id)
    peak = bench_matmul(matmul_size, device=device, **common)
    steps = bench_training(
        stages, preset, (batch_size,), device, flops=True, warmup=warmup, repeats=repeats, **common
    )
    return pd.concat([peak, steps], ignore_index=True)


def profile_training_step(
    stage: str = "decomp",
    preset: str = "book",
    batch_size: int = 64,
    device: str = "cpu",
    rnn: str = "gru",
    row_limit: int | None = 25,
) -> pd.DataFrame:
    """torch.profiler's table of one training step of `stage` (see `profile_step`)."""
    obj = timed_stage(stage, preset, rnn, device)
    step = _stepper(obj, fake_batch(stage, obj.cfg, batch_size, device))
    return profile_step(step, warmup=1, device=device, row_limit=row_limit)
