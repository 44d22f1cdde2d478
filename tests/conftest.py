"""Shared fixtures: the project root, the smoke dataset written once per session, and one torch
thread for the modules that train tiny models (`pytestmark = pytest.mark.usefixtures("one_thread")`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE_OUT = ROOT / "_build" / "smoke"


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: tiny models run fastest so, and the 2 cores are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def smoke_data() -> Path:
    """The synthetic `smoke` dataset under data/smoke (written on first use, reused after)."""
    from d2mlib.data import ensure_dataset

    path = ROOT / "data" / "smoke"
    ensure_dataset(path, preset="smoke", seed=0)
    return path


@pytest.fixture(scope="session")
def smoke_env(smoke_data: Path) -> dict[str, str]:
    """Environment for running chapters and the book in smoke mode."""
    env = dict(os.environ)
    env.update(
        D2M_BOOK_BUILD="1",  # panels frozen, glue records only: what the static site shows
        D2M_SMOKE="1",
        D2M_DATA=str(smoke_data),
        D2M_RUNS=str(ROOT / "runs" / "smoke"),
        PYTHONHASHSEED="0",
    )
    return env


@pytest.fixture(scope="session")
def smoke_executed(smoke_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """(the smoke build's jupyter cache, failures by chapter): every chapter executed in smoke
    mode, two at a time, as `make book` does (emptied first: a cached chapter would hide a change
    in the library)."""
    from d2mlib import prebuild

    cache = SMOKE_OUT / "_build" / ".jupyter_cache"
    shutil.rmtree(cache, ignore_errors=True)
    with pytest.MonkeyPatch.context() as mp:  # the chapters' kernels inherit the smoke settings
        for key in ("D2M_BOOK_BUILD", "D2M_SMOKE", "D2M_DATA", "D2M_RUNS", "PYTHONHASHSEED"):
            mp.setenv(key, smoke_env[key])
        failed = prebuild.prebuild(ROOT, cache, jobs=2, timeout=900)
    return cache, failed


@pytest.fixture(scope="session")
def smoke_site(smoke_env: dict[str, str], smoke_executed: tuple[Path, dict[str, str]]) -> Path:
    """The book built in smoke mode with -W -n into _build/smoke (a folder of its own), from the
    chapters `smoke_executed` ran (only the intro, which reads their verdicts, executes here)."""
    shutil.rmtree(SMOKE_OUT / "_build" / "html", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", ".", "-W", "-n", "--keep-going", "--path-output", str(SMOKE_OUT)]
    proc = subprocess.run(cmd, cwd=ROOT, env=smoke_env, capture_output=True, text=True)
    log = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, f"book build failed:\n{log}"
    html = SMOKE_OUT / "_build" / "html"
    assert (html / "index.html").is_file()
    return html
