"""Every chapter executes in smoke mode, and the book builds with warnings as errors."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from d2mlib import prebuild
from d2mlib.site import offhost_references
from d2mlib.studies import scorecard

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    """The chapters listed in _toc.yml, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p["chapters"]]
    while stack:
        entry = stack.pop(0)
        files.append(entry["file"])
        stack[:0] = entry.get("sections", [])
    return files


def is_notebook(path: Path) -> bool:
    """True for MyST Markdown notebooks (jupytext front matter with a kernelspec)."""
    head = path.read_text(encoding="utf-8")[:400]
    return head.startswith("---") and "kernelspec" in head


CHAPTERS = [f for f in toc_files() if is_notebook(ROOT / f"{f}.md")]


def test_toc_lists_only_existing_pages() -> None:
    missing = [f for f in toc_files() if not (ROOT / f"{f}.md").is_file()]
    assert missing == []


def test_sources_hold_no_outputs() -> None:
    assert list((ROOT / "book").rglob("*.ipynb")) == []


def test_every_chapter_has_one_parameters_cell() -> None:
    for name in CHAPTERS:
        nb = jupytext.read(ROOT / f"{name}.md")
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == (0 if name == "book/intro" else 1), name


@pytest.mark.book
@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_runs_in_smoke_mode(
    name: str,
    smoke_env: dict[str, str],
    smoke_executed: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jupyter_cache import get_cache

    cache_dir, failed = smoke_executed  # every chapter, executed as `make book` executes them
    assert name.rsplit("/", 1)[-1] not in failed, failed.get(name.rsplit("/", 1)[-1])
    path = ROOT / f"{name}.md"
    nb = prebuild.read_chapter(path)
    if nb.metadata.get("mystnb", {}).get("execution_mode") == "force":  # the intro: run it here
        for key in ("D2M_BOOK_BUILD", "D2M_SMOKE", "D2M_DATA", "D2M_RUNS"):
            monkeypatch.setenv(key, smoke_env[key])
        _, text, _, error = prebuild.execute_chapter(str(path), timeout=900)
        assert error is None, error
        nb = nbformat.reads(text, as_version=4)
    else:
        cache = get_cache(str(cache_dir))
        nb = cache.get_cache_bundle(cache.match_cache_notebook(nb).pk).nb
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    widget_views = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    if widget_views:
        state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        assert state.get("state"), f"{name}: widgets shown but no widget state saved"


@pytest.mark.book
def test_book_builds_warning_free_and_offline(smoke_site: Path) -> None:
    pages = sorted(smoke_site.rglob("*.html"))
    for name in toc_files():
        assert (smoke_site / f"{name}.html").is_file(), name
    assert offhost_references(smoke_site) == []
    assert len(pages) >= len(toc_files())


@pytest.mark.book
def test_book_pages_carry_no_traceback(smoke_site: Path) -> None:
    for name in toc_files():
        text = (smoke_site / f"{name}.html").read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, name
        assert "CellExecutionError" not in text, name


def test_site_checker_flags_cdn_scripts(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        '<script src="https://cdn.example.org/x.js"></script>'
        '<a href="https://example.org">a link is not a load</a>'
        '<img src="_images/local.png"><link rel="stylesheet" href="//fonts.example.org/f.css">'
    )
    (tmp_path / "s.css").write_text("body{background:url('https://x.example.org/b.png')}")
    found = offhost_references(tmp_path)
    assert sorted(url for _, url in found) == [
        "//fonts.example.org/f.css",
        "https://cdn.example.org/x.js",
        "https://x.example.org/b.png",
    ]
    assert json.dumps(found)  # plain data, printable in a report


@pytest.mark.book
def test_intro_scorecard_holds_every_chapters_verdict(smoke_site: Path) -> None:
    """The site reads the intro after the chapters, so each claim carries this build's verdict."""
    text = (smoke_site / "book" / "intro.html").read_text(encoding="utf-8")
    assert 'class="d2m-scorecard"' in text
    for claim in scorecard.CLAIMS:
        assert f'href="{claim.chapter}.html"' in text, claim.key
    assert text.count("d2m-verdict d2m-not-measured") <= 2  # the GPU row; real dance if absent
    assert scorecard.NOT_RUN not in text
    assert "fig-pipeline" in text
