"""The CPU/GPU timing harness: warm-up, repeated runs, medians and IQRs, a tidy CSV of results.

Every number the timing chapter shows comes from a row of `runs/timing/results.csv`, one row per
measurement, labelled with the machine that measured it (CPU model, threads, torch version, CUDA
device). `make bench` (or `d2m bench`, or `python -m d2mlib.timing`) runs a suite and appends its
rows, so a run on a GPU box adds GPU rows beside the CPU ones instead of replacing them.

The harness (`measure`, `measure_phases`, `Measurement`, `machine_info`, `append_results`) is pure
and takes an injectable clock; the suites (`bench_*`) time the real modules.

The tidy schema (`SCHEMA`): who measured (run_id, timestamp, machine, cpu, logical_cores,
torch_threads, torch_version, cuda_device; load_avg, the 1-minute load average when the row was
made, flags rows measured on a busy machine; device), what (benchmark; stage: the training stage,
or for data loading the loader "unit" / "sequence" / "audio"; variant: "ours" / "naive",
"store" / "naive", a dtype...; preset; phase: total / forward / backward / optimiser;
batch_size; rnn; length_s; workers), and the result (unit, median, q1, q3, n). Columns that do
not apply stay empty. Units: "s" (seconds per step), "samples/s", "s/s" (seconds of compute per
second of audio or dance), "FLOP", "FLOP/s", "fraction".
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import socket
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from d2mlib._io import write_text
from d2mlib.errors import ConfigError, DataError

Clock = Callable[[], float]
Sync = Callable[[], None]

DEFAULT_OUT = Path("runs") / "timing" / "results.csv"

# The tidy schema: one row per measurement. Columns that do not apply to a benchmark stay empty.
STRING_COLUMNS: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "machine",
    "cpu",
    "torch_version",
    "cuda_device",
    "device",
    "benchmark",
    "stage",
    "variant",
    "preset",
    "phase",
    "rnn",
    "unit",
)
INT_COLUMNS: tuple[str, ...] = ("logical_cores", "torch_threads", "batch_size", "workers", "n")
FLOAT_COLUMNS: tuple[str, ...] = ("load_avg", "length_s", "median", "q1", "q3")
SCHEMA: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "machine",
    "cpu",
    "logical_cores",
    "torch_threads",
    "torch_version",
    "cuda_device",
    "load_avg",
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
    "median",
    "q1",
    "q3",
    "n",
)


# --------------------------------------------------------------------------------------------
# Statistics of repeated runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """All timed samples of one benchmark, with their median and interquartile range."""

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        samples = tuple(float(s) for s in self.samples)
        if not samples:
            raise ConfigError("a measurement needs at least one sample")
        object.__setattr__(self, "samples", samples)

    @property
    def n(self) -> int:
        """Number of timed samples."""
        return len(self.samples)

    @property
    def median(self) -> float:
        """Median of the samples."""
        return float(np.median(self.samples))

    @property
    def q1(self) -> float:
        """First quartile (25th percentile, linear interpolation)."""
        return float(np.percentile(self.samples, 25))

    @property
    def q3(self) -> float:
        """Third quartile (75th percentile, linear interpolation)."""
        return float(np.percentile(self.samples, 75))

    @property
    def iqr(self) -> float:
        """Interquartile range q3 - q1."""
        return self.q3 - self.q1

    def map(self, fn: Callable[[float], float]) -> Measurement:
        """Apply `fn` to every sample (e.g. seconds -> samples per second) and re-summarise."""
        return Measurement(tuple(fn(s) for s in self.samples))


def measure(
    fn: Callable[[], Any],
    warmup: int = 1,
    repeats: int = 5,
    clock: Clock = time.perf_counter,
    sync: Sync | None = None,
    budget_s: float | None = None,
    min_repeats: int = 3,
) -> Measurement:
    """Time `fn()` `repeats` times after `warmup` untimed calls; `sync` runs before each clock read.

    With `budget_s`, stop early once at least `min_repeats` samples are in and the timed calls
    have used `budget_s` seconds of `clock`.
    """
    if warmup < 0 or repeats < 1:
        raise ConfigError(f"need warmup >= 0 and repeats >= 1, got {warmup} and {repeats}")
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    spent = 0.0
    for _ in range(repeats):
        if sync is not None:
            sync()
        t0 = clock()
        fn()
        if sync is not None:
            sync()
        dt = clock() - t0
        samples.append(dt)
        spent += dt
        if budget_s is not None and len(samples) >= min_repeats and spent >= budget_s:
            break
    return Measurement(tuple(samples))


class Timer:
    """Accumulates time per named phase; phases may be entered many times (sums per phase)."""

    def __init__(self, clock: Clock = time.perf_counter, sync: Sync | None = None) -> None:
        self.clock = clock
        self.sync = sync
        self.totals: dict[str, float] = defaultdict(float)
        self._open: dict[str, float] = {}

    def reset(self) -> None:
        """Forget every accumulated total."""
        self.totals.clear()
        self._open.clear()

    def start(self, name: str) -> None:
        """Open phase `name` (nested re-entry of an open phase is ignored)."""
        if name in self._open:
            return
        if self.sync is not None:
            self.sync()
        self._open[name] = self.clock()

    def stop(self, name: str) -> None:
        """Close phase `name` and add its duration to the total."""
        if name not in self._open:
            return
        if self.sync is not None:
            self.sync()
        self.totals[name] += self.clock() - self._open.pop(name)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Context manager timing the enclosed block as phase `name`."""
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)


