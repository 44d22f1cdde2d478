"""Timing the training loop around the steps: the share of a step spent waiting for data, and
the loop's own overhead.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from d2mlib.config import STAGES
from d2mlib.data.store import FeatureStore
from d2mlib.errors import DataError
from d2mlib.stages import fake_batch, timing_loader
from d2mlib.timing.measure import Measurement, sync_for
from d2mlib.timing.results import machine_info, make_row, new_run_id, results_frame
from d2mlib.timing.training import timed_stage
from d2mlib.train.loop import LoopConfig, fit


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

    info = info or machine_info()
    run_id = run_id or new_run_id()
    store = FeatureStore.open(data_dir)
    sync = sync_for(device)
    rows = []
    for name in stages:
        obj = timed_stage(name, preset, "gru", device)
        loader = timing_loader(name, store, batch_size)
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

    Long because the timed wrapper of training_step, the loop run and the rows share one temporary run folder.
    """

    info = info or machine_info()
    run_id = run_id or new_run_id()
    sync = sync_for(device)
    obj = timed_stage(stage, preset, "gru", device)
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
    loop = LoopConfig(epochs=1, max_steps=steps, progress=False)
    obj.training_step(batches[0], 0)  # warm-up
    per_step_loop, per_step_bare, overhead = [], [], []
    with tempfile.TemporaryDirectory(prefix="d2m-bench-") as tmp:
        for r in range(repeats):
            inner.clear()
            t0 = time.perf_counter()
            fit(
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
