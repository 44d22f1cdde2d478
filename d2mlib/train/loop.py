"""The training loop (`fit`): any Stage, with logging, validation, best/last checkpoints and
resuming to the same weights.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import distributed as dist
from tqdm.auto import tqdm

from d2mlib._io import write_text
from d2mlib.config import resolve_device
from d2mlib.errors import ConfigError, TrainingError
from d2mlib.train.checkpoints import (
    CHECKPOINT_FORMAT,
    _gather_rng,
    _move_optimizer_state,
    _restore,
    epoch_seed,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    stage_generators,
)
from d2mlib.train.distributed import (
    DistInfo,
    _average_gradients_hook,
    _barrier,
    _broadcast_state,
    _to_device,
    dist_info,
    shard_batch,
)

METRIC_COLUMNS = ("step", "epoch", "split", "term", "value")


@runtime_checkable
class Stage(Protocol):
    """What the loop needs from a training stage: its modules, optimisers and two steps."""

    name: str

    def modules(self) -> dict[str, torch.nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def training_step(self, batch: Any, step: int) -> dict[str, torch.Tensor]: ...

    def validation_step(self, batch: Any) -> dict[str, torch.Tensor]: ...


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
    monitor_mode: str = "min"  # or "max"; "last": best.pt is the latest validated state
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
        if self.monitor_mode not in ("min", "max", "last"):
            raise ConfigError(f"monitor_mode must be min, max or last, got {self.monitor_mode!r}")


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
    run = _Fit(stage, train_batches, val_batches, Path(run_dir), loop, seed, config, device, extra)
    run.start(resume)
    try:
        run.run_epochs()
        run.validate()
        run.write_last()
    finally:
        _close(run.bar)
        for hook in run.hooks:
            hook.remove()
    return FitResult(
        run_dir=run.run_dir,
        step=run.step,
        epoch=run.epoch,
        best_value=run.best_value,
        best_step=run.best_step,
        resumed_from=run.resumed_from,
        steps_run=run.steps_run,
        seconds=time.perf_counter() - t0,
    )


class _Fit:
    """The state of one `fit` call: position, best score, metric log, progress bar."""

    def __init__(
        self,
        stage: Stage,
        train_batches: Callable[[int], Iterable[Any]],
        val_batches: Callable[[], Iterable[Any]] | None,
        run_dir: Path,
        loop: LoopConfig,
        seed: int,
        config: Mapping[str, Any] | None,
        device: str | torch.device,
        extra: Mapping[str, Any] | None,
    ) -> None:
        self.stage, self.train_batches, self.val_batches = stage, train_batches, val_batches
        self.run_dir, self.loop, self.seed = run_dir, loop, seed
        self.config, self.extra = config, extra
        self.device = resolve_device(device)
        self.info = dist_info()
        self.modules = stage.modules()
        self.optimizers = stage.optimizers()
        self.schedulers: dict[str, Any] = stage.schedulers() if hasattr(stage, "schedulers") else {}
        self.generators = stage_generators(stage)
        for module in self.modules.values():
            module.to(self.device)
        if self.info.main:
            run_dir.mkdir(parents=True, exist_ok=True)
        self.last_path, self.best_path = run_dir / "last.pt", run_dir / "best.pt"
        self.log = _MetricLog(run_dir / "metrics.csv", enabled=self.info.main)
        self.monitor_sign = -1.0 if loop.monitor_mode == "max" else 1.0
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.resumed_from: int | None = None
        self.last_val_step = -1
        self.steps_run = 0
        self.hooks: list[Any] = []
        self.bar: Any = None
        self.buffer = _LossBuffer()

    def start(self, resume: bool) -> None:
        """Resume from last.pt (or start fresh: seeds drawn, a stale best.pt removed)."""
        info, metrics_bytes = self.info, None
        if resume and self.last_path.exists():
            ckpt = load_checkpoint(self.last_path)
            _restore(
                ckpt,
                self.modules,
                self.optimizers,
                self.schedulers,
                self.generators,
                self.last_path,
                info,
            )
            self.step, self.epoch = ckpt["step"], ckpt["epoch"]
            self.batch_in_epoch = ckpt["batch_in_epoch"]
            self.best_value, self.best_step = ckpt.get("best_value"), ckpt.get("best_step")
            self.last_val_step = int(ckpt.get("last_val_step", -1))
            self.resumed_from = self.step
            metrics_bytes = ckpt.get("metrics_bytes")
            for module in self.modules.values():
                module.to(self.device)
            _move_optimizer_state(self.optimizers, self.device)
        else:
            if info.main:
                self.best_path.unlink(missing_ok=True)  # an earlier attempt's, not this run's
            seed_everything(self.seed + info.rank)
            if info.rank:  # each process draws its own noise
                for gen in self.generators.values():
                    gen.manual_seed(epoch_seed(gen.initial_seed(), info.rank))
        self.log.start(metrics_bytes)
        if info.world_size > 1:
            _broadcast_state(self.modules)
            self.hooks = [
                opt.register_step_pre_hook(_average_gradients_hook)
                for opt in self.optimizers.values()
            ]
        self.bar = _progress(self.loop, info, self.step, self.train_batches)

    def payload(self, rng: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the current state."""
        return {
            "format": CHECKPOINT_FORMAT,
            "stage": self.stage.name,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "rng": rng,
            "config": dict(self.config or {}),
            "seed": self.seed,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "last_val_step": self.last_val_step,
            "metrics_bytes": self.log.flush(),
            "world_size": self.info.world_size,
            "extra": dict(self.extra or {}),
        }

    def sync_losses(self) -> None:
        """Log the buffered training losses (averaged over processes); stop on a non-finite one."""
        rows = self.buffer.drain(self.info)
        for s, e, term, value in rows:
            if math.isfinite(value):
                self.log.add(s + 1, e, "train", term, value)
        self._check_finite_and_flush(rows)
        if rows and self.bar is not None:
            means: dict[str, list[float]] = {}
            for _s, _e, term, value in rows:
                means.setdefault(term, []).append(value)
            postfix = {k: f"{sum(v) / len(v):.4g}" for k, v in means.items()}
            self.bar.set_postfix(postfix, refresh=False)

    def _check_finite_and_flush(self, rows: list[tuple[int, int, str, float]]) -> None:
        bad = [r for r in rows if not math.isfinite(r[3])]
        if bad:
            first_bad = bad[0][0]
            self.log.rows = [r for r in self.log.rows if r[0] <= first_bad]
            self.log.flush()
            _close(self.bar)
            _check_finite(rows, self.run_dir)

    def write_last(self) -> None:
        """Write last.pt (every process gathers its RNG state; the main one writes)."""
        self.sync_losses()
        if not _params_finite(self.modules):
            _close(self.bar)
            raise TrainingError(
                f"non-finite weights at step {self.step}; last good checkpoint kept", self.run_dir
            )
        rng = _gather_rng(self.info, self.generators)  # collective under DDP: all processes call
        if self.info.main:
            save_checkpoint(self.last_path, self.payload(rng))
        _barrier(self.info)

    def validate(self) -> None:
        """Validate once per step reached, and keep best.pt for the best monitored value."""
        if self.val_batches is None or self.last_val_step == self.step:
            return
        self.last_val_step = self.step
        self.sync_losses()
        if self.info.main:
            values = run_validation(
                self.stage, self.modules, self.val_batches, self.loop.val_batches, self.device
            )
            for term, value in values.items():
                self.log.add(self.step, self.epoch, "val", term, value)
            self._keep_best(_monitor_value(values, self.loop.monitor))
        _barrier(self.info)

    def _keep_best(self, score: float | None) -> None:
        if score is not None and not math.isfinite(score):
            self.log.flush()
            _close(self.bar)
            raise TrainingError(f"validation loss is {score} at step {self.step}", self.run_dir)
        if score is None:
            return
        sign, latest = self.monitor_sign, self.loop.monitor_mode == "last"
        if latest or self.best_value is None or sign * score < sign * self.best_value:
            self.best_value, self.best_step = score, self.step
            if not _params_finite(self.modules):
                raise TrainingError(f"non-finite weights at step {self.step}", self.run_dir)
            rng = _gather_rng(DistInfo(), self.generators)
            save_checkpoint(self.best_path, self.payload(rng))

    def _steps_left(self) -> bool:
        return self.loop.max_steps is None or self.step < self.loop.max_steps

    def run_epochs(self) -> None:
        """Epochs until `loop.epochs` or `loop.max_steps`, from the current position."""
        loop = self.loop
        done = not self._steps_left()
        while not done and (loop.epochs is None or self.epoch < loop.epochs):
            done = not self._run_epoch()
            if done:
                break
            if self.batch_in_epoch == 0:
                raise TrainingError(f"epoch {self.epoch} yielded no training batches", self.run_dir)
            self.validate()
            self.epoch += 1
            self.batch_in_epoch = 0
            if loop.ckpt_each_epoch:
                self.write_last()

    def _run_epoch(self) -> bool:
        """The rest of the current epoch's batches; False when `loop.max_steps` stopped it."""
        batches = iter(self.train_batches(self.epoch))
        for _ in itertools.islice(batches, self.batch_in_epoch):
            pass
        for module in self.modules.values():
            module.train()
        for batch in batches:
            if not self._steps_left():
                return False
            self._train_step(batch)
        return True

    def _train_step(self, batch: Any) -> None:
        info, loop = self.info, self.loop
        batch = _to_device(shard_batch(batch, info.rank, info.world_size), self.device)
        losses = self.stage.training_step(batch, self.step)
        for sched in self.schedulers.values():
            sched.step()
        self.buffer.add(self.step, self.epoch, losses)
        self.step += 1
        self.steps_run += 1
        self.batch_in_epoch += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.step % loop.log_every == 0:
            self.sync_losses()
        if loop.val_every and self.step % loop.val_every == 0:
            self.validate()
        if loop.ckpt_every and self.step % loop.ckpt_every == 0:
            self.write_last()


def _progress(
    loop: LoopConfig, info: DistInfo, initial: int, train_batches: Callable[[int], Iterable[Any]]
) -> Any:
    """A tqdm bar on the main process when asked for, else None."""
    if not (loop.progress and info.main):
        return None

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


def run_validation(
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


def epoch_batches(loader: Any) -> Callable[[int], Iterable[Any]]:
    """epoch -> the loader's batches of that epoch (a function of the loader's seed and epoch)."""

    def batches(epoch: int) -> Iterable[Any]:
        loader.set_epoch(epoch)
        return loader

    return batches


def validation_batches(loader: Any) -> Callable[[], Iterable[Any]]:
    """() -> the loader's batches in its fixed epoch-0 order (for validation)."""

    def batches() -> Iterable[Any]:
        loader.set_epoch(0)
        return loader

    return batches
