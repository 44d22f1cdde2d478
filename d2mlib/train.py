"""Training: one loop for every stage (style extractor, decomposition, composition).

The loop (`fit`) drives any object that follows the Stage protocol
(`modules`, `optimizers`, `training_step`, `validation_step`): it shows a
progress bar with the live losses, writes `metrics.csv` (step, epoch, split,
term, value), validates at the end of every epoch, and keeps `best.pt` and
`last.pt` checkpoints. Checkpoints are written atomically and hold the
model, optimiser and scheduler states, every RNG state, the config and the
step, so a run killed at any moment resumes from its last checkpoint and, on
CPU with a fixed seed, ends with the same weights as an uninterrupted run.

Data order is a function of (seed, epoch): the loaders for epoch `e` are
built from `epoch_seed(seed, e)`, and a resumed run skips the batches of the
current epoch it had already seen.

Data-parallel training runs under `torchrun --nproc_per_node N -m d2mlib.train
...`: every process draws the same global batch, takes its own slice of it,
and averages gradients across processes right before each optimiser step
(gloo on CPU, NCCL on CUDA). Because stages do their own backward and step,
the averaging hooks the optimisers rather than wrapping the modules.

`train_stage` is the cached front end: runs live in
`RUNS_DIR/<stage>-<preset>-<hash8>/` and a completed run with the same config
hash is loaded instead of retrained.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import distributed as dist

from d2mlib._io import atomic_path, write_text
from d2mlib.errors import CheckpointError, ConfigError, D2MError, TrainingError

STAGES = ("style", "decomp", "comp")
CHECKPOINT_FORMAT = 1
METRIC_COLUMNS = ("step", "epoch", "split", "term", "value")
DONE_MARKER = "done"
EXECUTION_FIELDS = ("device", "num_workers", "log_every", "checkpoint_every")  # not in run hashes


@runtime_checkable
class Stage(Protocol):
    """What the loop needs from a training stage (see INTERFACES.md)."""

    name: str

    def modules(self) -> dict[str, torch.nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def training_step(self, batch: Any, step: int) -> dict[str, torch.Tensor]: ...

    def validation_step(self, batch: Any) -> dict[str, torch.Tensor]: ...


# --------------------------------------------------------------------------- devices, seeds


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Map "auto" to CUDA when present (else CPU); check an explicit device name."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return device


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch `epoch`'s data order: a fixed function of (seed, epoch)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed torch's global generators, CPU and CUDA (at run time, never at import).

    numpy and Python's global generators are not touched: d2mlib draws its
    randomness from explicit np.random.Generator / torch.Generator objects.
    """
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """torch's global RNG states, in types that `torch.load(weights_only=True)` accepts."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the RNG states saved by `rng_state`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write a checkpoint atomically (temporary file beside it, then rename)."""
    with atomic_path(path) as tmp:
        torch.save(dict(payload), tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; CheckpointError if missing, truncated or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"unreadable checkpoint (truncated or corrupt): {detail}", path
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("not a d2mlib checkpoint (missing or unknown format)", path)
    for key in ("modules", "optimizers", "step", "config"):
        if key not in ckpt:
            raise CheckpointError(f"checkpoint lacks {key!r}", path)
    return ckpt


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


# --------------------------------------------------------------------------- distributed


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


# --------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class LoopConfig:
    """How long and how verbosely the loop runs."""

    epochs: int | None = 1  # None: as many as max_steps needs
    max_steps: int | None = None  # stop after this many optimiser steps in total
    log_every: int = 10  # steps between host syncs (losses to CSV, bar, NaN check)
    ckpt_every: int | None = None  # steps between last.pt writes (besides every epoch end)
    val_every: int | None = None  # steps between validations (besides every epoch end)
    ckpt_each_epoch: bool = True  # also write last.pt at every epoch end
    val_batches: int | None = None  # cap on validation batches (None: the whole split)
    monitor: str | None = None  # validation term that picks best.pt (None: loss, total or the sum)
    monitor_mode: str = "min"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs is None and self.max_steps is None:
            raise ConfigError("give epochs or max_steps (or both)")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.val_every is not None and self.val_every < 1:
            raise ConfigError(f"val_every must be >= 1, got {self.val_every}")
        if self.log_every < 1:
            raise ConfigError(f"log_every must be >= 1, got {self.log_every}")
        if self.ckpt_every is not None and self.ckpt_every < 1:
            raise ConfigError(f"ckpt_every must be >= 1, got {self.ckpt_every}")
        if self.monitor_mode not in ("min", "max"):
            raise ConfigError(f"monitor_mode must be min or max, got {self.monitor_mode!r}")


@dataclass
class FitResult:
    """What `fit` leaves behind."""

    run_dir: Path
    step: int
    epoch: int
    best_value: float | None
    best_step: int | None
    resumed_from: int | None  # step of the checkpoint resumed from (None: fresh start)
    steps_run: int  # optimiser steps taken in this call
    seconds: float


class _MetricLog:
    """Buffers metric rows in memory and appends them to metrics.csv at log intervals."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        self.rows: list[tuple[int, int, str, str, float]] = []

    def start(self, keep_bytes: int | None) -> None:
        """Create the file (fresh) or cut it back to what the resumed checkpoint had seen."""
        if not self.enabled:
            return
        if keep_bytes is None or not self.path.exists():
            write_text(self.path, ",".join(METRIC_COLUMNS) + "\n")
        elif self.path.stat().st_size > keep_bytes:  # drop rows written after the checkpoint
            with open(self.path, "r+b") as fh:
                fh.truncate(keep_bytes)

    def add(self, step: int, epoch: int, split: str, term: str, value: float) -> None:
        """Queue one row."""
        if self.enabled:
            self.rows.append((step, epoch, split, term, value))

    def flush(self) -> int:
        """Append queued rows; return the file's size in bytes."""
        if not self.enabled:
            return 0
        if self.rows:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for step, epoch, split, term, value in self.rows:
                writer.writerow((step, epoch, split, term, repr(float(value))))
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            self.rows.clear()
        return self.path.stat().st_size


class _LossBuffer:
    """Per-step loss terms kept on the device; moved to the host once per log interval."""

    def __init__(self) -> None:
        self.values: list[torch.Tensor] = []
        self.keys: list[tuple[int, int, str]] = []  # (step, epoch, term)

    def add(self, step: int, epoch: int, losses: Mapping[str, torch.Tensor]) -> None:
        """Record the (detached, scalar) loss terms of one step."""
        for term, value in losses.items():
            self.keys.append((step, epoch, term))
            self.values.append(value.detach().reshape(()).float())

    def drain(self, info: DistInfo) -> list[tuple[int, int, str, float]]:
        """One host sync: every buffered value (averaged over processes) as rows."""
        if not self.values:
            return []
        stacked = torch.stack(self.values)
        if info.world_size > 1:
            dist.all_reduce(stacked)
            stacked /= info.world_size
        host = stacked.cpu().tolist()
        rows = [(s, e, t, v) for (s, e, t), v in zip(self.keys, host, strict=True)]
        self.values.clear()
        self.keys.clear()
        return rows


def _check_finite(rows: list[tuple[int, int, str, float]], run_dir: Path) -> None:
    """Raise TrainingError naming the first step and loss term whose value is NaN or infinite."""
    for step, _epoch, term, value in rows:
        if not math.isfinite(value):
            raise TrainingError(
                f"loss term {term!r} is {value} at step {step}; training stopped, "
                "the last good checkpoint is kept",
                run_dir,
            )


def _params_finite(modules: Mapping[str, torch.nn.Module]) -> bool:
    """Whether every parameter is finite (one host sync)."""
    flags = [torch.isfinite(p).all() for m in modules.values() for p in m.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


def fit(
    stage: Stage,
    train_batches: Callable[[int], Iterable[Any]],
    val_batches: Callable[[], Iterable[Any]] | None,
    run_dir: str | Path,
    loop: LoopConfig,
    *,
    seed: int = 0,
    config: Mapping[str, Any] | None = None,
    device: str | torch.device = "auto",
    resume: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train `stage` on `train_batches(epoch)` for `loop.epochs`, validating and checkpointing.

    `train_batches(epoch)` must yield the same batches for the same epoch on
    every call (draw the order from `epoch_seed(seed, epoch)`); batches are
    global batches, sliced per process under DDP. With `resume` and an
    existing `last.pt`, training continues from it. `extra` (tensors,
    numbers, strings) is stored in every checkpoint as is. Schedulers that
    the stage returns from an optional `schedulers()` are stepped once per
    training step; torch.Generators among the stage's attributes are saved
    and restored with the other RNG states.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    device = resolve_device(device)
    info = dist_info()
    modules = stage.modules()
    optimizers = stage.optimizers()
    schedulers: dict[str, Any] = stage.schedulers() if hasattr(stage, "schedulers") else {}
    generators = stage_generators(stage)
    for module in modules.values():
        module.to(device)
    if info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    log = _MetricLog(run_dir / "metrics.csv", enabled=info.main)
    monitor_sign = 1.0 if loop.monitor_mode == "min" else -1.0

    step, epoch, batch_in_epoch = 0, 0, 0
    best_value: float | None = None
    best_step: int | None = None
    resumed_from: int | None = None
    metrics_bytes: int | None = None
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path)
        _restore(ckpt, modules, optimizers, schedulers, generators, last_path, info)
        step, epoch, batch_in_epoch = ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]
        best_value, best_step = ckpt.get("best_value"), ckpt.get("best_step")
        last_val_step = int(ckpt.get("last_val_step", -1))
        resumed_from = step
        metrics_bytes = ckpt.get("metrics_bytes")
        for module in modules.values():
            module.to(device)
        _move_optimizer_state(optimizers, device)
    else:
        last_val_step = -1
        if info.main:
            best_path.unlink(missing_ok=True)  # a best.pt of an earlier attempt is not this run's
        seed_everything(seed + info.rank)
        if info.rank:  # each process draws its own noise
            for gen in generators.values():
                gen.manual_seed(epoch_seed(gen.initial_seed(), info.rank))
    log.start(metrics_bytes)
    hooks = []
    if info.world_size > 1:
        _broadcast_state(modules)
        hooks = [opt.register_step_pre_hook(_average_gradients_hook) for opt in optimizers.values()]

    def checkpoint_payload(rng: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "stage": stage.name,
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "modules": {k: m.state_dict() for k, m in modules.items()},
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
            "rng": rng,
            "config": dict(config or {}),
            "seed": seed,
            "best_value": best_value,
            "best_step": best_step,
            "last_val_step": last_val_step,
            "metrics_bytes": log.flush(),
            "world_size": info.world_size,
            "extra": dict(extra or {}),
        }

    buffer = _LossBuffer()
    bar = _progress(loop, info, step, train_batches)
    steps_run = 0

    def sync_losses() -> None:
        rows = buffer.drain(info)
        for s, e, term, value in rows:
            if math.isfinite(value):
                log.add(s + 1, e, "train", term, value)
        _check_finite_and_flush(rows)
        if rows and bar is not None:
            means: dict[str, list[float]] = {}
            for _s, _e, term, value in rows:
                means.setdefault(term, []).append(value)
            bar.set_postfix({k: f"{sum(v) / len(v):.4g}" for k, v in means.items()}, refresh=False)

    def _check_finite_and_flush(rows: list[tuple[int, int, str, float]]) -> None:
        bad = [r for r in rows if not math.isfinite(r[3])]
        if bad:
            first_bad = bad[0][0]
            log.rows = [r for r in log.rows if r[0] <= first_bad]
            log.flush()
            _close(bar)
            _check_finite(rows, run_dir)

    def write_last() -> None:
        sync_losses()
        if not _params_finite(modules):
            _close(bar)
            raise TrainingError(
                f"non-finite weights at step {step}; last good checkpoint kept", run_dir
            )
        rng = _gather_rng(info, generators)  # collective under DDP: every process calls it
        if info.main:
            save_checkpoint(last_path, checkpoint_payload(rng))
        _barrier(info)

    def validate() -> None:
        nonlocal best_value, best_step, last_val_step
        if val_batches is None or last_val_step == step:
            return
        last_val_step = step
        sync_losses()
        if info.main:
            values = _run_validation(stage, modules, val_batches, loop.val_batches, device)
            for term, value in values.items():
                log.add(step, epoch, "val", term, value)
            score = _monitor_value(values, loop.monitor)
            if score is not None and not math.isfinite(score):
                log.flush()
                _close(bar)
                raise TrainingError(f"validation loss is {score} at step {step}", run_dir)
            if score is not None and (
                best_value is None or monitor_sign * score < monitor_sign * best_value
            ):
                best_value, best_step = score, step
                if not _params_finite(modules):
                    raise TrainingError(f"non-finite weights at step {step}", run_dir)
                save_checkpoint(best_path, checkpoint_payload(_gather_rng(DistInfo(), generators)))
        _barrier(info)

    def run_epochs() -> None:
        nonlocal step, epoch, batch_in_epoch, steps_run
        done = loop.max_steps is not None and step >= loop.max_steps
        while not done and (loop.epochs is None or epoch < loop.epochs):
            batches = iter(train_batches(epoch))
            for _ in itertools.islice(batches, batch_in_epoch):
                pass
            for module in modules.values():
                module.train()
            for batch in batches:
                if loop.max_steps is not None and step >= loop.max_steps:
                    done = True
                    break
                batch = _to_device(shard_batch(batch, info.rank, info.world_size), device)
                losses = stage.training_step(batch, step)
                for sched in schedulers.values():
                    sched.step()
                buffer.add(step, epoch, losses)
                step += 1
                steps_run += 1
                batch_in_epoch += 1
                if bar is not None:
                    bar.update(1)
                if step % loop.log_every == 0:
                    sync_losses()
                if loop.val_every and step % loop.val_every == 0:
                    validate()
                if loop.ckpt_every and step % loop.ckpt_every == 0:
                    write_last()
            else:
                if batch_in_epoch == 0:
                    raise TrainingError(f"epoch {epoch} yielded no training batches", run_dir)
                validate()
                epoch += 1
                batch_in_epoch = 0
                if loop.ckpt_each_epoch:
                    write_last()

    try:
        run_epochs()
        validate()
        write_last()
    finally:
        _close(bar)
        for hook in hooks:
            hook.remove()
    return FitResult(
        run_dir=run_dir,
        step=step,
        epoch=epoch,
        best_value=best_value,
        best_step=best_step,
        resumed_from=resumed_from,
        steps_run=steps_run,
        seconds=time.perf_counter() - t0,
    )


def _barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()


def _progress(
    loop: LoopConfig, info: DistInfo, initial: int, train_batches: Callable[[int], Iterable[Any]]
) -> Any:
    """A tqdm bar on the main process when asked for, else None."""
    if not (loop.progress and info.main):
        return None
    from tqdm.auto import tqdm

    total = loop.max_steps
    if loop.epochs is not None:
        first = train_batches(0)
        if hasattr(first, "__len__"):
            by_epochs = loop.epochs * len(first)  # type: ignore[arg-type]
            total = by_epochs if total is None else min(total, by_epochs)
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=False)