@contextlib.contextmanager
def phase_hooks(timer: Timer) -> Iterator[Timer]:
    """While active, time every autograd backward pass and every optimiser step into `timer`.

    Backward: `torch.autograd.backward` (which `Tensor.backward` calls) is wrapped; optimiser steps:
    torch's global optimiser step pre/post hooks. Both are restored on exit.
    """
    import torch
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    original = torch.autograd.backward

    def timed_backward(*args: Any, **kwargs: Any) -> Any:
        with timer.phase("backward"):
            return original(*args, **kwargs)

    torch.autograd.backward = timed_backward
    pre = register_optimizer_step_pre_hook(lambda opt, args, kwargs: timer.start("optimiser"))
    post = register_optimizer_step_post_hook(lambda opt, args, kwargs: timer.stop("optimiser"))
    try:
        yield timer
    finally:
        torch.autograd.backward = original
        pre.remove()
        post.remove()


PHASES: tuple[str, ...] = ("total", "forward", "backward", "optimiser")


def measure_phases(
    step: Callable[[], Any],
    warmup: int = 1,
    repeats: int = 5,
    clock: Clock = time.perf_counter,
    sync: Sync | None = None,
    budget_s: float | None = None,
    min_repeats: int = 3,
) -> dict[str, Measurement]:
    """Time a training step split into forward, backward and optimiser step.

    `backward` sums the time inside autograd backward calls, `optimiser` the time inside
    optimiser steps, and `forward` is the rest of the step (forward passes, losses, zero_grad,
    gradient clipping), so the three add up to `total` sample by sample.
    """
    return measure_phases_interleaved(
        {"step": step}, warmup, repeats, clock, sync, budget_s, min_repeats
    )["step"]


def measure_phases_interleaved(
    steps: Mapping[str, Callable[[], Any]],
    warmup: int = 1,
    repeats: int = 5,
    clock: Clock = time.perf_counter,
    sync: Sync | None = None,
    budget_s: float | None = None,
    min_repeats: int = 3,
) -> dict[str, dict[str, Measurement]]:
    """`measure_phases` for several steps taken in turn (a, b, a, b, ...), so that a change in the
    machine's load during the run hits each of them alike: a side-by-side comparison."""
    if warmup < 0 or repeats < 1:
        raise ConfigError(f"need warmup >= 0 and repeats >= 1, got {warmup} and {repeats}")
    for _ in range(warmup):
        for step in steps.values():
            step()
    timer = Timer(clock, sync)
    out: dict[str, dict[str, list[float]]] = {k: {p: [] for p in PHASES} for k in steps}
    spent = 0.0
    with phase_hooks(timer):
        for i in range(repeats):
            for name, step in steps.items():
                timer.reset()
                if sync is not None:
                    sync()
                t0 = clock()
                step()
                if sync is not None:
                    sync()
                total = clock() - t0
                back = timer.totals.get("backward", 0.0)
                opt = timer.totals.get("optimiser", 0.0)
                res = out[name]
                res["total"].append(total)
                res["backward"].append(back)
                res["optimiser"].append(opt)
                res["forward"].append(total - back - opt)
                spent += total
            if budget_s is not None and i + 1 >= min_repeats and spent >= budget_s:
                break
    return {k: {p: Measurement(tuple(v)) for p, v in res.items()} for k, res in out.items()}


