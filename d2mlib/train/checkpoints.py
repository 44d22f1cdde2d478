"""Checkpoints and RNG state: atomic save, safe load, seeds by epoch, and restoring a run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import distributed as dist

from d2mlib._io import atomic_path
from d2mlib.errors import CheckpointError
from d2mlib.train.distributed import DistInfo

CHECKPOINT_FORMAT = 1


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
