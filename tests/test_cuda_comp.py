"""The composer's training step on CUDA (skipped without a GPU; run by tools/gpu_bench.sh).

Imports only what the GPU machine has: no soundfile, no librosa."""

from __future__ import annotations

import pytest
import torch

from d2mlib.models import CompStage, DanceUnit, StyleExtractor
from d2mlib.timing import timed_config


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_comp_step_runs_on_cuda_like_on_cpu(precision: str) -> None:
    """The same weights score the same on both devices, and the training step, which
    backpropagates through the frozen (eval-mode) decoder where cuDNN has no backward, runs."""
    cfg = timed_config("smoke", "gru", precision)  # the smoke preset, trained at `precision`
    gen = torch.Generator().manual_seed(0)
    batch = (
        torch.randn(4, 3, 32, 28, generator=gen),
        torch.randn(4, 96, 28, generator=gen),
        torch.arange(4) % 3,
    )
    scores = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        stage = CompStage(cfg, StyleExtractor(cfg.style), DanceUnit(cfg.dance_unit), device=device)
        scores[device] = {k: float(v) for k, v in stage.validation_step(batch).items()}
        out = stage.training_step(batch, 1)
        assert all(torch.isfinite(v) for v in out.values())
        assert all(p.grad is not None for p in stage.composer.dance_dec.parameters())
    tol = 1e-2 if precision == "fp32" else 5e-2  # cuDNN may use TF32
    for key in ("mov_recon", "seq_recon", "total"):
        cpu, cuda = scores["cpu"][key], scores["cuda"][key]
        assert abs(cpu - cuda) <= tol * abs(cpu), (key, cpu, cuda)
