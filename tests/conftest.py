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
def smoke_site(smoke_env: dict[str, str]) -> Path:
    """The book built in smoke mode with -W -n into _build/smoke (a folder of its own)."""
    shutil.rmtree(SMOKE_OUT / "_build" / "html", ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", ".", "-W", "-n", "--keep-going", "--path-output", str(SMOKE_OUT)]
    proc = subprocess.run(cmd, cwd=ROOT, env=smoke_env, capture_output=True, text=True)
    log = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, f"book build failed:\n{log}"
    html = SMOKE_OUT / "_build" / "html"
    assert (html / "index.html").is_file()
    return html
