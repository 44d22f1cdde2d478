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

This package re-exports the public names of its modules; see ARCHITECTURE.md for which module holds what.
"""

from d2mlib.train.checkpoints import (
    CHECKPOINT_FORMAT,
    epoch_seed,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    stage_generators,
)
from d2mlib.train.cli import build_parser, main
from d2mlib.train.distributed import DistInfo, dist_info, init_distributed, shard_batch
from d2mlib.train.loop import METRIC_COLUMNS, FitResult, LoopConfig, Stage, fit
from d2mlib.train.runs import (
    DONE_MARKER,
    Run,
    config_for_data,
    find_run,
    link_run,
    load_run,
    run_name,
    train_stage,
    train_stage_on_styles,
    with_trained_decomp,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "DONE_MARKER",
    "DistInfo",
    "FitResult",
    "LoopConfig",
    "METRIC_COLUMNS",
    "Run",
    "config_for_data",
    "Stage",
    "build_parser",
    "dist_info",
    "epoch_seed",
    "find_run",
    "fit",
    "init_distributed",
    "link_run",
    "load_checkpoint",
    "load_run",
    "main",
    "rng_state",
    "run_name",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "shard_batch",
    "stage_generators",
    "train_stage",
    "train_stage_on_styles",
    "with_trained_decomp",
]
