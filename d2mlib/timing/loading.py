"""Timing data loading (feature store against the naive loaders) and audio feature extraction."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib import audio
from d2mlib.data.naive import LOADERS, make_loader
from d2mlib.data.store import FeatureStore
from d2mlib.errors import ConfigError, DataError
from d2mlib.timing.measure import Clock, Measurement, measure
from d2mlib.timing.results import machine_info, make_row, new_run_id, results_frame


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

    info = info or machine_info()
    run_id = run_id or new_run_id()
    store = FeatureStore.open(data_dir) if "store" in variants else None
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


# Audio features


def bench_audio(
    lengths_s: Sequence[float] = (10.0, 60.0),
    warmup: int = 1,
    repeats: int = 5,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Seconds of compute per second of audio for d2mlib.audio.features, by clip length."""

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
