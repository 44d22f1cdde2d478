"""What every chapter of the book does first: find its data and runs, and the smoke switch.

A chapter's parameters cell names a seed and may name a data directory; `setup`
fills in the rest from the environment the build sets (`D2M_SMOKE`, `D2M_DATA`,
`D2M_RUNS`) and generates the synthetic dataset when the default one is missing.

Chapters glue their numbers and figures with `glue`, which records them for the book's
`{glue}` references and, outside a book build (`D2M_BOOK_BUILD` unset, e.g. in JupyterLab),
also shows them. `canonical_text` / `python -m d2mlib.chapter normalise FILE...` put a
chapter into the form jupytext writes, so that saving an unchanged chapter from JupyterLab
leaves its file byte-identical.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from d2mlib._io import write_text
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


BOOK_BUILD_ENV = "D2M_BOOK_BUILD"
# the kernelspec JupyterLab writes into a notebook run on ipykernel's python3 kernel
LAB_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
CHAPTER_FORMAT = "md:myst"


def book_build() -> bool:
    """True while the book is being built or tested (the Makefile and tests set D2M_BOOK_BUILD=1)."""
    flag = os.environ.get(BOOK_BUILD_ENV, "0").strip().lower()
    if flag not in {"0", "1", "true", "false", ""}:
        raise ConfigError(f"{BOOK_BUILD_ENV} must be 0 or 1, got {flag!r}")
    return flag in {"1", "true"}


def _glue_line(name: str, value: Any) -> dict[str, str]:
    """MIME bundle of one small "name: value" line (what `{glue:text}` would insert)."""
    # IPython is there whenever a kernel runs the chapter (a book/Lab dependency)
    from IPython.core.formatters import format_display_data

    if isinstance(value, str):
        text = value
    else:
        text = format_display_data(value)[0].get("text/plain", repr(value))
    style = "color: #555; font-size: 85%; margin: 0.1em 0"
    return {
        "text/plain": f"{name}: {text}",
        "text/html": (
            f'<div class="d2m-glue" style="{style}"><code>{html.escape(name)}</code>: '
            f"{html.escape(text)}</div>"
        ),
    }


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue `value` for the book's `{glue}` references; outside a book build also show it.

    In the book build (`D2M_BOOK_BUILD=1`) this is myst_nb's `glue(name, value, display)`.
    Elsewhere (JupyterLab, a plain `jupytext --execute`) the value is also shown, so a reader
    sees what the prose refers to: a Figure as itself (then closed, so it is not drawn twice),
    a table or HTML object under a "name:" line, anything else as one "name: value" line.
    """
    # myst_nb and IPython come with the book extra; chapters run only where it is installed
    from IPython.display import display as ipy_display
    from myst_nb import glue as myst_glue

    myst_glue(name, value, display=display)
    if display or book_build():
        return
    if _is_figure(value):
        import matplotlib.pyplot as plt  # matplotlib is loaded already when a Figure exists

        ipy_display(value)
        plt.close(value)
        return
    if hasattr(value, "_repr_html_") and not isinstance(value, str):
        ipy_display(_glue_line(name, ""), raw=True)
        ipy_display(value)
        return
    ipy_display(_glue_line(name, value), raw=True)


def _is_figure(value: Any) -> bool:
    """Whether `value` is a matplotlib Figure (without importing matplotlib for other values)."""
    figure_module = sys.modules.get("matplotlib.figure")
    return figure_module is not None and isinstance(value, figure_module.Figure)


def canonical_text(text: str) -> str:
    """A MyST chapter as JupyterLab's save (jupytext, ipykernel's kernelspec) writes it."""
    # jupytext comes with the book extra (the chapters are jupytext notebooks)
    import jupytext

    nb = jupytext.reads(text, fmt=CHAPTER_FORMAT)
    if "kernelspec" in nb.metadata:
        nb.metadata["kernelspec"] = dict(LAB_KERNELSPEC)
    return jupytext.writes(nb, fmt=CHAPTER_FORMAT)


def normalise(paths: list[Path]) -> list[Path]:
    """Rewrite each chapter in its canonical form; return the files that changed."""
    changed = []
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path}: no such chapter file")
        text = path.read_text(encoding="utf-8")
        new = canonical_text(text)
        if new != text:
            write_text(path, new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """`python -m d2mlib.chapter normalise|check FILE...`: rewrite or check chapters' canonical form."""
    parser = argparse.ArgumentParser(prog="python -m d2mlib.chapter")
    parser.add_argument("command", choices=["normalise", "check"])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "normalise":
        for path in normalise(args.paths):
            print(f"{path}: rewritten in the form a JupyterLab save leaves unchanged")
        return 0
    stale = []
    for path in args.paths:
        if not path.is_file():
            raise ConfigError(f"{path}: no such chapter file")
        text = path.read_text(encoding="utf-8")
        if canonical_text(text) != text:
            stale.append(path)
            print(f"{path}: not in canonical form: run python -m d2mlib.chapter normalise {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
