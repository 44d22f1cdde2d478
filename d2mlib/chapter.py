"""What every chapter of the book does first: find its data and runs, and the smoke switch.

A chapter's parameters cell names a seed and may name a data directory; `setup`
fills in the rest from the environment the build sets (`D2M_SMOKE`, `D2M_DATA`,
`D2M_RUNS`) and generates the synthetic dataset when the default one is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from d2mlib.data.layout import dataset_complete
from d2mlib.data.writer import ensure_dataset
from d2mlib.errors import ConfigError


def project_root(start: str | Path | None = None) -> Path:
    """The repository root (the folder with _toc.yml and pyproject.toml) above `start`, else `start`."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "pyproject.toml").is_file():
            return folder
    return here


def describe_path(path: str | Path) -> str:
    """A path relative to the project root when it lies inside it (pages never print home folders)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)


def smoke_mode(value: bool | None = None) -> bool:
    """True when the chapter should run at smoke scale (the tests set D2M_SMOKE=1)."""
    if value is not None:
        return bool(value)
    flag = os.environ.get("D2M_SMOKE", "0").strip().lower()
    if flag not in {"0", "1", "true", "false", ""}:
        raise ConfigError(f"D2M_SMOKE must be 0 or 1, got {flag!r}")
    return flag in {"1", "true"}


@dataclass(frozen=True)
class Chapter:
    """Where a chapter reads and writes, and at what scale it runs."""

    smoke: bool
    seed: int
    data_dir: Path
    runs_dir: Path
    synthetic: bool

    @property
    def preset(self) -> str:
        """The model/data preset this chapter runs at: 'smoke' or 'book'."""
        return "smoke" if self.smoke else "book"


def setup(
    seed: int = 0,
    smoke: bool | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    threads: int | None = None,
) -> Chapter:
    """Resolve a chapter's data and runs folders, creating the synthetic data if it is missing."""
    smoke = smoke_mode(smoke)
    preset = "smoke" if smoke else "book"
    root = project_root()
    data = Path(data_dir or os.environ.get("D2M_DATA") or root / "data" / preset)
    runs = Path(runs_dir or os.environ.get("D2M_RUNS") or root / "runs" / preset)
    if threads is not None:
        torch.set_num_threads(threads)

    # a folder holding the original dataset is read as it is; a missing one gets the synthetic world
    ensure_dataset(data, preset=preset, seed=0, progress=False)
    runs.mkdir(parents=True, exist_ok=True)
    synthetic = dataset_complete(data) is not None
    return Chapter(smoke=smoke, seed=int(seed), data_dir=data, runs_dir=runs, synthetic=synthetic)
