"""The measuring harness: warm-up, repeated runs, medians and IQRs, per-phase times of a
training step (forward, backward, optimiser), with an injectable clock.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from d2mlib.errors import ConfigError

Clock = Callable[[], float]
Sync = Callable[[], None]

# Statistics of repeated runs


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
        dev = str(device)

        def sync() -> None:
            torch.cuda.synchronize(dev)

        return sync
    return None
