"""The `d2m` command: data, train, generate (and evaluate, bench when their modules exist).

    d2m data --preset smoke|book|large --out DIR [--seed N]
    d2m data import-ballroom SRC --out DIR   (d2mlib.ballroom.main)
    d2m train {style,decomp,comp} --preset paper|improved|book|smoke [--config FILE]
              --data DATA_DIR --out RUNS_DIR [--device auto] [--seed N]
    d2m generate AUDIO [--run RUN_OR_RUNS_DIR] --out dance.npz [--seed N] [--video out.gif]
    d2m evaluate ...   (d2mlib.metrics.main)
    d2m bench ...      (d2mlib.timing.main)

Errors d2mlib raises on purpose (bad files, bad values) print one line on
stderr, naming the file and the problem, and exit with status 1; argparse
usage errors exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from d2mlib import audio, generate
from d2mlib.config import make_config
from d2mlib.data.layout import dataset_complete
from d2mlib.data.writer import write_dataset
from d2mlib.errors import AudioError, D2MError
from d2mlib.train.cli import add_train_arguments
from d2mlib.train.runs import train_stage
from d2mlib.viz.animation import save_animation

EXIT_ERROR = 1
DELEGATED = {  # sub-commands whose arguments the named module's main(argv) parses
    "evaluate": ("metrics", "main", "score the dataset and the trained systems (d2mlib.metrics)"),
    "bench": ("timing", "main", "time training, loading and inference (d2mlib.timing)"),
    "describe": ("card", "main", "write a dataset's card: counts, baselines (d2mlib.card)"),
}


def _cmd_data(args: argparse.Namespace) -> int:
    """`d2m data`: write the synthetic dataset."""

    if args.if_missing and dataset_complete(args.out) is not None:
        print(f"{args.out} already holds a complete dataset: nothing to do")
        return 0
    summary = write_dataset(args.out, preset=args.preset, seed=args.seed, progress=not args.quiet)
    counts = summary.get("units") if isinstance(summary, dict) else None
    seconds = summary.get("seconds") if isinstance(summary, dict) else None
    extra = f" ({seconds:.1f} s)" if isinstance(seconds, int | float) else ""
    print(
        f"wrote the {args.preset} dataset to {args.out}{extra}" + (f": {counts}" if counts else "")
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    """`d2m train`: train one stage (cached by config and seed)."""

    run = train_stage(
        args.stage,
        make_config(args.preset, args.config, seed=args.seed),
        data_dir=args.data,
        runs_dir=args.out,
        resume=not args.no_resume,
        device=args.device,
        progress=not args.quiet,
    )
    status = "reused" if run.cached else "trained"
    print(f"{status} {args.stage} run {run.path} (step {run.step})")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    """`d2m generate`: compose a dance for an audio file and save it as .npz."""

    if not args.audio.is_file():
        raise AudioError("audio file not found", args.audio)
    if args.out.suffix.lower() != ".npz":
        raise D2MError("the output must be a .npz file", args.out)
    music = generate.load_music(args.audio)
    if args.run is None:
        runs_dir = Path("runs")
        generator = generate.DanceGenerator.from_runs(runs_dir, device=args.device)
        print(f"using the newest composition run under {runs_dir}: {generator.describe()}")
    elif (args.run / "config.yaml").is_file():
        generator = generate.DanceGenerator.from_run(args.run, device=args.device)
    else:
        generator = generate.DanceGenerator.from_runs(args.run, device=args.device)
        print(f"using the newest composition run under {args.run}: {generator.describe()}")
    dance = generator.compose(
        music, seed=args.seed, warp=not args.no_warp, init_spread=args.init_spread
    )
    dance.save(args.out)
    print(
        f"wrote {args.out}: {dance.frames} frames ({dance.frames / 15:.1f} s of "
        f"{dance.duration:.1f} s music), style {dance.style}, composed in {dance.seconds:.3f} s"
    )
    if args.video is not None:
        wav = (
            audio.load_audio(args.audio) if args.video.suffix.lower() in (".html", ".htm") else None
        )
        save_animation(dance.poses, args.video, audio=wav, styles=[dance.style])
        print(f"wrote {args.video}")
    return 0


def _module_exists(name: str) -> bool:
    """Whether d2mlib.<name> can be imported (without importing it)."""
    return importlib.util.find_spec(f"d2mlib.{name}") is not None


def _delegate(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    """A sub-command that hands its remaining arguments to d2mlib.<module>.<func>(argv)."""

    def run(args: argparse.Namespace) -> int:
        mod = importlib.import_module(f"d2mlib.{module}")
        target = getattr(mod, func, None)
        if target is None:
            raise D2MError(f"d2mlib.{module} has no {func}() yet")
        result = target(list(args.rest))
        return int(result or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `d2m`."""
    parser = argparse.ArgumentParser(
        prog="d2m", description="Dancing to Music: data, training, dances."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "data", help="write the synthetic dataset (or: data import-ballroom SRC --out DIR)"
    )
    p.add_argument("--preset", choices=("smoke", "book", "large"), default="book")
    p.add_argument("--out", required=True, type=Path, help="dataset directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--if-missing", action="store_true", help="do nothing when OUT already holds the dataset"
    )
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("train", help="train one stage (reuses a finished run with the same config)")
    add_train_arguments(p, out_required=True)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("generate", help="compose a dance for an audio file")
    p.add_argument("audio", type=Path, help="audio file (wav, flac, ogg, mp3)")
    p.add_argument(
        "--run",
        type=Path,
        default=None,
        help="a composition run, or a runs directory (its newest one; default ./runs)",
    )
    p.add_argument("--out", required=True, type=Path, help="output .npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-spread", type=float, default=1.0, help="spread of the initial pose")
    p.add_argument("--no-warp", action="store_true", help="skip beat warping")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--video",
        type=Path,
        default=None,
        help="also write an animation (.gif, or .html with sound)",
    )
    p.set_defaults(func=_cmd_generate)

    for name, (module, func, text) in DELEGATED.items():
        if _module_exists(module):
            p = sub.add_parser(name, help=text, add_help=False)
            p.add_argument("rest", nargs=argparse.REMAINDER)
            p.set_defaults(func=_delegate(module, func))
    return parser


def _set_threads(threads: int | None) -> None:
    """Set torch's intra-op CPU threads for this command (None: leave torch's default)."""
    if threads is None:
        return
    if threads < 1:
        raise D2MError(f"--threads must be >= 1, got {threads}")

    torch.set_num_threads(threads)


def one_line(message: str) -> str:
    """A (possibly multi-line) message folded onto one line."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run `d2m`; D2MError becomes one line on stderr and exit status 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:2] == ["data", "import-ballroom"]:  # its own parser: d2mlib.ballroom.main
        args = argparse.Namespace(
            command="data import-ballroom", rest=argv[2:], func=_delegate("ballroom", "main")
        )
    elif argv and argv[0] in DELEGATED and _module_exists(DELEGATED[argv[0]][0]):
        args = argparse.Namespace(
            command=argv[0], rest=argv[1:], func=_delegate(*DELEGATED[argv[0]][:2])
        )
    else:
        args = parser.parse_args(argv)
    try:
        _set_threads(getattr(args, "threads", None))
        return args.func(args)
    except D2MError as exc:
        print(f"d2m {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"d2m {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
