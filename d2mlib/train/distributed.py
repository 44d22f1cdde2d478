"""Data-parallel training: process info, slicing a global batch, averaging gradients."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist

from d2mlib.errors import ConfigError


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _batch_size(batch: Any) -> int | None:
    """The leading dimension of the first tensor in a batch."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else None
    values = batch.values() if isinstance(batch, Mapping) else batch
    if isinstance(values, Iterable) and not isinstance(values, str | bytes):
        for v in values:
            n = _batch_size(v)
            if n is not None:
                return n
    return None


def shard_batch(batch: Any, rank: int, world_size: int) -> Any:
    """This process's slice of a global batch (every tensor sliced on its first axis)."""
    if world_size == 1:
        return batch
    n = _batch_size(batch)
    if n is None or n % world_size:
        raise ConfigError(f"global batch of {n} does not split over {world_size} processes")
    per = n // world_size
    lo, hi = rank * per, (rank + 1) * per

    def cut(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.ndim and x.shape[0] == n:
            return x[lo:hi]
        if isinstance(x, Mapping):
            return {k: cut(v) for k, v in x.items()}
        if isinstance(x, tuple | list):
            return type(x)(cut(v) for v in x)
        return x

    return cut(batch)


@dataclass(frozen=True)
class DistInfo:
    """Rank and world size of this process (1 process when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        """True on the process that logs and writes checkpoints."""
        return self.rank == 0


def dist_info() -> DistInfo:
    """The current process group's rank and size (0 and 1 without one)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group if the environment asks for one (gloo on CPU, NCCL on CUDA)."""
    if dist.is_initialized() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return dist_info()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist_info()


def _average_gradients_hook(optimizer: torch.optim.Optimizer, *_: Any) -> None:
    """Average the gradients of an optimiser's parameters over all processes (one all-reduce)."""
    world = dist.get_world_size()
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _broadcast_state(modules: Mapping[str, torch.nn.Module]) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    for module in modules.values():
        for t in itertools.chain(module.parameters(), module.buffers()):
            dist.broadcast(t.data, src=0)


def _barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()
