"""Execute the book's chapters side by side into the build's cache, before `jupyter-book build`.

jupyter-book executes chapters one after another, and on a 2-core machine one chapter barely
uses the second core: the book's small recurrent models gain little from a second torch thread
(a `book` decomposition step at batch 32, measured once outside the build on 1 December 2026
on a 2-core AVX2 machine: 0.19 s on one thread, 0.18 s on two; two one-thread processes at
once: 0.21 s each). So `make book` first runs this:
the chapters execute in `--jobs` processes with one torch thread each, and each executed
notebook goes into the jupyter cache where `jupyter-book build` finds it (a chapter whose code
is unchanged is not executed again, there or here). A run that several chapters share is
trained once: `train_stage` holds a lock per run, so the second chapter waits for the first.

The timing chapter measures the machine, so it runs alone, after the others. Chapters that
train the runs the others share start first (`FIRST`).

    python -m d2mlib.prebuild [--jobs 2] [--cache _build/.jupyter_cache]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from d2mlib.chapter import project_root
from d2mlib.errors import ConfigError
from d2mlib.sharing import CHAPTERS_AT_ONCE_ENV

# chapters that start first, in this order: those that train what others read (the ablations
# train the book's decomposition, the style chapter the extractor), then the long ones, so
# that the two lanes end close together (cold build at 6177f5a: after 48.5 and 48.8 minutes)
FIRST = ("ablations", "style", "training", "improved", "real_dance", "evaluation")
# chapters whose numbers are timings of this machine: executed alone, after the others
ALONE = ("timing",)
DEFAULT_CACHE = Path("_build") / ".jupyter_cache"


def toc_chapters(root: Path) -> list[Path]:
    """The book's chapter sources, in the order of _toc.yml (root page first)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"], *(c["file"] for c in toc.get("chapters", []))]
    paths = [root / f"{n}.md" for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"_toc.yml names chapters that do not exist: {', '.join(missing)}")
    return paths


def read_chapter(path: Path) -> Any:
    """A chapter read as a notebook, exactly as myst-nb reads it for the build."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    text = path.read_text(encoding="utf-8")
    return read_myst_markdown_notebook(
        text, config=MdParserConfig(), add_source_map=True, path=path
    )


def execution_order(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(chapters to execute side by side, FIRST ones first; chapters to execute alone after)."""
    rank = {name: i for i, name in enumerate(FIRST)}
    side = [p for p in paths if p.stem not in ALONE]
    side.sort(key=lambda p: rank.get(p.stem, len(FIRST)))  # stable: the rest keep the toc's order
    return side, [p for p in paths if p.stem in ALONE]


def execute_chapter(
    path: str,
    threads: int | None = None,
    timeout: int = 3600,
    numba_dir: str | None = None,
    at_once: int | None = None,
) -> tuple[str, str | None, float, str | None]:
    """Execute one chapter in a fresh kernel: (path, executed notebook JSON or None, s, error).

    The kernel inherits this process's environment: `threads` sets OMP_NUM_THREADS (torch starts
    with that many threads), `numba_dir` gives it a numba cache of this process's own, and
    `at_once` tells it how many chapters run side by side (`sharing.CHAPTERS_AT_ONCE_ENV`).
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if at_once is not None:
        os.environ[CHAPTERS_AT_ONCE_ENV] = str(at_once)
    if numba_dir is not None:
        # librosa compiles its beat tracker with numba's on-disk cache; two kernels writing
        # the same cache at once left an entry that segfaulted the next one to load it
        os.environ["NUMBA_CACHE_DIR"] = str(Path(numba_dir) / str(os.getpid()))
    nb = read_chapter(Path(path))
    t0 = time.perf_counter()
    try:
        result = single_nb_execution(
            nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False, meta_override=True
        )
    except Exception as err:  # e.g. DeadKernelError: the kernel itself died
        return path, None, time.perf_counter() - t0, f"{type(err).__name__}: {err}"
    if result.err is not None:
        return path, None, result.time, result.exc_string or repr(result.err)
    return path, nbformat.writes(nb), result.time, None


def _log(message: str) -> None:
    print(f"[prebuild {time.strftime('%H:%M:%S')}] {message}", flush=True)


def prebuild(
    root: Path, cache_path: Path, jobs: int, timeout: int = 3600, threads: int = 1
) -> dict[str, str]:
    """Execute every chapter missing from the cache (`jobs` at a time); failures: name -> error."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    if jobs < 1 or threads < 1:
        raise ConfigError(f"prebuild: jobs and threads must be at least 1, got {jobs}, {threads}")
    cache = get_cache(str(cache_path))
    todo = []
    for path in toc_chapters(root):
        nb = read_chapter(path)
        mode = nb.metadata.get("mystnb", {}).get("execution_mode")
        if mode is not None and mode != "cache":  # e.g. the intro (force): the build executes it
            _log(f"{path.stem}: left to jupyter-book (execution_mode: {mode})")
            continue
        try:
            cache.match_cache_notebook(nb)
            _log(f"{path.stem}: cached")
        except KeyError:
            todo.append(path)
    side, alone = execution_order(todo)
    failed: dict[str, str] = {}

    def store(future: Future) -> None:
        path, text, seconds, error = future.result()
        name = Path(path).stem
        if error is not None:
            failed[name] = error
            _log(f"{name}: FAILED after {seconds:.0f} s\n{error[-3000:]}")
            return
        nb = nbformat.reads(text, as_version=4)
        bundle = CacheBundleIn(nb, path, data={"execution_seconds": seconds})
        cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
        _log(f"{name}: executed in {seconds:.0f} s")

    numba_dir = tempfile.mkdtemp(prefix="d2m-numba-")  # one numba cache per worker process
    try:
        for group, n in ((side, jobs), (alone, 1)):
            _run_group(group, n, threads, timeout, numba_dir, store)
    finally:
        shutil.rmtree(numba_dir, ignore_errors=True)
    return failed


def _run_group(
    group: list[Path], jobs: int, threads: int, timeout: int, numba_dir: str, store: Any
) -> None:
    """Execute `group` in `jobs` processes (`threads` torch threads each when jobs > 1)."""
    if not group:
        return
    n = min(jobs, len(group))
    with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
        pending = set()
        for path in group:
            _log(f"{path.stem}: queued")
            args = (str(path), threads if n > 1 else None, timeout, numba_dir, n)
            pending.add(pool.submit(execute_chapter, *args))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                store(future)


def main(argv: list[str] | None = None) -> int:
    """Command line: execute the chapters missing from the build's cache, side by side."""
    ap = argparse.ArgumentParser(
        prog="python -m d2mlib.prebuild", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="chapters at once"
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads per chapter run side by side"
    )
    ap.add_argument("--cache", type=Path, default=None, help="jupyter cache folder (the build's)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds a cell may run")
    args = ap.parse_args(argv)
    root = project_root()
    failed = prebuild(
        root, args.cache or root / DEFAULT_CACHE, args.jobs, args.timeout, args.threads
    )
    if failed:
        print(f"prebuild: chapters failed: {', '.join(sorted(failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
