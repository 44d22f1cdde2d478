"""The three training stages by name: how each is built, fed, timed and keyed.

The paper trains in three stages (Lee et al. 2019, section 3): the music style extractor
("style"), the decomposition into dance units ("decomp": initial-pose and movement VAEs) and
the composition of units to music ("comp"). `STAGE_SPECS` holds one `StageSpec` per stage;
training (`d2mlib.train`), timing (`d2mlib.timing`), the widgets and the command line all
look stages up here, so a fourth stage would be one entry, not a search for `if` switches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from d2mlib.config import STAGES, Config, hashable, resolve_device, to_dict
from d2mlib.data.layout import AUDIO_DIM, SEQ_UNITS
from d2mlib.data.loaders import EpochLoader, audio_loader, sequence_loader, unit_loader
from d2mlib.errors import CheckpointError, ConfigError, DataError
from d2mlib.models.composer import CompStage
from d2mlib.models.dance_unit import DanceUnit, DecompStage
from d2mlib.models.style import StyleExtractor, StyleStage
from d2mlib.skeleton import POSE_DIM, UNIT_FRAMES

EXECUTION_FIELDS = ("device", "num_workers", "log_every", "checkpoint_every")  # not in run hashes
DEPENDENCY_MODULES = ("style", "dance_unit")  # the trained modules the composition stage reuses


@dataclass(frozen=True)
class StageSpec:
    """One training stage: what it reads, what it trains, how it is built and fed."""

    name: str
    sections: tuple[str, ...]  # the config sections that decide its run (hashed into run names)
    main_module: str  # the module a run of it trains (its parameters are the run's size)
    needs: tuple[str, ...]  # stages whose trained modules it builds on
    build: Callable[[Config, str, Mapping[str, Any] | None, bool], Any]
    loader: Callable[..., EpochLoader]  # d2mlib.data.loaders function feeding it
    loader_args: Callable[[Config], dict[str, Any]]  # its config-decided loader arguments
    val_args: Mapping[str, Any]  # what a validation loader changes (fixed order, no jitter)
    timing_args: Mapping[str, Any]  # loader arguments of the timing suite's loaders
    fake: Callable[[Config, int, Callable[..., torch.Tensor]], tuple[torch.Tensor, ...]]
    hidden: Callable[[Config], int]  # its recurrent hidden size
    with_hidden: Callable[[Config, int], Config]  # a config with that hidden size replaced


def _build_style(cfg: Config, device: str, deps: Mapping[str, Any] | None, naive: bool) -> Any:
    return StyleStage(cfg, device=device)


def _build_decomp(cfg: Config, device: str, deps: Mapping[str, Any] | None, naive: bool) -> Any:
    return DecompStage(cfg, naive=naive, device=device)


def _build_comp(cfg: Config, device: str, deps: Mapping[str, Any] | None, naive: bool) -> Any:
    if not deps or any(key not in deps for key in DEPENDENCY_MODULES):
        raise CheckpointError("the composition stage needs trained style and decomp modules")
    return CompStage(cfg, deps["style"], deps["dance_unit"], device=device)


def _style_hidden(cfg: Config, h: int) -> Config:
    r = dataclasses.replace
    style = r(cfg.style, hidden=h, code_dim=cfg.style.code_dim if cfg.style.project else h)
    return r(cfg, style=style, composer=r(cfg.composer, style_dim=style.code_dim))


STAGE_SPECS: dict[str, StageSpec] = {
    "style": StageSpec(
        name="style",
        sections=("style", "train_style"),
        main_module="style",
        needs=(),
        build=_build_style,
        loader=audio_loader,
        loader_args=lambda cfg: {"window": cfg.style.window},
        val_args={"shuffle": False},
        timing_args={"drop_last": True},
        fake=lambda cfg, b, randn: (randn(b, cfg.style.window, AUDIO_DIM),),
        hidden=lambda cfg: cfg.style.hidden,
        with_hidden=_style_hidden,
    ),
    "decomp": StageSpec(
        name="decomp",
        sections=("dance_unit", "train_decomp"),
        main_module="dance_unit",
        needs=(),
        build=_build_decomp,
        loader=unit_loader,
        loader_args=lambda cfg: {"jitter": cfg.data.jitter},
        val_args={"shuffle": False, "jitter": False, "drop_last": False},
        timing_args={},
        fake=lambda cfg, b, randn: _fake_units(randn(b, UNIT_FRAMES, POSE_DIM), randn),
        hidden=lambda cfg: cfg.dance_unit.enc_hidden,
        with_hidden=lambda cfg, h: dataclasses.replace(
            cfg, dance_unit=dataclasses.replace(cfg.dance_unit, enc_hidden=h, dec_hidden=h)
        ),
    ),
    "comp": StageSpec(
        name="comp",
        sections=("style", "dance_unit", "composer", "train_style", "train_decomp", "train_comp"),
        main_module="composer",
        needs=("style", "decomp"),
        build=_build_comp,
        loader=sequence_loader,
        loader_args=lambda cfg: {"n_units": tuple(cfg.data.seq_units)},
        val_args={"shuffle": False, "drop_last": False},
        timing_args={"n_units": (SEQ_UNITS,)},
        fake=lambda cfg, b, randn: (
            randn(b, SEQ_UNITS, UNIT_FRAMES, POSE_DIM),
            randn(b, SEQ_UNITS * UNIT_FRAMES, AUDIO_DIM),
        ),
        hidden=lambda cfg: cfg.composer.dance_enc_hidden,
        with_hidden=lambda cfg, h: dataclasses.replace(
            cfg,
            composer=dataclasses.replace(cfg.composer, dance_enc_hidden=h, dance_dec_hidden=h),
        ),
    ),
}
assert tuple(STAGE_SPECS) == STAGES


def _fake_units(x: torch.Tensor, randn: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return x, x + 0.05 * randn(*x.shape)


def spec(stage: str) -> StageSpec:
    """The StageSpec of `stage`; ConfigError naming the stages for an unknown name."""
    if stage not in STAGE_SPECS:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {STAGES}")
    return STAGE_SPECS[stage]


def run_key(stage: str, cfg: Config) -> dict[str, Any]:
    """The part of a config that decides a stage's run (its model, training and data settings)."""
    sections = spec(stage).sections
    d = hashable(to_dict(cfg))  # fields added later count only when set (cached runs stay)
    out = {k: d[k] for k in sections}
    for key in sections:
        if key.startswith("train_"):  # how a run is executed does not change what it learns
            out[key] = {k: v for k, v in out[key].items() if k not in EXECUTION_FIELDS}
    out["data"] = d["data"]
    out["stage"] = stage
    return out


