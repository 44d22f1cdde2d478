"""Runs on disk: `train_stage` trains a stage into RUNS_DIR/<stage>-<preset>-<hash8>/ (or loads
it when finished), `find_run`, `load_run`, and runs shared across folders.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import distributed as dist

from d2mlib import config as cfgmod
from d2mlib._io import file_lock, write_text
from d2mlib.config import resolve_device
from d2mlib.data.layout import data_identity, dataset_styles
from d2mlib.data.loaders import keep_styles
from d2mlib.data.store import FeatureStore
from d2mlib.errors import CheckpointError, ConfigError, DataError
from d2mlib.models.rnn import resolve_precision
from d2mlib.sharing import chapters_at_once
from d2mlib.stages import build_stage, run_key, spec, train_loaders
from d2mlib.train.checkpoints import load_checkpoint
from d2mlib.train.distributed import DistInfo, _barrier, init_distributed
from d2mlib.train.loop import FitResult, LoopConfig, epoch_batches, fit, validation_batches

DONE_MARKER = "done"


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

        path = self.path / "metrics.csv"
        if not path.is_file():
            raise CheckpointError("run has no metrics.csv", self.path)
        return pd.read_csv(path)

    def modules(self, which: str = "best", device: str | torch.device = "cpu") -> dict[str, Any]:
        """The run's trained modules, rebuilt from its stored config (eval mode)."""
        modules, _ = load_run(self.path, which=which, device=device)
        return modules


def _hash(obj: Any) -> str:

    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_name(stage: str, cfg: Any, data_dir: str | Path | None = None) -> str:
    """<stage>-<preset>-<hash8>: the hash covers the stage's config, its seed and the dataset."""
    key = {"config": run_key(stage, cfg)}
    if data_dir is not None:
        key["data"] = data_identity(Path(data_dir))
    return f"{stage}-{cfg.preset}-{_hash(key)[:8]}"


def _read_json(path: Path) -> dict[str, Any]:

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"unreadable run file: {exc}", path) from exc
    if not isinstance(data, dict):
        raise CheckpointError("run file does not hold a mapping", path)
    return data


def _write_json(path: Path, data: Mapping[str, Any]) -> None:

    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_run(path: Path, cached: bool = True) -> Run:
    """A Run object for an existing run directory."""

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
    spec(stage)  # ConfigError for an unknown stage
    if not runs_dir.is_dir():
        return None
    want_cfg = _hash(run_key(stage, cfg)) if cfg is not None else None
    want_data = data_identity(Path(data_dir)) if data_dir is not None else None
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
    return read_run(max(found)[1])


def _open_store(data_dir: Path, info: DistInfo) -> Any:
    """FeatureStore.open, built by one process first under DDP."""

    if info.world_size > 1 and not info.main:
        dist.barrier()
        return FeatureStore.open(data_dir)
    store = FeatureStore.open(data_dir)
    if info.world_size > 1:
        dist.barrier()
    return store


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
    for dep in spec("comp").needs:
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
        key = spec(dep).main_module
        modules[key] = mods[key]
        paths[dep] = run.path.name  # a sibling of the composition run
    return modules, paths


def _check_styles(styles: Sequence[str] | None, known: Sequence[str]) -> list[str] | None:
    """`styles` sorted, after checking it is a non-empty subset of the dataset's `known` styles."""
    if styles is None:
        return None
    unknown = sorted(set(styles) - set(known))
    if not styles or unknown:
        raise ConfigError(f"styles must be a non-empty subset of {tuple(known)}, got {styles}")
    return sorted(styles)


def config_for_data(cfg: Any, data_dir: str | Path) -> Any:
    """`cfg` with the style classifier's class count set to the dataset's number of styles."""
    n = len(dataset_styles(data_dir))
    if cfg.style.num_classes == n:
        return cfg
    return dataclasses.replace(cfg, style=dataclasses.replace(cfg.style, num_classes=n))


def _check_classes(stage: str, cfg: Any, store: Any) -> None:
    """ConfigError when the dataset has more styles than the style classifier has classes."""
    if "style" in spec(stage).sections and len(store.styles) > cfg.style.num_classes:
        raise ConfigError(
            f"StyleConfig.num_classes is {cfg.style.num_classes} but the dataset has "
            f"{len(store.styles)} styles {tuple(store.styles)}; use train.config_for_data(cfg, "
            "data_dir)"
        )


def _style_loaders(
    stage: str, cfg: Any, store: Any, styles: Sequence[str] | None
) -> tuple[Any, Any]:
    """The stage's (train, validation) loaders, keeping only `styles` when given."""
    train_loader, val_loader = train_loaders(stage, cfg, store)
    if styles is not None:
        keep = [list(store.styles).index(name) for name in styles]
        for loader in (train_loader, val_loader):
            if loader is not None:
                keep_styles(loader, store, keep)
    return train_loader, val_loader


