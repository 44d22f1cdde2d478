"""d2mlib.chapter.glue: records for the book's {glue} references, and shows values outside it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from matplotlib_inline.backend_inline import set_matplotlib_formats

from d2mlib.chapter import book_build, glue
from tests.test_book import CHAPTERS, ROOT

PREFIX = "application/papermill.record/"


@pytest.fixture(scope="module", autouse=True)
def shell() -> InteractiveShell:
    """An IPython shell that formats figures as PNG, as a kernel's inline backend does."""
    ipython = InteractiveShell.instance()
    set_matplotlib_formats("png")
    return ipython


def _glued(name: str, value: object) -> list[dict]:
    """The display outputs of one glue call: (data, metadata) dicts."""
    with capture_output() as cap:
        glue(name, value, display=False)
    return [{"data": o.data, "metadata": o.metadata} for o in cap.outputs]


def test_book_build_glue_only_records_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D2M_BOOK_BUILD", "1")
    assert book_build()
    (record,) = _glued("n_clips", 42)
    assert record["data"] == {PREFIX + "text/plain": "42"}
    assert record["metadata"]["scrapbook"] == {"name": "n_clips", "mime_prefix": PREFIX}


def test_outside_the_book_a_number_is_also_shown_as_a_name_value_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("D2M_BOOK_BUILD", raising=False)
    record, shown = _glued("hit_rate", "37%")
    assert record["metadata"]["scrapbook"]["name"] == "hit_rate"  # the book's record is kept
    assert shown["data"]["text/plain"] == "hit_rate: 37%"
    assert "<code>hit_rate</code>: 37%" in shown["data"]["text/html"]
    record, shown = _glued("n", 3)
    assert shown["data"]["text/plain"] == "n: 3"


def test_outside_the_book_a_figure_is_shown_once_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("D2M_BOOK_BUILD", raising=False)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    outputs = _glued("fig_units", fig)
    record, shown = outputs
    assert PREFIX + "image/png" in record["data"]
    assert "image/png" in shown["data"]
    assert fig.number not in plt.get_fignums()  # closed: the inline backend will not redraw it


def test_outside_the_book_a_table_is_shown_under_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D2M_BOOK_BUILD", raising=False)
    table = pd.DataFrame({"metric": ["fid"], "value": [1.5]})
    _, label, shown = _glued("tbl", table)
    assert label["data"]["text/plain"] == "tbl: "
    assert "<table" in shown["data"]["text/html"]


def test_explicit_display_shows_the_value_as_myst_nb_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D2M_BOOK_BUILD", raising=False)
    with capture_output() as cap:
        glue("x", 5, display=True)
    (out,) = cap.outputs
    assert out.data == {"text/plain": "5"}


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_glues_through_d2mlib_so_lab_readers_see_the_values(name: str) -> None:
    text = (ROOT / f"{name}.md").read_text(encoding="utf-8")
    assert "from myst_nb import glue" not in text, (
        f"{name}.md: import glue from d2mlib.chapter (it also shows the values in JupyterLab)"
    )
