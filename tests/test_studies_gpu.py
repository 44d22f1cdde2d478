"""CPU against GPU (d2mlib.studies.gpu) on small synthetic results tables, with and without the
committed GPU file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from d2mlib import studies, timing, verdicts
from d2mlib.errors import MetricError
from d2mlib.timing.measure import Measurement

gpu = studies.gpu
INFO_CPU = {"machine": "laptop", "cpu": "x", "logical_cores": 2, "torch_threads": 1}
INFO_GPU = {"machine": "gpu-h200", "cpu": "y", "logical_cores": 16, "torch_threads": 16}


def _table(
    cpu_s: dict[int, float], gpu_s: dict[int, float], oom: int | None = None
) -> pd.DataFrame:
    """Training rows of the paper-size decomposition step, a matmul peak and FLOP/s rows."""
    rows = []
    for info, device, times in ((INFO_CPU, "cpu", cpu_s), (INFO_GPU, "cuda", gpu_s)):
        info = dict(info, cuda_device="NVIDIA H200" if device == "cuda" else None)
        for bs, s in times.items():
            key = dict(device=device, stage="decomp", variant="ours", preset="paper", rnn="gru")
            m = Measurement((s, s * 1.1, s * 0.9))
            rows.append(timing.make_row(info, device, "training", "s", m, phase="total",
                                        batch_size=bs, **key))  # fmt: skip
            if device == "cuda":
                flops = Measurement((1e12 * bs / s,))
                rows.append(timing.make_row(info, "g", "flops", "FLOP/s", flops, phase="total",
                                            batch_size=bs, **key))  # fmt: skip
                mem = Measurement((1e8 * bs,))
                rows.append(timing.make_row(info, "g", "memory", "bytes", mem, phase="total",
                                            batch_size=bs, **key))  # fmt: skip
        if device == "cuda":
            peak = Measurement((4e14,))
            rows.append(timing.make_row(info, "g", "matmul_peak", "FLOP/s", peak, device="cuda",
                                        variant="fp32", batch_size=8192))  # fmt: skip
            if oom:
                at = Measurement((float(oom),))
                rows.append(timing.make_row(info, "g", "oom", "batch_size", at, device="cuda",
                                            stage="decomp", variant="ours", preset="paper",
                                            phase="total", batch_size=oom, rnn="gru"))  # fmt: skip
    df = timing.results_frame(rows)
    return df.assign(run_id=np.where(df["device"] == "cuda", "g", df["run_id"]))


def test_no_gpu_file_means_no_gpu_column(tmp_path: Path) -> None:
    assert gpu.gpu_results(tmp_path / "timing-h200.csv") is None
    cpu_only = _table({1: 0.01, 256: 7.0}, {})
    table = gpu.cpu_gpu_table(cpu_only, "paper", "decomp")
    assert table["gpu_s"].isna().all() and table["speed_up"].isna().all()
    assert gpu.gpu_pays_from(table) is None
    seed = gpu.seed_comparison(None, ("decomp",))
    assert seed.loc[0, "cpu_ms"] == 7367.0 and seed.loc[0, "gpu_ms"] == 482.0
    assert seed.loc[1, ["cpu_ms", "gpu_ms", "speed_up"]].isna().all()  # ours: not measured


def test_side_by_side_speed_up_and_where_the_gpu_pays(tmp_path: Path) -> None:
    df = _table({1: 0.01, 4: 0.03, 16: 0.1, 256: 2.0}, {1: 0.02, 4: 0.02, 16: 0.02, 256: 0.1,
                                                         512: 0.2}, oom=1024)  # fmt: skip
    path = tmp_path / "timing-h200.csv"
    timing.append_results(df, path)
    back = gpu.gpu_results(path)
    table = gpu.cpu_gpu_table(back, "paper", "decomp")
    assert list(table.index) == [1, 4, 16, 256, 512]
    assert table.loc[256, "speed_up"] == 20.0
    assert np.isnan(table.loc[512, "speed_up"]) and np.isnan(table.loc[512, "cpu_s"])
    assert gpu.gpu_pays_from(table) == 4  # slower at 1, faster from 4 on
    oom = gpu.out_of_memory(back)
    assert oom.loc[0, "out_of_memory_at"] == 1024 and oom.loc[0, "largest_fit"] == 512
    assert oom.loc[0, "gb"] == 512 * 1e8 / 1e9
    shares = gpu.flop_shares(back)
    assert shares.loc[0, "batch_size"] == 512
    assert np.isclose(shares.loc[0, "share"], (1e12 * 512 / 0.2) / 4e14)
    seed = gpu.seed_comparison(back, ("decomp",))
    assert seed.loc[1, "cpu_ms"] == 2000.0 and seed.loc[1, "gpu_ms"] == 100.0


def test_a_gpu_slower_at_the_largest_batch_never_pays() -> None:
    df = _table({1: 0.01, 4: 0.01}, {1: 0.001, 4: 0.02})
    assert gpu.gpu_pays_from(gpu.cpu_gpu_table(df, "paper", "decomp")) is None


def test_the_gpu_box_host_cpu_is_chosen_over_a_busier_cpu_machine() -> None:
    df = _table({1: 0.01, 256: 2.0}, {1: 0.02, 256: 0.1})
    host = df[df["device"] == "cuda"].assign(device="cpu", cuda_device=None, run_id="g")
    host = host[host["benchmark"] == "training"].assign(median=4.0, q1=3.9, q3=4.1)
    both = pd.concat([df, host], ignore_index=True)
    ours = gpu.cpu_gpu_table(both, "paper", "decomp", cpu_machine="gpu-h200")
    assert ours.loc[256, "speed_up"] == 40.0  # the host's 4.0 s against the GPU's 0.1 s
    laptop = gpu.cpu_gpu_table(both, "paper", "decomp", cpu_machine="laptop")
    assert laptop.loc[256, "speed_up"] == 20.0
    about = gpu.describe_gpu_run(both)
    assert about["device"] == "NVIDIA H200" and about["cores"] == 16
    assert about["machine"] == "gpu-h200" and len(about["date"]) == 10
    assert about["threads"] == 16
    with pytest.raises(MetricError, match="no CUDA rows"):
        gpu.describe_gpu_run(df[df["device"] == "cpu"])


def test_the_speed_up_row_feeds_the_claim_rule() -> None:
    # each time is measured as (s, 1.1 s, 0.9 s): quartiles 0.95 s and 1.05 s
    df = _table({1: 0.02, 256: 2.0}, {1: 0.019, 256: 0.1})
    table = gpu.cpu_gpu_table(df, "paper", "decomp")
    fast = gpu.speed_up_row(table, 256)
    assert np.isclose(np.exp(fast["effect"]), 20.0)
    assert np.isclose(np.exp(fast["ci_low"]), 20.0 * 0.95 / 1.05)
    assert np.isclose(np.exp(fast["ci_high"]), 20.0 * 1.05 / 0.95)
    assert fast["differs"] and verdicts.claim_verdict(fast, "higher") == "confirmed"
    tie = gpu.speed_up_row(table, 1)  # 1.05x, well inside the quartiles' spread
    assert not tie["differs"] and verdicts.claim_verdict(tie, "higher") == "inconclusive"
    missing = gpu.speed_up_row(table, 64)
    assert (
        np.isnan(missing["effect"]) and verdicts.claim_verdict(missing, "higher") == "inconclusive"
    )


def test_float32_steps_are_set_against_the_tf32_peak_when_measured() -> None:
    df = _table({1: 0.01}, {1: 0.02, 512: 0.2})
    peak = df[df["benchmark"] == "matmul_peak"].assign(variant="tf32", median=8e14)
    shares = gpu.flop_shares(pd.concat([df, peak], ignore_index=True))
    assert shares.loc[0, "peak_dtype"] == "tf32"
    assert np.isclose(shares.loc[0, "share"], (1e12 * 512 / 0.2) / 8e14)
    assert gpu.flop_shares(df).loc[0, "peak_dtype"] == "fp32"