def _close(bar: Any) -> None:
    if bar is not None:
        bar.close()


def stage_generators(stage: Any) -> dict[str, torch.Generator]:
    """The stage's own torch.Generators (its `generators()` or its Generator attributes)."""
    if hasattr(stage, "generators"):
        return dict(stage.generators())
    return {k: v for k, v in vars(stage).items() if isinstance(v, torch.Generator)}


def _gather_rng(info: DistInfo, generators: Mapping[str, torch.Generator]) -> dict[str, Any]:
    """Global and stage-generator RNG states of every process (rank r at index r)."""
    mine = rng_state() | {"generators": {k: g.get_state() for k, g in generators.items()}}
    if info.world_size == 1:
        return {"ranks": [mine]}
    everyone: list[Any] = [None] * info.world_size
    dist.all_gather_object(everyone, mine)
    return {"ranks": everyone}


def _restore(
    ckpt: Mapping[str, Any],
    modules: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
    generators: Mapping[str, torch.Generator],
    path: Path,
    info: DistInfo,
) -> None:
    """Load module, optimiser, scheduler and RNG states from a checkpoint."""
    for kind, targets in (
        ("modules", modules),
        ("optimizers", optimizers),
        ("schedulers", schedulers),
    ):
        saved = ckpt.get(kind, {})
        missing = set(targets) - set(saved)
        if missing:
            raise CheckpointError(f"checkpoint lacks {kind} {sorted(missing)}", path)
        for name, target in targets.items():
            try:
                target.load_state_dict(saved[name])
            except (RuntimeError, KeyError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise CheckpointError(
                    f"{kind} {name!r} does not match the model: {first}", path
                ) from exc
    ranks = ckpt.get("rng", {}).get("ranks", [])
    if info.rank < len(ranks) and ckpt.get("world_size", 1) == info.world_size:
        mine = ranks[info.rank]
        set_rng_state(mine)
        saved = mine.get("generators", {})
        for name, gen in generators.items():
            if name not in saved:
                raise CheckpointError(f"checkpoint lacks the state of generator {name!r}", path)
            gen.set_state(saved[name])
    else:  # resumed with another number of processes: continue from derived seeds
        step = int(ckpt["step"])
        seed_everything(epoch_seed(int(ckpt.get("seed", 0)) + info.rank, step))
        for gen in generators.values():
            gen.manual_seed(epoch_seed(gen.initial_seed() + info.rank, step))


def _move_optimizer_state(
    optimizers: Mapping[str, torch.optim.Optimizer], device: torch.device
) -> None:
    """Put optimiser state tensors (loaded on CPU) beside their parameters."""
    for opt in optimizers.values():
        for state in opt.state.values():
            for k, v in state.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    state[k] = v.to(device)


def _run_validation(
    stage: Stage,
    modules: Mapping[str, torch.nn.Module],
    val_batches: Callable[[], Iterable[Any]],
    limit: int | None,
    device: torch.device,
) -> dict[str, float]:
    """Mean of each validation term over the validation batches (one host sync)."""
    for module in modules.values():
        module.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    with torch.no_grad():
        for batch in itertools.islice(val_batches(), limit):
            out = stage.validation_step(_to_device(batch, device))
            for term, value in out.items():
                v = value.detach().reshape(()).float()
                sums[term] = sums[term] + v if term in sums else v
            count += 1
    for module in modules.values():
        module.train()
    if not count:
        return {}
    host = torch.stack(list(sums.values())).cpu().tolist()
    return {term: v / count for term, v in zip(sums, host, strict=True)}


def _monitor_value(values: Mapping[str, float], monitor: str | None) -> float | None:
    """The validation number that decides best.pt."""
    if not values:
        return None
    if monitor is not None:
        if monitor not in values:
            raise ConfigError(
                f"monitor term {monitor!r} not among validation terms {sorted(values)}"
            )
        return values[monitor]
    for name in ("loss", "total"):
        if name in values:
            return values[name]
    return float(sum(values.values()))


# --------------------------------------------------------------------------- stages and runs


@dataclass
class Run:
    """A training run directory: RUNS_DIR/<stage>-<preset>-<hash8>/."""

    path: Path
    stage: str
    cfg: Any  # d2mlib.config.Config
    step: int
    cached: bool = False  # True when an existing finished run was loaded instead of trained
    result: FitResult | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        """Whether the run finished (its `done` marker exists)."""
        return (self.path / DONE_MARKER).is_file()

    def checkpoint_path(self, which: str = "best") -> Path:
        """best.pt (falling back to last.pt when there was no validation) or last.pt."""
        if which not in ("best", "last"):
            raise ConfigError(f"which must be 'best' or 'last', got {which!r}")
        best, last = self.path / "best.pt", self.path / "last.pt"
        if which == "best" and best.is_file():
            return best
        if last.is_file():
            return last
        raise CheckpointError("run has no checkpoint (last.pt missing)", self.path)

    def metrics(self) -> Any:
        """metrics.csv as a pandas DataFrame (step, epoch, split, term, value)."""
        import pandas as pd

        path = self.path / "metrics.csv"
        if not path.is_file():
            raise CheckpointError("run has no metrics.csv", self.path)
        return pd.read_csv(path)

    def modules(self, which: str = "best", device: str | torch.device = "cpu") -> dict[str, Any]:
        """The run's trained modules, rebuilt from its stored config (eval mode)."""
        modules, _ = load_run(self.path, which=which, device=device)
        return modules


def stage_config(stage: str, cfg: Any) -> dict[str, Any]:
    """The part of a config that decides a stage's run (its model, training and data settings)."""
    from d2mlib import config as cfgmod

    d = cfgmod.to_dict(cfg)
    parts = {
        "style": ("style", "train_style"),
        "decomp": ("dance_unit", "train_decomp"),
        "comp": ("style", "dance_unit", "composer", "train_style", "train_decomp", "train_comp"),
    }
    if stage not in parts:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")
    out = {k: d[k] for k in parts[stage]}
    for key in parts[stage]:
        if key.startswith("train_"):  # how a run is executed does not change what it learns
            out[key] = {
                k: v
                for k, v in out[key].items()
                if k not in EXECUTION_FIELDS and cfgmod.HASH_SKIP_DEFAULTS.get(k, object()) != v
            }
    out["data"] = d["data"]
    out["stage"] = stage
    return out


def _hash(obj: Any) -> str:
    import hashlib
    import json

    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _data_identity(data_dir: Path) -> Any:
    """What identifies a dataset: the synthetic marker (preset, seed) or the resolved path."""
    from d2mlib import data

    marker = data.dataset_complete(data_dir)
    if marker is not None:
        return {"preset": marker.get("preset"), "seed": marker.get("seed")}
    return str(Path(data_dir).resolve())


def run_name(stage: str, cfg: Any, data_dir: str | Path | None = None) -> str:
    """<stage>-<preset>-<hash8>: the hash covers the stage's config, its seed and the dataset."""
    key = {"config": stage_config(stage, cfg)}
    if data_dir is not None:
        key["data"] = _data_identity(Path(data_dir))
    return f"{stage}-{cfg.preset}-{_hash(key)[:8]}"


def make_config(
    preset: str = "book", path: str | Path | None = None, seed: int | None = None
) -> Any:
    """A Config from a preset, or from a YAML file (which wins), with every stage's seed overridden."""
    from d2mlib import config as cfgmod

    cfg = cfgmod.from_yaml(Path(path)) if path is not None else cfgmod.preset(preset)
    if seed is not None:
        r = dataclasses.replace
        cfg = r(
            cfg,
            train_style=r(cfg.train_style, seed=seed),
            train_decomp=r(cfg.train_decomp, seed=seed),
            train_comp=r(cfg.train_comp, seed=seed),
        )
    return cfg


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"unreadable run file: {exc}", path) from exc
    if not isinstance(data, dict):
        raise CheckpointError("run file does not hold a mapping", path)
    return data


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    import json

    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _read_run(path: Path, cached: bool = True) -> Run:
    """A Run object for an existing run directory."""
    from d2mlib import config as cfgmod

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError("run directory not found", path)
    if not (path / "config.yaml").is_file():
        raise CheckpointError("not a run directory (config.yaml missing)", path)
    info = _read_json(path / "run.json") if (path / "run.json").is_file() else {}
    done = _read_json(path / DONE_MARKER) if (path / DONE_MARKER).is_file() else {}
    stage = info.get("stage") or path.name.split("-")[0]
    cfg = cfgmod.from_yaml(path / "config.yaml")
    return Run(path, stage, cfg, int(done.get("step", 0)), cached=cached, info=info | done)