def sync_for(device: str) -> Sync | None:
    """The synchronisation hook timing needs on `device`: CUDA synchronise for cuda, else None."""
    if str(device).startswith("cuda"):
        import torch

        dev = str(device)

        def sync() -> None:
            torch.cuda.synchronize(dev)

        return sync
    return None


# --------------------------------------------------------------------------------------------
# The machine and the tidy table
# --------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else from `platform`."""
    cpuinfo = Path("/proc/cpuinfo")
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                name = line.split(":", 1)[1].strip()
                if name:
                    return name
    return platform.processor() or platform.machine() or "unknown"


def machine_label(label: str | None = None) -> str:
    """A label for this machine: `label`, else $D2M_MACHINE, else a short hash of the hostname."""
    label = label or os.environ.get("D2M_MACHINE")
    if label:
        return label
    digest = hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:10]
    return f"host-{digest}"


def _usable_cores() -> int:
    """Logical cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info(label: str | None = None) -> dict[str, Any]:
    """Describe this machine: label, CPU model, logical cores, torch threads and version, CUDA device."""
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "machine": machine_label(label),
        "cpu": cpu_model(),
        "logical_cores": _usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "cuda_device": cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _load_average() -> float | None:
    """The 1-minute load average (runnable processes) when the OS reports it, else None."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def new_run_id() -> str:
    """A fresh identifier grouping the rows of one suite run."""
    return uuid.uuid4().hex[:12]


def make_row(
    info: Mapping[str, Any],
    run_id: str,
    benchmark: str,
    unit: str,
    m: Measurement,
    device: str = "cpu",
    **keys: Any,
) -> dict[str, Any]:
    """One tidy row for measurement `m` of `benchmark` (extra `keys` fill the schema's key columns)."""
    unknown = set(keys) - set(SCHEMA)
    if unknown:
        raise ConfigError(f"unknown result columns {sorted(unknown)}; the schema is {list(SCHEMA)}")
    row: dict[str, Any] = dict.fromkeys(SCHEMA)
    row.update({k: info.get(k) for k in ("machine", "cpu", "logical_cores", "torch_threads")})
    row.update({k: info.get(k) for k in ("torch_version", "cuda_device")})
    row.update(
        run_id=run_id,
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        load_avg=_load_average(),
        device=device,
        benchmark=benchmark,
        unit=unit,
        median=m.median,
        q1=m.q1,
        q3=m.q3,
        n=m.n,
    )
    row.update(keys)
    return row


def results_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a DataFrame in the tidy schema (column order and dtypes) from rows."""
    df = pd.DataFrame(list(rows), columns=list(SCHEMA))
    return _coerce(df)


def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in STRING_COLUMNS:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    for c in INT_COLUMNS:
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    for c in FLOAT_COLUMNS:
        df[c] = pd.to_numeric(df[c]).astype("float64")
    return df[list(SCHEMA)].reset_index(drop=True)


def check_schema(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Return `df` coerced to the tidy schema, or raise DataError naming the mismatched columns."""
    cols = list(df.columns)
    if cols != list(SCHEMA):
        missing = [c for c in SCHEMA if c not in cols]
        extra = [c for c in cols if c not in SCHEMA]
        raise DataError(
            f"timing results do not follow the schema (missing {missing}, unexpected {extra}, "
            f"or a different column order); expected {list(SCHEMA)}",
            path,
        )
    try:
        return _coerce(df)
    except (ValueError, TypeError) as exc:
        raise DataError(f"timing results hold a value of the wrong type: {exc}", path) from exc


