"""Learning-rate schedules of a training stage (`TrainConfig.lr_schedule`).

``constant`` (the paper's: Adam at a fixed rate) or ``cosine``: the rate falls from `lr` to
zero along half a cosine over the run's `steps`. A short run spends most of its steps far from
its optimum at a constant rate; annealing lets its last steps settle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from d2mlib.config import TrainConfig


def cosine_factor(step: int, total: int) -> float:
    """The cosine schedule's multiplier of the base rate after `step` of `total` steps."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def lr_schedulers(
    optimizers: Mapping[str, torch.optim.Optimizer], tcfg: TrainConfig
) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
    """One scheduler per optimiser for `tcfg.lr_schedule` (none for "constant"), stepped per step."""
    if tcfg.lr_schedule == "constant":
        return {}
    total = tcfg.steps
    return {
        key: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: cosine_factor(step, total))
        for key, opt in optimizers.items()
    }