def find_run(
    runs_dir: str | Path,
    stage: str,
    cfg: Any | None = None,
    data_dir: str | Path | None = None,
) -> Run | None:
    """The newest finished run of `stage` under `runs_dir` (matching `cfg` and `data_dir` if given)."""
    runs_dir = Path(runs_dir)
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")
    if not runs_dir.is_dir():
        return None
    want_cfg = _hash(stage_config(stage, cfg)) if cfg is not None else None
    want_data = _data_identity(Path(data_dir)) if data_dir is not None else None
    found: list[tuple[float, Path]] = []
    for path in runs_dir.glob(f"{stage}-*"):
        marker = path / DONE_MARKER
        if not marker.is_file() or not (path / "run.json").is_file():
            continue
        info = _read_json(path / "run.json")
        if info.get("stage") != stage:
            continue
        if want_cfg is not None and info.get("config_hash") != want_cfg:
            continue
        if want_data is not None and info.get("data") != want_data:
            continue
        found.append((marker.stat().st_mtime, path))
    if not found:
        return None
    return _read_run(max(found)[1])


def _open_store(data_dir: Path, info: DistInfo) -> Any:
    """FeatureStore.open, built by one process first under DDP."""
    from d2mlib import data

    if info.world_size > 1 and not info.main:
        dist.barrier()
        return data.FeatureStore.open(data_dir)
    store = data.FeatureStore.open(data_dir)
    if info.world_size > 1:
        dist.barrier()
    return store