def load_results(path: str | Path = DEFAULT_OUT) -> pd.DataFrame:
    """Read a results CSV (or every *.csv in a directory) in the tidy schema; DataError if malformed."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        frames = [load_results(f) for f in files]
        return pd.concat(frames, ignore_index=True) if frames else results_frame([])
    if not path.exists():
        raise DataError("no timing results here (run `make bench` first)", path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse timing results: {exc}", path) from exc
    df = df.replace("", None) if len(df) else df
    return check_schema(df, path)


def append_results(df: pd.DataFrame, path: str | Path = DEFAULT_OUT) -> pd.DataFrame:
    """Append rows to the results CSV at `path` (read, concatenate, atomic write); return the whole table."""
    path = Path(path)
    new = check_schema(df)
    if path.exists():
        old = load_results(path)
        table = pd.concat([old, new], ignore_index=True) if len(old) else new
    else:
        table = new
    write_text(path, table.to_csv(index=False))
    return table


# --------------------------------------------------------------------------------------------
# Generic measurements: FLOPs, matmul peak, the profiler table
# --------------------------------------------------------------------------------------------


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of `fn` (forward and backward matmuls, convolutions, RNN cells)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
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
    """The machine's measured matmul FLOP/s: a (size x size) @ (size x size) torch.mm per dtype."""
    import torch

    info = info or machine_info()
    run_id = run_id or new_run_id()
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name in dtypes:
        dtype = getattr(torch, name)
        a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        flop = 2.0 * size**3
        m = measure(lambda a=a, b=b: torch.mm(a, b), warmup, repeats, sync=sync_for(device))
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
    from torch.profiler import ProfilerActivity, profile

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


# --------------------------------------------------------------------------------------------
# Data loading: the feature store's loaders against the original's per-sample way
# --------------------------------------------------------------------------------------------

LOADERS: tuple[str, ...] = ("unit", "sequence", "audio")


