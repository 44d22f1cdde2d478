"""FLOP counts, a matrix-product roofline, and torch.profiler tables of one step."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from d2mlib.timing.measure import measure, sync_for
from d2mlib.timing.results import machine_info, make_row, new_run_id, results_frame

# Generic measurements: FLOPs, matmul peak, the profiler table


def rnn_flops(input_shape: Sequence[int], weight_shapes: Sequence[Any], *_: Any, **__: Any) -> int:
    """Forward FLOPs of a fused (cuDNN) GRU/LSTM call: 2 x tokens x the sum of its weight matrices.

    Every 2-d weight (gates x inputs, input-to-hidden and hidden-to-hidden, each layer and
    direction) multiplies every token (time step x batch row) once; biases are not counted.
    """
    tokens = math.prod(int(d) for d in input_shape[:-1])
    size = sum(int(w[0]) * int(w[1]) for w in weight_shapes if w is not None and len(w) == 2)
    return 2 * tokens * size


def rnn_backward_flops(
    input_shape: Sequence[int], weight_shapes: Sequence[Any], *_: Any, **__: Any
) -> int:
    """Backward FLOPs of a fused GRU/LSTM call: twice the forward (data and weight gradients)."""
    return 2 * rnn_flops(input_shape, weight_shapes)


def _fused_rnn_mapping() -> dict[Any, Any]:
    """FLOP formulas for the fused RNN kernels torch's FlopCounterMode does not count (cuDNN's)."""
    aten = torch.ops.aten
    pairs = (("_cudnn_rnn", rnn_flops), ("_cudnn_rnn_backward", rnn_backward_flops))
    return {getattr(aten, name): f for name, f in pairs if hasattr(aten, name)}


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of `fn` (forward and backward matmuls, convolutions, RNN cells, on the
    CPU's recurrence and in cuDNN's fused GRU/LSTM kernels alike)."""

    with FlopCounterMode(display=False, custom_mapping=_fused_rnn_mapping()) as counter:
        fn()
    return int(counter.get_total_flops())


def bench_matmul(
    size: int = 2048,
    dtypes: Sequence[str] = ("float32", "bfloat16"),
    device: str = "cpu",
    warmup: int = 2,
    repeats: int = 5,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """The machine's measured matmul FLOP/s: a (size x size) @ (size x size) torch.mm per dtype.

    "tf32" is float32 with TensorFloat-32 matrix products allowed (as cuDNN's RNNs use them by
    default on CUDA); "float32" is measured with them off."""

    info = info or machine_info()
    run_id = run_id or new_run_id()
    rows = []
    gen = torch.Generator().manual_seed(0)
    before = torch.get_float32_matmul_precision()
    for name in dtypes:
        dtype = torch.float32 if name == "tf32" else getattr(torch, name)
        a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        flop = 2.0 * size**3
        torch.set_float32_matmul_precision("high" if name == "tf32" else "highest")
        try:
            m = measure(lambda a=a, b=b: torch.mm(a, b), warmup, repeats, sync=sync_for(device))
        finally:
            torch.set_float32_matmul_precision(before)
        variant = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(name, name)
        rows.append(
            make_row(
                info,
                run_id,
                "matmul_peak",
                "FLOP/s",
                m.map(lambda s, f=flop: f / s),
                device=device,
                variant=variant,
                batch_size=size,
            )
        )
    return results_frame(rows)


def profile_step(
    step: Callable[[], Any],
    warmup: int = 1,
    device: str = "cpu",
    row_limit: int | None = 25,
) -> pd.DataFrame:
    """torch.profiler's breakdown of one call of `step`, as a DataFrame sorted by self time.

    Columns: op, calls, self_ms, total_ms (CPU; plus self_device_ms on CUDA) and share (of the
    summed self time); times are milliseconds.
    """

    for _ in range(warmup):
        step()
    activities = [ProfilerActivity.CPU]
    cuda = str(device).startswith("cuda")
    if cuda:
        activities.append(ProfilerActivity.CUDA)
    sync = sync_for(device)
    with profile(activities=activities) as prof:
        step()
        if sync is not None:
            sync()
    records = []
    for ev in prof.key_averages():
        rec = {
            "op": ev.key,
            "calls": int(ev.count),
            "self_ms": ev.self_cpu_time_total / 1e3,
            "total_ms": ev.cpu_time_total / 1e3,
        }
        if cuda:
            rec["self_device_ms"] = ev.self_device_time_total / 1e3
        records.append(rec)
    df = pd.DataFrame(records)
    if df.empty:
        return pd.DataFrame(columns=["op", "calls", "self_ms", "total_ms", "share"])
    key = "self_device_ms" if cuda else "self_ms"
    total = df[key].sum()
    df["share"] = df[key] / total if total > 0 else 0.0
    df = df.sort_values(key, ascending=False).reset_index(drop=True)
    return df.head(row_limit) if row_limit else df
