"""Chapters executed side by side into the build's cache (d2mlib.prebuild), and the file lock
that makes two chapters train a shared run once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from d2mlib import prebuild, sharing
from d2mlib._io import file_lock
from d2mlib.errors import ConfigError

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
{extra}---

# {title}

```{{code-cell}} ipython3
{code}
```
"""


def write_book(root: Path, chapters: dict[str, str], extra: dict[str, str] | None = None) -> None:
    """A tiny book: _toc.yml with `chapters` (name -> code of its one cell)."""
    names = list(chapters)
    toc = f"format: jb-book\nroot: {names[0]}\nchapters:\n"
    toc += "".join(f"  - file: {n}\n" for n in names[1:])
    (root / "_toc.yml").write_text(toc, encoding="utf-8")
    for name, code in chapters.items():
        text = HEADER.format(title=name, code=code, extra=(extra or {}).get(name, ""))
        (root / f"{name}.md").write_text(text, encoding="utf-8")


def test_order_starts_the_shared_runs_first_and_keeps_timing_alone() -> None:
    paths = [Path(f"book/{n}.md") for n in ("data", "training", "timing", "style", "ablations")]
    side, alone = prebuild.execution_order(paths)
    assert [p.stem for p in side] == ["ablations", "style", "training", "data"]
    assert [p.stem for p in alone] == ["timing"]


def test_toc_naming_a_missing_chapter_raises(tmp_path: Path) -> None:
    (tmp_path / "_toc.yml").write_text("root: intro\nchapters:\n  - file: gone\n")
    (tmp_path / "intro.md").write_text("# intro\n")
    with pytest.raises(ConfigError, match="gone.md"):
        prebuild.toc_chapters(tmp_path)


def test_prebuild_caches_what_it_executes_and_names_failures(tmp_path: Path) -> None:
    from jupyter_cache import get_cache

    write_book(
        tmp_path,
        {
            "intro": "print('intro')",
            "one": "import os\nprint(6 * 7, os.environ['OMP_NUM_THREADS'], os.environ['NUMBA_CACHE_DIR'],"
            " os.environ['D2M_CHAPTERS_AT_ONCE'])",
            "two": "1 / 0",
        },
        extra={"intro": "mystnb:\n  execution_mode: force\n"},
    )
    cache_dir = tmp_path / "cache"
    failed = prebuild.prebuild(tmp_path, cache_dir, jobs=2, timeout=120)
    assert list(failed) == ["two"] and "ZeroDivisionError" in failed["two"]
    cache = get_cache(str(cache_dir))
    record = cache.match_cache_notebook(prebuild.read_chapter(tmp_path / "one.md"))
    nb = cache.get_cache_bundle(record.pk).nb
    answer, threads, numba_dir, at_once = nb.cells[-1].outputs[0]["text"].split()  # stored
    assert (answer, threads, at_once) == ("42", "1", "2")  # side by side: one torch thread each
    assert "d2m-numba-" in numba_dir  # a numba cache of the worker's own
    for name in ("intro", "two"):  # left to jupyter-book (force), and failed: nothing cached
        with pytest.raises(KeyError):
            cache.match_cache_notebook(prebuild.read_chapter(tmp_path / f"{name}.md"))
    # a second pass finds "one" cached and executes only the chapter that failed
    assert list(prebuild.prebuild(tmp_path, cache_dir, jobs=2, timeout=120)) == ["two"]
    assert len(cache.list_cache_records()) == 1


def test_prebuild_rejects_zero_jobs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        prebuild.prebuild(tmp_path, tmp_path / "cache", jobs=0)


def test_file_lock_makes_the_second_holder_wait(tmp_path: Path) -> None:
    events: list[str] = []
    target = tmp_path / "run"

    def second() -> None:
        with file_lock(target):
            events.append("second")

    with file_lock(target):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        events.append("first done")
    thread.join(timeout=10)
    assert events == ["first done", "second"]
    assert (tmp_path / ".locks" / "run.lock").is_file()


def test_sharing_phrase_says_how_the_machine_was_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = os.cpu_count() or 1
    beside_one = f"beside up to 1 other chapter of the build on the same {cores} cores, one torch"
    assert sharing.sharing_phrase([2, None, 1]) == beside_one + " thread each"
    assert sharing.sharing_phrase([3]).startswith("beside up to 2 other chapters of the build")
    assert sharing.sharing_phrase([1, 1]) == "with the machine to itself"
    assert sharing.sharing_phrase([None]).startswith("with no record")
    assert sharing.sharing_phrase([]).startswith("with no record")
    monkeypatch.delenv(sharing.CHAPTERS_AT_ONCE_ENV, raising=False)
    assert sharing.chapters_at_once() is None
    monkeypatch.setenv(sharing.CHAPTERS_AT_ONCE_ENV, "2")
    assert sharing.chapters_at_once() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(sharing.CHAPTERS_AT_ONCE_ENV, bad)
        with pytest.raises(ConfigError, match="D2M_CHAPTERS_AT_ONCE"):
            sharing.chapters_at_once()


@pytest.mark.usefixtures("one_thread")
def test_train_stage_waits_for_a_run_another_holds(
    tmp_path: Path, smoke_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from d2mlib import config, train

    monkeypatch.setenv(sharing.CHAPTERS_AT_ONCE_ENV, "2")  # as the prebuild sets it
    cfg = config.make_config("smoke", seed=0)
    path = tmp_path / train.run_name("style", cfg, smoke_data)
    result: list = []
    with file_lock(path):  # as a chapter training this run in another process would
        thread = threading.Thread(
            target=lambda: result.append(
                train.train_stage("style", cfg, smoke_data, tmp_path, progress=False)
            )
        )
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and not path.exists()  # waiting at the lock, nothing written
    thread.join(timeout=300)
    assert result and result[0].path == path and (path / "done").is_file()
    info = result[0].info  # how the machine was shared, beside the seconds
    assert info["chapters_at_once"] == 2 and info["threads"] == 1 and info["seconds"] > 0