def _naive_frames(arr: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Normalise frame by frame in a Python loop, the way the original code does."""
    out = np.zeros((arr.shape[0], mean.size), dtype=np.float32)
    for t in range(arr.shape[0]):
        out[t] = (arr[t].reshape(mean.size) - mean) / std
    return out


class NaiveSequenceDataset(Dataset):
    """Sequences the original's way: one np.load per sequence and per clip's audio, Python loops."""

    def __init__(self, data_dir: str | Path, split: str = "train", n: int = 3) -> None:
        from d2mlib import data
        from d2mlib.skeleton import UNIT_FRAMES

        index = data.read_dataset(data_dir, check_arrays=False)
        seqs = index.sequences[(index.sequences["split"] == split) & (index.sequences["n"] == n)]
        clips = index.clips
        audio = dict(
            zip(
                zip(clips["style"], clips["video"], clips["clip"], strict=True),
                clips["audio"],
                strict=True,
            )
        )
        keys = zip(seqs["style"], seqs["video"], seqs["clip"], strict=True)
        self.n, self.frames = n, UNIT_FRAMES
        self.paths = list(seqs["path"])
        self.audio = [audio[k] for k in keys]
        self.start = [int(k) * UNIT_FRAMES for k in seqs["k"]]
        self.styles = [data.STYLE_INDEX[s] for s in seqs["style"]]
        self.pose_mean, self.pose_std = (
            index.stats["all_onbeat_mean"],
            index.stats["all_onbeat_std"],
        )
        self.aud_mean, self.aud_std = index.stats["all_aud_mean"], index.stats["all_aud_std"]

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Any, Any, int]:
        """(units (n, 32, 28), audio (n*32, 28), style), normalised frame by frame."""
        import torch

        poses = np.load(self.paths[i])
        units = np.stack([_naive_frames(u, self.pose_mean, self.pose_std) for u in poses])
        start = self.start[i]
        feats = np.load(self.audio[i])[start : start + self.n * self.frames]
        aud = _naive_frames(feats, self.aud_mean, self.aud_std)
        return torch.from_numpy(units), torch.from_numpy(aud), self.styles[i]


class NaiveAudioDataset(Dataset):
    """Audio windows the original's way: load the clip's .npy per window, normalise frame by frame."""

    def __init__(
        self, data_dir: str | Path, split: str = "train", window: int = 30, seed: int = 0
    ) -> None:
        from d2mlib import data

        index = data.read_dataset(data_dir, check_arrays=False)
        clips = index.clips[(index.clips["split"] == split) & (index.clips["frames"] >= window)]
        self.mean, self.std = index.stats["all_aud_mean"], index.stats["all_aud_std"]
        self.items = [
            (p, int(f), data.STYLE_INDEX[s])
            for p, f, s in zip(clips["audio"], clips["frames"], clips["style"], strict=True)
            for _ in range(int(f) // window)
        ]
        self.window, self.seed, self.calls = window, seed, 0

    def __len__(self) -> int:
        """Number of windows an epoch."""
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        """(audio (window, 28) at a random offset, style), normalised frame by frame."""
        import torch

        self.calls += 1
        path, frames, style = self.items[i]
        rng = np.random.default_rng([self.seed, i, self.calls])
        start = int(rng.integers(0, frames - self.window + 1))
        feats = np.load(path)[start : start + self.window]
        return torch.from_numpy(_naive_frames(feats, self.mean, self.std)), style


def make_loader(
    kind: str,
    variant: str,
    data_dir: str | Path,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    split: str = "train",
    store: Any = None,
) -> Any:
    """One of the three loaders ("unit", "sequence", "audio"), from the store or the naive way."""
    import torch
    from torch.utils.data import DataLoader

    from d2mlib import data

    if kind not in LOADERS or variant not in ("store", "naive"):
        raise ConfigError(f"unknown loader {kind!r}/{variant!r}; expected {LOADERS} x store|naive")
    if variant == "store":
        store = store or data.FeatureStore.open(data_dir)
        if kind == "unit":
            return data.unit_loader(store, split, batch_size, seed, num_workers=num_workers)
        if kind == "sequence":
            return data.sequence_loader(
                store, split, batch_size, seed, n_units=(3,), num_workers=num_workers
            )
        return data.audio_loader(
            store, split, batch_size, seed, drop_last=True, num_workers=num_workers
        )
    if kind == "unit":
        return data.naive_unit_loader(data_dir, split, batch_size, seed, num_workers=num_workers)
    ds = (
        NaiveSequenceDataset(data_dir, split, SEQ_UNITS)
        if kind == "sequence"
        else NaiveAudioDataset(data_dir, split, 30, seed)
    )
    if len(ds) < batch_size:
        raise DataError(f"only {len(ds)} {kind} samples in split {split!r}, need {batch_size}")
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )


def time_batches(
    loader: Any,
    n_batches: int,
    warmup_batches: int = 1,
    repeats: int = 3,
    clock: Clock = time.perf_counter,
) -> Measurement:
    """Samples per second of `loader`: one sample per pass over it.

    Each of `repeats` passes skips its first `warmup_batches` batches (worker start-up), then
    times the next `n_batches` (fewer if the pass ends first) as one block: samples / seconds.
    Timing a block rather than single batches counts prefetching workers fairly.
    """
    if n_batches < 1 or repeats < 1 or warmup_batches < 0:
        raise ConfigError("need n_batches >= 1, repeats >= 1 and warmup_batches >= 0")
    rates: list[float] = []
    for _ in range(repeats):
        it = iter(loader)
        for _ in range(warmup_batches):
            if next(it, None) is None:
                break
        samples, t0 = 0, clock()
        for _ in range(n_batches):
            batch = next(it, None)
            if batch is None:
                break
            samples += len(batch[-1])
        elapsed = clock() - t0
        del it
        if samples == 0:
            raise DataError(
                f"a pass over the loader gives no batch beyond the {warmup_batches} warm-up "
                "batches; use a bigger dataset or a smaller batch size"
            )
        rates.append(samples / max(elapsed, 1e-12))
    return Measurement(tuple(rates))


def bench_loading(
    data_dir: str | Path,
    batch_size: int = 64,
    workers: Sequence[int] = (0, 1, 2),
    loaders: Sequence[str] = LOADERS,
    variants: Sequence[str] = ("store", "naive"),
    n_batches: int = 10,
    repeats: int = 3,
    seed: int = 0,
    split: str = "train",
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Samples per second of each loader from the feature store and the naive way, by workers."""
    from d2mlib import data

    info = info or machine_info()
    run_id = run_id or new_run_id()
    store = data.FeatureStore.open(data_dir) if "store" in variants else None
    rows = []
    for kind in loaders:
        for variant in variants:
            for w in workers:
                loader = make_loader(kind, variant, data_dir, batch_size, w, seed, split, store)
                m = time_batches(loader, n_batches, warmup_batches=1 + w, repeats=repeats)
                rows.append(
                    make_row(
                        info,
                        run_id,
                        "loading",
                        "samples/s",
                        m,
                        stage=kind,
                        variant=variant,
                        batch_size=batch_size,
                        workers=w,
                    )
                )
    return results_frame(rows)


# --------------------------------------------------------------------------------------------
# Audio features
# --------------------------------------------------------------------------------------------


def bench_audio(
    lengths_s: Sequence[float] = (10.0, 60.0),
    warmup: int = 1,
    repeats: int = 5,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Seconds of compute per second of audio for d2mlib.audio.features, by clip length."""
    from d2mlib import audio

    info = info or machine_info()
    run_id = run_id or new_run_id()
    rng = np.random.default_rng(seed)
    rows = []
    for length in lengths_s:
        n = int(round(length * audio.SAMPLE_RATE))
        t = np.arange(n) / audio.SAMPLE_RATE
        y = (0.3 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
        m = measure(lambda y=y: audio.features(y), warmup, repeats)
        rows.append(
            make_row(
                info,
                run_id,
                "audio_features",
                "s/s",
                m.map(lambda s, L=length: s / L),
                length_s=float(length),
            )
        )
    return results_frame(rows)


# --------------------------------------------------------------------------------------------
# Training steps of the three stages
# --------------------------------------------------------------------------------------------

STAGES: tuple[str, ...] = ("style", "decomp", "comp")
POWERS_OF_TWO: tuple[int, ...] = tuple(2**k for k in range(10))  # 1 .. 512
SEQ_UNITS = 3  # units per composition sequence in timed batches


def stage_config(preset: str = "book", rnn: str = "gru", precision: str = "fp32") -> Any:
    """The config preset with every recurrent layer set to `rnn` ("gru" or "lstm") and the
    style and decomposition stages trained at `precision` ("fp32" or "bf16")."""
    import dataclasses

    from d2mlib import config

    cfg = config.preset(preset)
    r = dataclasses.replace
    return r(
        cfg,
        style=r(cfg.style, rnn=rnn),
        dance_unit=r(cfg.dance_unit, rnn=rnn),
        composer=r(cfg.composer, rnn=rnn),
        train_style=r(cfg.train_style, precision=precision),
        train_decomp=r(cfg.train_decomp, precision=precision),
    )


def build_stage(
    stage: str,
    preset: str = "book",
    rnn: str = "gru",
    device: str = "cpu",
    naive: bool = False,
    precision: str = "fp32",
) -> Any:
    """A fresh (untrained) training stage "style", "decomp" or "comp" at `preset` sizes."""
    cfg = stage_config(preset, rnn, precision)
    if stage == "style":
        from d2mlib.models.style import StyleStage

        return StyleStage(cfg, device=device)
    if stage == "decomp":
        from d2mlib.models.dance_unit import DecompStage

        return DecompStage(cfg, naive=naive, device=device)
    if stage == "comp":
        import torch

        from d2mlib.models.composer import CompStage
        from d2mlib.models.dance_unit import DanceUnit
        from d2mlib.models.style import StyleExtractor

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.train_comp.seed)
            extractor, dance_unit = StyleExtractor(cfg.style), DanceUnit(cfg.dance_unit)
        return CompStage(cfg, extractor, dance_unit, device=device)
    raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")


def fake_batch(
    stage: str, cfg: Any, batch_size: int, device: str = "cpu", seed: int = 0
) -> tuple[Any, ...]:
    """A random batch shaped like the stage's loader output (timing does not depend on values)."""
    import torch

    from d2mlib.skeleton import POSE_DIM, UNIT_FRAMES

    gen = torch.Generator().manual_seed(seed)
    style = torch.randint(0, 3, (batch_size,), generator=gen)

    def randn(*shape: int) -> Any:
        return torch.randn(*shape, generator=gen).to(device)

    if stage == "style":
        return randn(batch_size, cfg.style.window, 28), style.to(device)
    if stage == "decomp":
        x = randn(batch_size, UNIT_FRAMES, POSE_DIM)
        return x, x + 0.05 * randn(*x.shape), style.to(device)
    if stage == "comp":
        units = randn(batch_size, SEQ_UNITS, UNIT_FRAMES, POSE_DIM)
        return units, randn(batch_size, SEQ_UNITS * UNIT_FRAMES, 28), style.to(device)
    raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")


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
        obj = build_stage(name, preset, rnn, device, naive=naive)
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
        v: build_stage("decomp", preset, rnn, device, naive=v == "naive", precision=p)
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
    obj = build_stage(stage, preset, rnn, device)
    step = _stepper(obj, fake_batch(stage, obj.cfg, batch_size, device))
    return profile_step(step, warmup=1, device=device, row_limit=row_limit)


def _loader_for_stage(stage: str, store: Any, batch_size: int, seed: int = 0) -> Any:
    from d2mlib import data

    if stage == "style":
        return data.audio_loader(store, "train", batch_size, seed, drop_last=True)
    if stage == "decomp":
        return data.unit_loader(store, "train", batch_size, seed)
    return data.sequence_loader(store, "train", batch_size, seed, n_units=(SEQ_UNITS,))


def bench_data_wait(
    data_dir: str | Path,
    stages: Sequence[str] = STAGES,
    preset: str = "book",
    batch_size: int = 64,
    steps: int = 10,
    device: str = "cpu",
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Share of a training step spent waiting for data (0 workers, the feature store's loaders)."""
    from d2mlib import data

    info = info or machine_info()
    run_id = run_id or new_run_id()
    store = data.FeatureStore.open(data_dir)
    sync = sync_for(device)
    rows = []
    for name in stages:
        obj = build_stage(name, preset, "gru", device)
        loader = _loader_for_stage(name, store, batch_size)
        obj.training_step(next(iter(loader)), 0)  # warm-up
        shares: list[float] = []
        k = 0
        while len(shares) < steps:
            got = False
            for wait, batch in _timed_iter(loader):
                t0 = time.perf_counter()
                obj.training_step(batch, k)
                if sync is not None:
                    sync()
                compute = time.perf_counter() - t0
                shares.append(wait / (wait + compute))
                k += 1
                got = True
                if len(shares) >= steps:
                    break
            if not got:
                raise DataError("the loader gives no batch", data_dir)
        rows.append(
            make_row(
                info,
                run_id,
                "data_wait",
                "fraction",
                Measurement(tuple(shares)),
                device=device,
                stage=name,
                preset=preset,
                batch_size=batch_size,
                workers=0,
            )
        )
    return results_frame(rows)


def _timed_iter(loader: Any) -> Iterator[tuple[float, Any]]:
    """Yield (seconds spent waiting for the batch, batch) over one pass of `loader`."""
    it = iter(loader)
    while True:
        t0 = time.perf_counter()
        batch = next(it, None)
        wait = time.perf_counter() - t0
        if batch is None:
            return
        yield wait, batch


def bench_loop_overhead(
    stage: str = "decomp",
    preset: str = "book",
    batch_size: int = 64,
    steps: int = 20,
    repeats: int = 3,
    device: str = "cpu",
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Time per step of d2mlib.train.fit against the bare training_step calls inside it.

    The loop runs over in-memory batches (data loading is measured on its own), writes its
    metrics and end-of-epoch checkpoint into a temporary folder; its overhead is the loop's
    time beyond the summed training_step time, as a fraction of the latter.
    """
    import tempfile

    from d2mlib import train

    info = info or machine_info()
    run_id = run_id or new_run_id()
    sync = sync_for(device)
    obj = build_stage(stage, preset, "gru", device)
    batches = [fake_batch(stage, obj.cfg, batch_size, device, seed=i) for i in range(steps)]
    inner: list[float] = []
    original = obj.training_step

    def timed_step(batch: Any, step: int) -> Any:
        if sync is not None:
            sync()
        t0 = time.perf_counter()
        out = original(batch, step)
        if sync is not None:
            sync()
        inner.append(time.perf_counter() - t0)
        return out

    obj.training_step = timed_step
    loop = train.LoopConfig(epochs=1, max_steps=steps, progress=False)
    obj.training_step(batches[0], 0)  # warm-up
    per_step_loop, per_step_bare, overhead = [], [], []
    with tempfile.TemporaryDirectory(prefix="d2m-bench-") as tmp:
        for r in range(repeats):
            inner.clear()
            t0 = time.perf_counter()
            train.fit(
                obj,
                lambda epoch: batches,
                None,
                Path(tmp) / f"r{r}",
                loop,
                device=device,
                resume=False,
            )
            total = time.perf_counter() - t0
            bare = sum(inner)
            per_step_loop.append(total / len(inner))
            per_step_bare.append(bare / len(inner))
            overhead.append((total - bare) / bare)
    keys = dict(device=device, stage=stage, preset=preset, batch_size=batch_size)
    return results_frame(
        [
            make_row(
                info,
                run_id,
                "loop_overhead",
                "s",
                Measurement(tuple(per_step_bare)),
                variant="bare",
                **keys,
            ),
            make_row(
                info,
                run_id,
                "loop_overhead",
                "s",
                Measurement(tuple(per_step_loop)),
                variant="loop",
                **keys,
            ),
            make_row(
                info,
                run_id,
                "loop_overhead",
                "fraction",
                Measurement(tuple(overhead)),
                variant="overhead",
                **keys,
            ),
        ]
    )


# --------------------------------------------------------------------------------------------
# The speed targets, read from the table
# --------------------------------------------------------------------------------------------


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
            f"{int(row['torch_threads'])} torch threads on {int(row['logical_cores'])} cores",
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


# --------------------------------------------------------------------------------------------
# Inference: composing a dance
# --------------------------------------------------------------------------------------------

INFERENCE_LENGTHS: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0, 300.0)


def build_generator(preset: str = "paper", rnn: str = "gru", device: str = "cpu") -> Any:
    """An untrained DanceGenerator at `preset` sizes (compute does not depend on the weights)."""
    import torch

    from d2mlib.generate import DanceGenerator
    from d2mlib.models.composer import Composer
    from d2mlib.models.dance_unit import DanceUnit
    from d2mlib.models.style import StyleExtractor
    from d2mlib.skeleton import POSE_DIM

    cfg = stage_config(preset, rnn)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        style = StyleExtractor(cfg.style)
        dance_unit = DanceUnit(cfg.dance_unit)
        composer = Composer(cfg.composer, cfg.dance_unit.z_movement, cfg.style.feature_dim)
    pose_mean = np.tile(np.array([128.0, 250.0], np.float32), POSE_DIM // 2)
    stats = {
        "pose_mean": pose_mean,
        "pose_std": np.full(POSE_DIM, 30.0, np.float32),
        "audio_mean": np.zeros(cfg.style.feature_dim, np.float32),
        "audio_std": np.ones(cfg.style.feature_dim, np.float32),
    }
    return DanceGenerator(style, composer, dance_unit, stats, cfg, device, "untrained (timing)")


def synthetic_music(seconds: float, seed: int = 0, tempo: float = 120.0) -> Any:
    """Music for timing: random features at 15 fps and a beat every 60/tempo seconds."""
    from d2mlib.generate import Music
    from d2mlib.skeleton import FPS

    rng = np.random.default_rng(seed)
    frames = int(round(seconds * FPS))
    feats = rng.standard_normal((frames, 28)).astype(np.float32)
    beats = np.arange(0.25, seconds, 60.0 / tempo)
    return Music(feats, beats, frames / FPS, "synthetic (timing)")


def bench_inference(
    lengths_s: Sequence[float] = INFERENCE_LENGTHS,
    preset: str = "paper",
    device: str = "cpu",
    rnn: str = "gru",
    warp: bool = True,
    warmup: int = 1,
    repeats: int = 3,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Seconds of compute per second of generated dance, by length (features excluded, warping in)."""
    info = info or machine_info()
    run_id = run_id or new_run_id()
    gen = build_generator(preset, rnn, device)
    sync = sync_for(device)
    rows = []
    for length in lengths_s:
        music = synthetic_music(length)
        m = measure(
            lambda music=music: gen.compose(music, seed=0, warp=warp), warmup, repeats, sync=sync
        )
        rows.append(
            make_row(
                info,
                run_id,
                "inference",
                "s/s",
                m.map(lambda s, L=length: s / L),
                device=device,
                preset=preset,
                rnn=rnn,
                length_s=float(length),
                variant="warped" if warp else "unwarped",
            )
        )
    return results_frame(rows)


# --------------------------------------------------------------------------------------------
# Suites and the command line
# --------------------------------------------------------------------------------------------


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
    import torch

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
    which training configuration is being timed."""
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
    from tqdm.auto import tqdm

    from d2mlib import data

    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; expected one of {tuple(SUITES)}")
    plan = SUITES[name]
    devices = resolve_devices(device)
    if data_dir is None:
        data_dir = data.ensure_dataset(
            data.default_data_dir(plan.data_preset), plan.data_preset, progress=progress
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
    import argparse

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
        import torch

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


# --------------------------------------------------------------------------------------------
# Reading results from several machines (the timing chapter)
# --------------------------------------------------------------------------------------------


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


if __name__ == "__main__":
    sys.exit(main())
