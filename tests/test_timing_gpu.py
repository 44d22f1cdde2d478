"""The GPU timing run (d2mlib.timing.gpu): its dry run on the CPU, the out-of-memory stop, the
time budget, cuDNN's RNN FLOPs; and, on a CUDA machine, the same run on the GPU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from d2mlib import timing
from d2mlib.config import STAGES
from d2mlib.errors import ConfigError
from d2mlib.models.rnn import fast_rnn
from d2mlib.timing import gpu
from d2mlib.timing.profile import rnn_flops

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dataclasses.replace(
    gpu.GPU_PLANS["dry"], batch_sizes=(1,), max_batch=2, inference_lengths=(2.0,), repeats=1
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_rnn_flops_equal_the_cpu_recurrence_count(cls, bidirectional) -> None:
    rnn = cls(5, 7, num_layers=2, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(3, 4, 5, requires_grad=True)
    formula = rnn_flops(x.shape, [p.shape for p in rnn._flat_weights])
    assert timing.count_flops(lambda: fast_rnn(rnn, x)) == formula
    assert timing.count_flops(lambda: fast_rnn(rnn, x).sum().backward()) == 3 * formula


def test_dry_run_writes_every_kind_of_row(tmp_path: Path, smoke_data: Path) -> None:
    rec = gpu.run_gpu(tmp_path, TINY, "cpu", data_dir=smoke_data)
    rows = timing.load_results(tmp_path / gpu.RESULTS_NAME)
    assert len(rows) == len(rec.table()) > 0
    assert set(rows["device"]) == {"cpu"}
    kinds = {"matmul_peak", "training", "flops", "rnn", "inference", "data_wait"}
    assert set(rows["benchmark"]) == kinds
    train = rows[(rows["benchmark"] == "training") & (rows["phase"] == "total")]
    got = set(zip(train["stage"], train["variant"], strict=True))
    bf16 = [s for s in STAGES if gpu.precision_applies(s, "smoke", "bf16")]
    want = {(s, "ours") for s in STAGES} | {(s, "ours_bf16") for s in bf16}
    assert got == want and {"style", "decomp"} <= set(bf16)
    assert sorted(set(train["batch_size"])) == [1, 2]  # the sweep, then doubled to the cap
    flops = rows[(rows["benchmark"] == "flops") & (rows["unit"] == "FLOP")]
    assert (flops["median"] > 0).all()
    assert sorted(set(rows.loc[rows["benchmark"] == "inference", "length_s"])) == [2.0]
    notes = pd.read_csv(tmp_path / gpu.NOTES_NAME)
    fp32_only = len(STAGES) - len(bf16)  # a stage the config keeps in fp32: sweep and growth
    assert notes["note"].str.contains("fp32 only").sum() == 2 * fp32_only
    assert notes["note"].str.contains("cap of 2").any()
    desc = json.loads((tmp_path / gpu.MACHINE_NAME).read_text())
    assert desc["run_id"] == rec.run_id and desc["plan"]["name"] == "dry"


def test_out_of_memory_stops_the_doubling_and_is_a_row(tmp_path: Path, monkeypatch) -> None:
    real = gpu.fake_batch

    def tight(stage, cfg, batch_size, device="cpu", seed=0):
        if batch_size >= 4:
            raise torch.OutOfMemoryError("simulated: out of memory")
        return real(stage, cfg, batch_size, device, seed)

    monkeypatch.setattr(gpu, "fake_batch", tight)
    plan = dataclasses.replace(TINY, max_batch=64)
    rec = gpu.Recorder(tmp_path, 60.0, timing.machine_info())
    gpu.sweep(rec, plan, "cpu", "decomp", "smoke", "fp32", (2,), grow=True)
    rows = rec.table()
    oom = rows[rows["benchmark"] == "oom"]
    assert list(oom["batch_size"]) == [4] and list(oom["median"]) == [4.0]
    assert list(oom["unit"]) == ["batch_size"] and list(oom["variant"]) == ["ours"]
    assert set(rows.loc[rows["benchmark"] == "training", "batch_size"]) == {2}
    assert "out of memory at batch 4" in rec.notes[-1]["note"]
    gpu.sweep(rec, plan, "cpu", "decomp", "smoke", "fp32", (8,), grow=True)
    assert len(rec.table()) == len(rows)  # that configuration is not tried again
    assert timing.load_results(tmp_path / gpu.RESULTS_NAME).equals(rows)
    rec.out_of_memory = {("cuda", "style", "smoke", "fp32")}  # the GPU's memory ran out...
    gpu.sweep(rec, plan, "cpu", "style", "smoke", "fp32", (2,))
    assert len(rec.table()) > len(rows)  # ...which does not skip the host CPU's sweep


def test_spent_budget_skips_every_task_with_a_note(tmp_path: Path) -> None:
    rec = gpu.run_gpu(tmp_path, TINY, "cpu", data_dir=None, budget_s=0.0)
    assert len(rec.table()) == 0 and not (tmp_path / gpu.RESULTS_NAME).exists()
    tasks = gpu.gpu_tasks(rec, TINY, "cpu", None)
    assert len(rec.notes) == len(tasks)
    assert all("time budget" in n["note"] for n in rec.notes)


def test_deadline_stops_a_sweep_between_batch_sizes(tmp_path: Path) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0  # every reading: ten more seconds gone
        return now[0]

    rec = gpu.Recorder(None, 35.0, timing.machine_info(), clock=clock)
    gpu.sweep(rec, TINY, "cpu", "style", "smoke", "fp32", (1, 2, 4, 8))
    sizes = set(rec.table().query("benchmark == 'training'")["batch_size"])
    assert sizes and 8 not in sizes
    assert "time budget is spent" in rec.notes[-1]["note"]


def test_command_line_dry_run(tmp_path: Path, capsys) -> None:
    assert gpu.main(["--dry-run", "--out", str(tmp_path), "--budget", "0"]) == 0
    assert "0 rows" in capsys.readouterr().out
    assert (tmp_path / gpu.NOTES_NAME).exists() and (tmp_path / gpu.MACHINE_NAME).exists()


def test_cuda_is_refused_without_a_gpu(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA device"):
        gpu.run_gpu(tmp_path, TINY, "cuda")


@needs_cuda
def test_cudnn_rnn_flops_are_counted_on_cuda() -> None:
    for cls in (nn.GRU, nn.LSTM):
        rnn = cls(5, 7, num_layers=2, batch_first=True).cuda()
        x = torch.randn(3, 4, 5, device="cuda", requires_grad=True)
        formula = rnn_flops(x.shape, [p.shape for p in rnn._flat_weights])
        assert timing.count_flops(lambda rnn=rnn, x=x: rnn(x)[0]) == formula
        assert timing.count_flops(lambda rnn=rnn, x=x: rnn(x)[0].sum().backward()) == 3 * formula


@needs_cuda
def test_the_dry_plan_runs_on_cuda(tmp_path: Path, smoke_data: Path) -> None:
    rec = gpu.run_gpu(tmp_path, TINY, "cuda", data_dir=smoke_data)
    rows = timing.load_results(tmp_path / gpu.RESULTS_NAME)
    assert set(rows["device"]) == {"cuda"} and len(rows) == len(rec.table())
    assert {"training", "flops", "memory", "matmul_peak"} <= set(rows["benchmark"])
    assert rows["cuda_device"].str.len().min() > 0
    assert (rows.loc[rows["benchmark"] == "memory", "median"] > 0).all()
    desc = json.loads((tmp_path / gpu.MACHINE_NAME).read_text())
    assert desc["gpu"]["total_memory_bytes"] > 0
    failed = [n for n in rec.notes if "failed" in n["note"]]
    assert not failed, failed  # every task ran: none broke on CUDA
    assert {"rnn", "data_wait", "inference"} <= set(rows["benchmark"])