def build_stage(
    stage: str,
    cfg: Config,
    device: str | torch.device = "cpu",
    deps: Mapping[str, Any] | None = None,
    naive: bool = False,
) -> Any:
    """The Stage object of `stage` for `cfg` (untrained).

    For "comp", `deps` maps "style" and "dance_unit" to the trained (frozen) modules;
    `naive` builds the decomposition stage with its unfused reference losses.
    """
    return spec(stage).build(cfg, str(resolve_device(device)), deps, naive)


def untrained_deps(cfg: Config) -> dict[str, Any]:
    """Fresh style extractor and dance unit for timing a composition stage (drawn from torch's RNG)."""
    return {"style": StyleExtractor(cfg.style), "dance_unit": DanceUnit(cfg.dance_unit)}


def partial_loader(fn: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    """`fn` with some keyword arguments fixed."""

    def make(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **(fixed | kwargs))

    return make


def train_loaders(stage: str, cfg: Config, store: Any) -> tuple[Any, Any]:
    """(train loader, validation loader or None) of a stage; order drawn from (seed, epoch)."""
    s = spec(stage)
    t = cfg.train_for(stage)
    common = {"batch_size": t.batch_size, "seed": t.seed, "num_workers": t.num_workers}
    make = partial_loader(s.loader, **s.loader_args(cfg))
    train_loader = make(store, "train", **common, drop_last=True)
    try:
        val_loader = make(store, "val", **(common | {"num_workers": 0}), **s.val_args)
    except DataError:
        val_loader = None  # a dataset without a validation split (tiny smoke data)
    return train_loader, val_loader


def split_loader(stage: str, cfg: Config, store: Any, split: str, batch_size: int) -> Any:
    """The validation-style loader of `stage` (fixed order, no jitter) on another split."""
    s = spec(stage)
    common = {"batch_size": batch_size, "seed": cfg.train_for(stage).seed}
    return s.loader(store, split, **(s.loader_args(cfg) | common | s.val_args))


def timing_loader(stage: str, store: Any, batch_size: int, seed: int = 0) -> Any:
    """The train-split loader the timing suite measures for `stage` (loader defaults)."""
    return spec(stage).loader(store, "train", batch_size, seed, **spec(stage).timing_args)


def fake_batch(
    stage: str, cfg: Config, batch_size: int, device: str = "cpu", seed: int = 0
) -> tuple[Any, ...]:
    """A random batch shaped like the stage's loader output (timing does not depend on values)."""
    gen = torch.Generator().manual_seed(seed)
    style = torch.randint(0, 3, (batch_size,), generator=gen)

    def randn(*shape: int) -> Any:
        return torch.randn(*shape, generator=gen).to(device)

    return (*spec(stage).fake(cfg, batch_size, randn), style.to(device))


def with_hidden(cfg: Config, stage: str, hidden_size: int) -> Config:
    """`cfg` with `stage`'s recurrent hidden size set to `hidden_size` (must be >= 1)."""
    s = spec(stage)
    if int(hidden_size) < 1:
        raise ConfigError(f"hidden size must be >= 1, got {hidden_size}")
    return s.with_hidden(cfg, int(hidden_size))
