"""How well do the three stages learn? Held-out scores of runs, the runs' overview,
reconstruction errors against two baselines, beat scores of composed dances (book/training.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from d2mlib import skeleton
from d2mlib.beats import beat_metrics
from d2mlib.config import STYLES, resolve_device
from d2mlib.data.store import FeatureStore
from d2mlib.errors import D2MError
from d2mlib.stages import DEPENDENCY_MODULES, build_stage, spec, split_loader
from d2mlib.train.checkpoints import load_checkpoint
from d2mlib.train.loop import run_validation, validation_batches
from d2mlib.train.runs import Run, load_run, read_run
from d2mlib.validate import check_dance_set, check_same_length, metric_error


def _joint_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of each joint between poses a and b (..., 14, 2) -> (..., 14), pixels."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def reconstruction_table(
    units: np.ndarray, recon: np.ndarray, styles: Sequence[int | str], mean_pose: np.ndarray
) -> pd.DataFrame:
    """Mean L1 error per coordinate (pixels) of reconstructed units, by style and overall.

    Columns: ``units`` (count), ``model`` (the reconstructions), ``first pose held`` (every
    frame predicted as the unit's first pose) and ``mean pose`` (every frame predicted as
    `mean_pose` (14, 2), e.g. the training set's mean pose).
    """
    x = check_dance_set(units, "reconstruction units")
    y = check_dance_set(recon, "reconstructions")
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise metric_error(
            f"reconstruction_table: units {x.shape} and reconstructions {y.shape} differ"
        )
    mean_pose = np.asarray(mean_pose, np.float64).reshape(skeleton.NUM_JOINTS, 2)
    names = np.asarray([STYLES[int(s)] if not isinstance(s, str) else s for s in styles])
    check_same_length(x, names, "units", "styles")
    errors = {
        "model": np.abs(y - x).mean(axis=(1, 2, 3)),
        "first pose held": np.abs(x[:, :1] - x).mean(axis=(1, 2, 3)),
        "mean pose": np.abs(mean_pose - x).mean(axis=(1, 2, 3)),
    }
    rows = {}
    order = [s for s in STYLES if s in set(names)] + [
        s for s in dict.fromkeys(names) if s not in STYLES
    ]
    for name in order + ["all"]:
        pick = np.ones(len(names), bool) if name == "all" else names == name
        rows[name] = {"units": int(pick.sum())} | {
            k: float(v[pick].mean()) for k, v in errors.items()
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def baseline_verdict(model: float, first_pose: float, mean_pose: float) -> str:
    """A phrase comparing a reconstruction error with the two baselines' (smaller is better)."""
    values = (model, first_pose, mean_pose)
    if not all(np.isfinite(v) for v in values):
        raise metric_error(f"baseline_verdict: errors must be finite, got {values}")
    if model < first_pose and model < mean_pose:
        return "the VAE beats both baselines"
    if model < mean_pose:
        return "the VAE beats the mean pose but not yet the still first pose"
    if model < first_pose:
        return "the VAE beats the still first pose but not yet the mean pose"
    return "the VAE does not yet beat either baseline"


def held_out_summary(clips: Sequence[object], dances: Sequence[object]) -> pd.DataFrame:
    """Per style: clips, how often the music was heard as its style, beat hit rates of the real
    and the composed dances (generate.HeldOutClip and generate.Dance pairs; pooled over clips)."""
    check_same_length(list(clips), list(dances), "clips", "dances")
    if not len(clips):
        raise metric_error("held_out_summary: empty set (no clips)")
    rows = {}
    present = dict.fromkeys(c.style for c in clips)
    for style in [s for s in STYLES if s in present] + [s for s in present if s not in STYLES]:
        pairs = [(c, d) for c, d in zip(clips, dances, strict=True) if c.style == style]
        beats = [c.beat_times for c, _ in pairs]
        rows[style] = {
            "clips": len(pairs),
            "heard as its style": float(np.mean([d.style == style for _, d in pairs])),
            "hit rate (real)": beat_metrics([c.poses for c, _ in pairs], beats)["beat_hit_rate"],
            "hit rate (composed)": beat_metrics([d.poses for _, d in pairs], beats)[
                "beat_hit_rate"
            ],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


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

    run = read_run(Path(path))
    modules, cfg = load_run(run.path, which=which, device=device)
    deps = {k: modules[k] for k in DEPENDENCY_MODULES} if spec(run.stage).needs else None
    stage_obj = build_stage(run.stage, cfg, device, deps)
    for name, module in stage_obj.modules().items():
        module.load_state_dict(modules[name].state_dict())
    loader = split_loader(run.stage, cfg, FeatureStore.open(data_dir), split, batch_size)
    values = run_validation(
        stage_obj,
        stage_obj.modules(),
        validation_batches(loader),
        max_batches,
        resolve_device(device),
    )
    if not values:
        raise D2MError(f"split {split!r} yielded no batches", data_dir)
    return values


def runs_overview(runs: Mapping[str, Run]) -> Any:
    """One row per stage's run: steps, batch size, trained parameters (millions), minutes, cached."""

    rows = {}
    for stage, run in runs.items():
        ckpt = load_checkpoint(run.checkpoint_path("last"))
        weights = ckpt["modules"][spec(run.stage).main_module]
        n_params = sum(int(v.numel()) for v in weights.values() if v.is_floating_point())
        rows[stage] = {
            "steps": int(run.step),
            "batch size": int(run.cfg.train_for(run.stage).batch_size),
            "parameters (M)": n_params / 1e6,
            "minutes": float(run.info.get("seconds", float("nan"))) / 60,
            "cached": bool(run.cached),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
