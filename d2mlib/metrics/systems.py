"""Which trained composition systems a runs folder holds: the main run ("full"), each ablation
and the bank composer, found by their configs (`find_systems`, for `d2m evaluate`)."""

from __future__ import annotations

import json
from pathlib import Path

from d2mlib import config as cfgmod
from d2mlib.config import Config
from d2mlib.data.layout import data_identity
from d2mlib.train.runs import DONE_MARKER

BANK_SYSTEM = "bank"
"""The system name of a composer that draws its latents from a bank (`config.bank_recipe`)."""
BANK_FITTED = "bank_fitted"
"""The bank composer drawing from Gaussians fitted to its bank (``bank_match="fitted"``)."""
KEYED_RETRIEVAL = "keyed_retrieval"
"""The floor a bank composer that matches music is also judged against (`KeyedRetrieval`)."""
KEYED_BANK_POOL = "keyed_bank_pool"
"""`KeyedRetrieval` drawing like the bank (its pool size, the song's style): the bank's decoder's
cost is the bank's difference from it, the pool's cost this system's from KEYED_RETRIEVAL."""


def ablation_name(cfg: Config) -> str:
    """ "full", the ablation (d2mlib.config.ABLATIONS) a composition config switches on, or
    BANK_SYSTEM for a composer that composes from a bank of latents."""

    if cfg.composer.prior == "bank":
        return BANK_SYSTEM
    for name in cfgmod.ABLATIONS:
        if cfgmod.ablation(cfg, name).composer == cfg.composer:
            return name
    return "full"


def _steps(done: Path) -> int:
    """Training steps a finished run recorded in its done marker (0 when unreadable)."""
    try:
        return int(json.loads(done.read_text(encoding="utf-8")).get("step", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def find_systems(
    runs_dir: str | Path, data_dir: str | Path | None = None, preset: str | None = None
) -> dict[str, Path]:
    """The longest-trained finished composition run per system ("full" and each ablation) under
    `runs_dir`, the newest among equals: the main run, not a shorter ablation-study run of the
    same config.

    Only runs trained on `data_dir` (when given) and of `preset` (when given) count.
    """

    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return {}
    want = data_identity(data_dir) if data_dir is not None else None
    best: dict[str, tuple[int, float, Path]] = {}
    for path in sorted(runs_dir.glob("comp-*")):
        done, info_path = path / DONE_MARKER, path / "run.json"
        if not (done.is_file() and info_path.is_file() and (path / "config.yaml").is_file()):
            continue
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if want is not None and info.get("data") != want:
            continue
        if preset is not None and info.get("preset") != preset:
            continue
        name = ablation_name(cfgmod.from_yaml(path / "config.yaml"))
        key = (_steps(done), done.stat().st_mtime, path)
        if name not in best or key[:2] > best[name][:2]:
            best[name] = key
    return {name: best[name][2] for name in sorted(best, key=lambda n: (n != "full", n))}