def _run_info(
    stage: str,
    cfg: Any,
    data_dir: Path,
    dep_paths: dict[str, str],
    world_size: int,
    device: torch.device,
    styles: Sequence[str] | None,
) -> dict[str, Any]:
    """run.json: what the run is (stage, config hash, data) and how it ran."""
    hashed = run_key(stage, cfg)
    run_info = {
        "stage": stage,
        "preset": cfg.preset,
        "config_hash": _hash(hashed if styles is None else {"config": hashed, "styles": styles}),
        "data": data_identity(data_dir),
        "data_dir": str(data_dir),
        "seed": cfg.train_for(stage).seed,
        "deps": dep_paths,
        "world_size": world_size,
        "device": str(device),
        "precision": resolve_precision(cfg.train_for(stage).precision, device),  # what auto became
    }
    if styles is not None:
        run_info["styles"] = list(styles)
    return run_info


def _loop_config(tcfg: Any, stage_obj: Any, progress: bool) -> LoopConfig:
    """The training loop's settings from a stage's TrainConfig."""
    return LoopConfig(
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

    spec(stage)  # ConfigError for an unknown stage
    data_dir, runs_dir = Path(data_dir), Path(runs_dir)
    if not data_dir.is_dir():
        raise DataError("data directory not found", data_dir)
    styles = _check_styles(styles, dataset_styles(data_dir))
    tcfg = cfg.train_for(stage)
    device = resolve_device(device if device is not None else tcfg.device)
    info = init_distributed(device)
    if device.type == "cuda" and info.world_size > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    path = runs_dir / run_name(stage, cfg, data_dir)
    if styles is not None:
        path = path.with_name(f"{path.name}-{'+'.join(styles)}")
    if resume and (path / DONE_MARKER).is_file():
        return read_run(path, cached=True)
    # a chapter executed alongside (d2mlib.prebuild) may be training this very run: wait for it
    with file_lock(path) if info.world_size == 1 else nullcontext():
        if resume and (path / DONE_MARKER).is_file():
            return read_run(path, cached=True)
        return _train_into(
            path, stage, cfg, data_dir, runs_dir, styles, device, info, resume, progress,
            train_missing,
        )  # fmt: skip


def _train_into(
    path: Path,
    stage: str,
    cfg: Any,
    data_dir: Path,
    runs_dir: Path,
    styles: list[str] | None,
    device: torch.device,
    info: DistInfo,
    resume: bool,
    progress: bool,
    train_missing: bool,
) -> Run:
    """Train `stage` into the run folder `path` (train_stage's work once no finished run is there)."""
    tcfg = cfg.train_for(stage)
    deps: dict[str, Any] = {}
    dep_paths: dict[str, str] = {}
    if spec(stage).needs:
        deps, dep_paths = _comp_deps(cfg, data_dir, runs_dir, train_missing, device, progress)
    store = _open_store(data_dir, info)
    _check_classes(stage, cfg, store)
    train_loader, val_loader = _style_loaders(stage, cfg, store, styles)
    stage_obj = build_stage(stage, cfg, device, deps)
    run_info = _run_info(stage, cfg, data_dir, dep_paths, info.world_size, device, styles)
    run_info["dataset_styles"] = list(store.styles)  # label order, for naming predictions
    if info.main:
        path.mkdir(parents=True, exist_ok=True)
        (path / DONE_MARKER).unlink(missing_ok=True)
        cfgmod.to_yaml(cfg, path / "config.yaml")
        _write_json(path / "run.json", run_info)
    _barrier(info)
    result = fit(
        stage_obj,
        epoch_batches(train_loader),
        None if val_loader is None else validation_batches(val_loader),
        path,
        _loop_config(tcfg, stage_obj, progress),
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
            {
                "step": result.step,
                "epoch": result.epoch,
                "seconds": result.seconds,
                "threads": torch.get_num_threads(),
                "chapters_at_once": chapters_at_once(),
            },
        )
    _barrier(info)
    run = read_run(path, cached=False)
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
    run = read_run(Path(path))
    ckpt = load_checkpoint(run.checkpoint_path(which), map_location="cpu")
    stage = ckpt.get("stage", run.stage)
    deps: dict[str, Any] = {}
    if spec(stage).needs:
        for dep in spec(stage).needs:
            key = spec(dep).main_module
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
    want = data_identity(Path(data_dir))
    for path in Path(runs_dir).glob("decomp-*"):
        if not (path / DONE_MARKER).is_file() or not (path / "run.json").is_file():
            continue
        if _read_json(path / "run.json").get("data") != want:
            continue
        run = read_run(path)
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
