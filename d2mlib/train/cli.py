"""`d2m train` / `python -m d2mlib.train`: train one stage from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torch import distributed as dist

from d2mlib.config import PRESETS, STAGES, make_config
from d2mlib.errors import D2MError
from d2mlib.train.distributed import dist_info
from d2mlib.train.runs import train_stage


def add_train_arguments(p: argparse.ArgumentParser, out_required: bool = False) -> None:
    """The arguments of training one stage (`d2m train` and `python -m d2mlib.train` share them)."""
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--preset", choices=PRESETS, default="book")
    p.add_argument("--config", type=Path, default=None, help="YAML config (overrides the preset)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    if out_required:
        p.add_argument("--out", type=Path, required=True, help="runs directory")
    else:
        p.add_argument("--out", type=Path, default=Path("runs"), help="runs directory")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    p.add_argument("--no-resume", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `python -m d2mlib.train` (also what torchrun launches)."""
    p = argparse.ArgumentParser(prog="python -m d2mlib.train", description="Train one stage.")
    add_train_arguments(p)
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


if __name__ == "__main__":
    sys.exit(main())