def _loaders(stage: str, cfg: Any, store: Any) -> tuple[Any, Any]:
    """(train loader, validation loader or None) of a stage; order drawn from (seed, epoch)."""
    from d2mlib import data
    from d2mlib.errors import DataError

    t = cfg.train_for(stage)
    common = {"batch_size": t.batch_size, "seed": t.seed, "num_workers": t.num_workers}
    if stage == "style":
        make = partial_loader(data.audio_loader, window=cfg.style.window)
        val_kw = {"shuffle": False}
    elif stage == "decomp":
        make = partial_loader(data.unit_loader, jitter=cfg.data.jitter)
        val_kw = {"shuffle": False, "jitter": False, "drop_last": False}
    else:
        make = partial_loader(data.sequence_loader, n_units=tuple(cfg.data.seq_units))
        val_kw = {"shuffle": False, "drop_last": False}
    train_loader = make(store, "train", **common, drop_last=True)
    try:
        val_loader = make(store, "val", **(common | {"num_workers": 0}), **val_kw)
    except DataError:
        val_loader = None  # a dataset without a validation split (tiny smoke data)
    return train_loader, val_loader


def partial_loader(fn: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    """`fn` with some keyword arguments fixed."""

    def make(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **(fixed | kwargs))

    return make


def _epoch_batches(loader: Any) -> Callable[[int], Iterable[Any]]:
    """epoch -> the loader's batches of that epoch (a function of the loader's seed and epoch)."""

    def batches(epoch: int) -> Iterable[Any]:
        loader.set_epoch(epoch)
        return loader

    return batches


def _val_batches(loader: Any) -> Callable[[], Iterable[Any]]:
    def batches() -> Iterable[Any]:
        loader.set_epoch(0)
        return loader

    return batches


def build_stage(stage: str, cfg: Any, device: str | torch.device = "cpu", deps: Any = None) -> Any:
    """The Stage object of `stage` for `cfg`.

    For "comp", `deps` maps "style" and "dance_unit" to the trained (frozen) modules.
    """
    device = str(resolve_device(device))
    if stage == "style":
        from d2mlib.models.style import StyleStage

        return StyleStage(cfg, device=device)
    if stage == "decomp":
        from d2mlib.models.dance_unit import DecompStage

        return DecompStage(cfg, device=device)
    if stage == "comp":
        from d2mlib.models.composer import CompStage

        if not deps or "style" not in deps or "dance_unit" not in deps:
            raise CheckpointError("the composition stage needs trained style and decomp modules")
        return CompStage(cfg, deps["style"], deps["dance_unit"], device=device)
    raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")


def _stats(store: Any) -> dict[str, torch.Tensor]:
    """The dataset normalisation stats a run needs at generation time."""
    norm = store.pose_normaliser
    return {
        "pose_mean": torch.as_tensor(np.asarray(norm.mean, np.float32)),
        "pose_std": torch.as_tensor(np.asarray(norm.std, np.float32)),
        "audio_mean": torch.as_tensor(np.asarray(store.audio_mean, np.float32)),
        "audio_std": torch.as_tensor(np.asarray(store.audio_std, np.float32)),
    }


def _comp_deps(
    cfg: Any, data_dir: Path, runs_dir: Path, train_missing: bool, device: Any, progress: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The trained style and decomposition modules the composition stage builds on."""
    modules: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for dep in ("style", "decomp"):
        run = find_run(runs_dir, dep, cfg, data_dir)
        if run is None:
            if not train_missing:
                raise CheckpointError(
                    f"no finished {dep} run for this config and data; train it first "
                    f"(d2m train {dep} --preset {cfg.preset} ...)",
                    runs_dir,
                )
            run = train_stage(dep, cfg, data_dir, runs_dir, device=device, progress=progress)
        mods, _ = load_run(run.path, device=device)
        key = "style" if dep == "style" else "dance_unit"
        modules[key] = mods[key]
        paths[dep] = run.path.name  # a sibling of the composition run
    return modules, paths


def train_stage(
    stage: str,
    cfg: Any,
    data_dir: str | Path,
    runs_dir: str | Path,
    resume: bool = True,
    device: str | torch.device | None = None,
    progress: bool = True,
    train_missing: bool = True,
    styles: Sequence[str] | None = None,
) -> Run:
    """Train one stage into RUNS_DIR/<stage>-<preset>-<hash8>/, or load it if it already finished.

    With `resume`, a finished run with the same config hash is returned as is
    (no training), and an unfinished one continues from its last.pt. The
    composition stage loads the style and decomposition runs of the same
    config under `runs_dir`, training them first when missing (or raising
    CheckpointError when `train_missing` is False). With `styles`, training and
    validation see those styles only and the run folder ends in their names
    (e.g. `-ballet`), so `find_run` never takes it for the all-styles run.
    """
    from d2mlib import config as cfgmod
    from d2mlib import data
    from d2mlib.errors import DataError

    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")
    if styles is not None:
        unknown = sorted(set(styles) - set(data.STYLES))
        if not styles or unknown:
            raise ConfigError(f"styles must be a non-empty subset of {data.STYLES}, got {styles}")
        styles = sorted(styles)
    data_dir, runs_dir = Path(data_dir), Path(runs_dir)
    if not data_dir.is_dir():
        raise DataError("data directory not found", data_dir)
    tcfg = cfg.train_for(stage)
    device = resolve_device(device if device is not None else tcfg.device)
    info = init_distributed(device)
    if device.type == "cuda" and info.world_size > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    path = runs_dir / run_name(stage, cfg, data_dir)
    if styles is not None:
        path = path.with_name(f"{path.name}-{'+'.join(styles)}")
    if resume and (path / DONE_MARKER).is_file():
        return _read_run(path, cached=True)

    deps: dict[str, Any] = {}
    dep_paths: dict[str, str] = {}
    if stage == "comp":
        deps, dep_paths = _comp_deps(cfg, data_dir, runs_dir, train_missing, device, progress)
    store = _open_store(data_dir, info)
    train_loader, val_loader = _loaders(stage, cfg, store)
    if styles is not None:
        keep = [data.STYLES.index(name) for name in styles]
        for loader in (train_loader, val_loader):
            if loader is not None:
                data.keep_styles(loader, store, keep)
    stage_obj = build_stage(stage, cfg, device, deps)
    hashed = stage_config(stage, cfg)
    run_info = {
        "stage": stage,
        "preset": cfg.preset,
        "config_hash": _hash(hashed if styles is None else {"config": hashed, "styles": styles}),
        "data": _data_identity(data_dir),
        "data_dir": str(data_dir),
        "seed": tcfg.seed,
        "deps": dep_paths,
        "world_size": info.world_size,
        "device": str(device),
    }
    if styles is not None:
        run_info["styles"] = list(styles)
    if info.main:
        path.mkdir(parents=True, exist_ok=True)
        (path / DONE_MARKER).unlink(missing_ok=True)
        cfgmod.to_yaml(cfg, path / "config.yaml")
        _write_json(path / "run.json", run_info)
    _barrier(info)
    loop = LoopConfig(
        epochs=tcfg.epochs or None,
        max_steps=None if tcfg.epochs else tcfg.steps,
        log_every=tcfg.log_every,
        ckpt_every=tcfg.checkpoint_every,
        val_every=tcfg.val_every,
        val_batches=100,
        ckpt_each_epoch=bool(tcfg.epochs),  # step-based runs checkpoint every checkpoint_every
        monitor=getattr(stage_obj, "monitor", None),
        monitor_mode=getattr(stage_obj, "monitor_mode", "min"),
        progress=progress,
    )
    result = fit(
        stage_obj,
        _epoch_batches(train_loader),
        None if val_loader is None else _val_batches(val_loader),
        path,
        loop,
        seed=tcfg.seed,
        config=cfgmod.to_dict(cfg),
        device=device,
        resume=resume,
        extra={
            "stage": stage,
            "stats": _stats(store),
            "run": {k: str(v) for k, v in run_info.items()},
        },
    )
    if info.main:
        _write_json(
            path / DONE_MARKER,
            {"step": result.step, "epoch": result.epoch, "seconds": result.seconds},
        )
    _barrier(info)
    run = _read_run(path, cached=False)
    run.result = result
    run.step = result.step
    return run


def load_run(
    path: str | Path, which: str = "best", device: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Any]:
    """(modules, cfg) of a run, rebuilt from its stored config and checkpoint, in eval mode.

    The modules dict holds the stage's modules plus "stats" (the dataset's
    normalisation tensors the run was trained with); a composition run also
    holds its frozen "style" and "dance_unit" modules, loaded from the style
    and decomposition runs beside it.
    """
    run = _read_run(Path(path))
    ckpt = load_checkpoint(run.checkpoint_path(which), map_location="cpu")
    stage = ckpt.get("stage", run.stage)
    deps: dict[str, Any] = {}
    if stage == "comp":
        for dep, key in (("style", "style"), ("decomp", "dance_unit")):
            name = run.info.get("deps", {}).get(dep)
            dep_path = run.path.parent / name if name else None
            if dep_path is None or not dep_path.is_dir():
                raise CheckpointError(
                    f"the {dep} run this composition run builds on ({name}) is missing beside it",
                    run.path,
                )
            dep_modules, _ = load_run(dep_path, device=device)
            deps[key] = dep_modules[key]
    stage_obj = build_stage(stage, run.cfg, device, deps)
    modules = stage_obj.modules()
    for name, module in modules.items():
        if name not in ckpt["modules"]:
            raise CheckpointError(f"checkpoint lacks module {name!r}", run.path)
        try:
            module.load_state_dict(ckpt["modules"][name])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(
                f"module {name!r} does not match its config: {first}", run.path
            ) from exc
        module.to(resolve_device(device)).eval()
    out: dict[str, Any] = dict(modules)
    for key, module in deps.items():
        out[key] = module.eval()
    out["stats"] = ckpt.get("extra", {}).get("stats", {})
    return out, run.cfg


# --------------------------------------------------------------------------- runs shared across folders


def link_run(run: Run | str | Path, runs_dir: str | Path) -> Path:
    """Make a finished run visible under another runs folder (a relative symlink there).

    A composition run looks for its style and decomposition runs in its own folder; linking
    the shared ones lets a chapter keep its extra composition runs apart without retraining.
    """
    src = Path(run.path if isinstance(run, Run) else run).resolve()
    if not (src / DONE_MARKER).is_file():
        raise CheckpointError("only a finished run can be linked", src)
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    dst = runs_dir / src.name
    if dst.exists() or dst.is_symlink():
        if dst.resolve() == src:
            return dst
        raise CheckpointError(f"another run of the same name is already there ({src.name})", dst)
    dst.symlink_to(os.path.relpath(src, runs_dir.resolve()), target_is_directory=True)
    return dst


def with_trained_decomp(cfg: Any, runs_dir: str | Path, data_dir: str | Path) -> Any:
    """`cfg` with the decomposition training of the longest finished decomposition run under
    `runs_dir` on `data_dir` that has cfg's dance-unit model (`cfg` itself when there is none)."""
    best: tuple[int, Any] | None = None
    want = _data_identity(Path(data_dir))
    for path in Path(runs_dir).glob("decomp-*"):
        if not (path / DONE_MARKER).is_file() or not (path / "run.json").is_file():
            continue
        if _read_json(path / "run.json").get("data") != want:
            continue
        run = _read_run(path)
        if run.cfg.dance_unit == cfg.dance_unit and (best is None or run.step > best[0]):
            best = (run.step, run.cfg)
    if best is None:
        return cfg
    return dataclasses.replace(cfg, train_decomp=best[1].train_decomp)


def train_stage_on_styles(
    stage: str,
    cfg: Any,
    data_dir: str | Path,
    runs_dir: str | Path,
    styles: list[str] | tuple[str, ...],
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Run:
    """Train `stage` on the training data of some styles only (e.g. a ballet-only composer).

    `train_stage` with `styles`: cached by config, data and styles; the composition stage
    builds on the style and decomposition runs of `cfg` under `runs_dir` (all styles).
    """
    return train_stage(
        stage, cfg, data_dir, runs_dir, device=device, progress=progress, styles=styles
    )


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `python -m d2mlib.train` (also what torchrun launches)."""
    p = argparse.ArgumentParser(prog="python -m d2mlib.train", description="Train one stage.")
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--preset", choices=("paper", "improved", "book", "smoke"), default="book")
    p.add_argument("--config", type=Path, default=None, help="YAML config (overrides the preset)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--out", type=Path, default=Path("runs"), help="runs directory")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-resume", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train a stage from the command line; D2MError -> one line on stderr, exit 1."""
    args = build_parser().parse_args(argv)
    is_main = True
    try:
        cfg = make_config(args.preset, args.config, args.seed)
        run = train_stage(
            args.stage,
            cfg,
            args.data,
            args.out,
            resume=not args.no_resume,
            device=args.device,
            progress=not args.quiet,
        )
        is_main = dist_info().main
    except D2MError as exc:
        message = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        print(f"d2mlib.train: error: {message}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if is_main:
        print(
            f"{'reused' if run.cached else 'trained'} {run.stage} run {run.path} (step {run.step})"
        )
    return 0


# --------------------------------------------------------------------------- chapters: steps, held-out scores


def with_steps(cfg: Any, steps: int | None) -> Any:
    """`cfg` with every stage's step count set to `steps` (None: `cfg` unchanged)."""
    if steps is None:
        return cfg
    if isinstance(steps, bool) or int(steps) < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    r = dataclasses.replace
    return r(
        cfg,
        train_style=r(cfg.train_style, steps=int(steps), epochs=0),
        train_decomp=r(cfg.train_decomp, steps=int(steps), epochs=0),
        train_comp=r(cfg.train_comp, steps=int(steps), epochs=0),
    )


def _split_loader(stage: str, cfg: Any, store: Any, split: str, batch_size: int) -> Any:
    """The validation-style loader of `stage` (fixed order, no jitter) on another split."""
    from d2mlib import data

    common = {"batch_size": batch_size, "seed": cfg.train_for(stage).seed, "shuffle": False}
    if stage == "style":
        return data.audio_loader(store, split, window=cfg.style.window, **common)
    if stage == "decomp":
        return data.unit_loader(store, split, jitter=False, drop_last=False, **common)
    return data.sequence_loader(
        store, split, n_units=tuple(cfg.data.seq_units), drop_last=False, **common
    )


def evaluate_run(
    path: str | Path,
    data_dir: str | Path,
    split: str = "test",
    which: str = "best",
    max_batches: int | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Mean validation terms (e.g. the style extractor's loss and accuracy) of a run on `split`."""
    from d2mlib import data

    run = _read_run(Path(path))
    modules, cfg = load_run(run.path, which=which, device=device)
    deps = {k: modules[k] for k in ("style", "dance_unit")} if run.stage == "comp" else None
    stage_obj = build_stage(run.stage, cfg, device, deps)
    for name, module in stage_obj.modules().items():
        module.load_state_dict(modules[name].state_dict())
    loader = _split_loader(run.stage, cfg, data.FeatureStore.open(data_dir), split, batch_size)
    values = _run_validation(
        stage_obj, stage_obj.modules(), _val_batches(loader), max_batches, resolve_device(device)
    )
    if not values:
        raise D2MError(f"split {split!r} yielded no batches", data_dir)
    return values


_MAIN_MODULE = {"style": "style", "decomp": "dance_unit", "comp": "composer"}


def runs_overview(runs: Mapping[str, Run]) -> Any:
    """One row per stage's run: steps, batch size, trained parameters (millions), minutes, cached."""
    import pandas as pd

    rows = {}
    for stage, run in runs.items():
        ckpt = load_checkpoint(run.checkpoint_path("last"))
        weights = ckpt["modules"][_MAIN_MODULE[run.stage]]
        n_params = sum(int(v.numel()) for v in weights.values() if v.is_floating_point())
        rows[stage] = {
            "steps": int(run.step),
            "batch size": int(run.cfg.train_for(run.stage).batch_size),
            "parameters (M)": n_params / 1e6,
            "minutes": float(run.info.get("seconds", float("nan"))) / 60,
            "cached": bool(run.cached),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


if __name__ == "__main__":
    sys.exit(main())
