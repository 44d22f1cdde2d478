"""Tests of d2mlib.widgets: the rerun panel, the static-page gallery, the audio input."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from IPython.display import HTML

from d2mlib import data, widgets
from d2mlib.errors import AudioError, ConfigError, DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _figure(value: float = 1.0) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, value])
    return fig


def _visible_items(page: str) -> list[str]:
    """The data-choice values of the gallery items shown (display: block)."""
    return re.findall(r'data-choice="(\d+)" style="display: block"', page)


# --------------------------------------------------------------------------- choice_gallery


def test_choice_gallery_has_one_option_per_item_and_shows_only_the_first() -> None:
    items = {"ballet, seed 0": _figure(1), "zumba <1>": HTML("<p>zumba</p>"), "hiphop": "<i>h</i>"}
    page = widgets.choice_gallery(items, "style and seed").data
    options = re.findall(r"<option value=\"(\d+)\"[^>]*>([^<]*)</option>", page)
    assert [v for v, _ in options] == ["0", "1", "2"]
    assert [t for _, t in options] == ["ballet, seed 0", "zumba &lt;1&gt;", "hiphop"]
    assert _visible_items(page) == ["0"]
    assert len(re.findall(r'style="display: none"', page)) == 2
    assert "<p>zumba</p>" in page and "<i>h</i>" in page
    assert "<label" in page and "style and seed" in page


def test_choice_gallery_embeds_figures_as_png_and_closes_them() -> None:
    fig = _figure()
    page = widgets.choice_gallery({"only": fig}, "x").data
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert match is not None
    assert base64.b64decode(match.group(1)).startswith(PNG_MAGIC)
    assert fig.number not in plt.get_fignums()


def test_choice_gallery_emits_no_external_url_and_needs_no_require() -> None:
    page = widgets.choice_gallery({"a": _figure(), "b": "<b>b</b>"}, "pick").data
    assert not re.search(r"https?://", page)
    assert "require" not in page
    assert "onchange=" in page


def test_choice_gallery_ids_are_unique_across_calls() -> None:
    first = widgets.choice_gallery({"a": "<b>a</b>", "b": "<b>b</b>"}, "pick").data
    second = widgets.choice_gallery({"a": "<b>a</b>", "b": "<b>b</b>"}, "pick").data
    ids_1 = set(re.findall(r'id="([^"]+)"', first))
    ids_2 = set(re.findall(r'id="([^"]+)"', second))
    assert len(ids_1) >= 3
    assert ids_1.isdisjoint(ids_2)
    # the switcher only looks up its own gallery's element
    uid = re.search(r'class="d2m-gallery" id="([^"]+)"', first).group(1)
    assert f"getElementById(&#x27;{uid}-items&#x27;)" in first


def test_choice_gallery_rejects_empty_and_unrenderable_items() -> None:
    with pytest.raises(ConfigError):
        widgets.choice_gallery({}, "nothing")
    with pytest.raises(ConfigError, match="cannot render"):
        widgets.choice_gallery({"n": np.zeros(3)}, "array")


# --------------------------------------------------------------------------- rerun_panel


class _Recorder:
    """A panel function that records its calls and returns a figure and a line of text."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, style: str, seed: int) -> list:
        self.calls.append({"style": style, "seed": seed})
        if seed == 13:
            raise DataError("unit list is empty\n(second line)", "data/unitList/x.txt")
        if seed == 99:
            raise ValueError("a bug")
        return [_figure(seed + 1), f"{style} seed {seed}"]


def _panel(fn: _Recorder, autorun: bool = True) -> widgets.RerunPanel:
    controls = {"style": widgets.style_dropdown("zumba"), "seed": widgets.seed_box(3)}
    return widgets.rerun_panel(fn, controls, "Explore", run_label="Go", autorun=autorun)


def test_rerun_panel_calls_fn_once_with_defaults_at_construction() -> None:
    fn = _Recorder()
    panel = _panel(fn)
    assert fn.calls == [{"style": "zumba", "seed": 3}]
    assert isinstance(panel, ipywidgets.VBox)
    assert panel.output in panel.children
    texts = [o["data"].get("text/plain") for o in panel.output.outputs]
    assert "zumba seed 3" in texts
    assert panel.button.description == "Go" and not panel.button.disabled


def test_rerun_panel_without_autorun_waits_for_the_button() -> None:
    fn = _Recorder()
    panel = _panel(fn, autorun=False)
    assert fn.calls == [] and panel.output.outputs == ()
    panel.button.click()
    assert fn.calls == [{"style": "zumba", "seed": 3}]


def test_rerun_panel_reruns_with_the_changed_values_on_click() -> None:
    fn = _Recorder()
    panel = _panel(fn)
    panel.controls["style"].value = "hiphop"
    panel.controls["seed"].value = 5
    panel.button.click()
    assert fn.calls == [{"style": "zumba", "seed": 3}, {"style": "hiphop", "seed": 5}]
    texts = [o["data"].get("text/plain") for o in panel.output.outputs]
    assert texts[-1] == "hiphop seed 5"  # replaced, not appended
    assert len(panel.output.outputs) == 2


def test_rerun_panel_renders_a_figure_as_a_png_output_and_closes_it() -> None:
    before = set(plt.get_fignums())
    panel = _panel(_Recorder())
    first = panel.output.outputs[0]
    assert first["output_type"] == "display_data"
    assert base64.b64decode(first["data"]["image/png"]).startswith(PNG_MAGIC)
    assert set(plt.get_fignums()) == before


def test_rerun_panel_shows_a_d2m_error_as_one_line_instead_of_raising() -> None:
    fn = _Recorder()
    panel = _panel(fn)
    panel.controls["seed"].value = 13
    panel.button.click()  # must not raise
    (out,) = panel.output.outputs
    line = out["data"]["text/plain"]
    assert "\n" not in line
    assert line == "data/unitList/x.txt: unit list is empty (second line)"
    assert "Traceback" not in out["data"]["text/html"]
    assert panel.status.value == "failed" and not panel.button.disabled


def test_rerun_panel_shows_a_d2m_error_at_construction_too() -> None:
    fn = _Recorder()
    controls = {"style": widgets.style_dropdown(), "seed": widgets.seed_box(13)}
    panel = widgets.rerun_panel(fn, controls, "Explore")
    assert "unit list is empty" in panel.output.outputs[0]["data"]["text/plain"]


def test_rerun_panel_raises_unexpected_errors_at_build_but_not_on_click() -> None:
    fn = _Recorder()
    bad = {"style": widgets.style_dropdown(), "seed": widgets.seed_box(99)}
    with pytest.raises(ValueError, match="a bug"):
        widgets.rerun_panel(fn, bad, "Explore")
    panel = _panel(fn)
    panel.controls["seed"].value = 99
    panel.button.click()
    (out,) = panel.output.outputs
    assert out["output_type"] == "stream" and "ValueError: a bug" in out["text"]
    assert not panel.button.disabled


def test_rerun_panel_shows_dataframes_and_html_and_passes_progress() -> None:
    seen: list[float] = []

    def fn(n: int, progress) -> tuple:
        for i in range(n):
            progress((i + 1) / n, f"step {i + 1}")
            seen.append(panel_ref[0].progress.value if panel_ref else -1.0)
        return pd.DataFrame({"x": range(n)}), HTML("<em>done</em>"), None

    panel_ref: list[widgets.RerunPanel] = []
    panel = widgets.rerun_panel(fn, {"n": ipywidgets.IntSlider(value=2)}, "T", autorun=False)
    panel_ref.append(panel)
    panel.button.click()
    assert seen == [0.5, 1.0]
    table, note = panel.output.outputs
    assert "<table" in table["data"]["text/html"]
    assert note["data"]["text/html"] == "<em>done</em>"
    assert panel.progress.layout.display == "none"  # hidden again when idle


def test_rerun_panel_carries_the_live_rerun_note() -> None:
    panel = _panel(_Recorder())
    notes = [c.value for c in panel.children if isinstance(c, ipywidgets.HTML)]
    assert any("Live reruns need JupyterLab" in n and "make lab" in n for n in notes)


def _enabled_controls(widget: ipywidgets.Widget) -> list[str]:
    """Descriptions of the enabled controls in a widget tree (what a reader could operate)."""
    found = []
    if "disabled" in widget.keys and not widget.disabled:
        found.append(f"{type(widget).__name__} {getattr(widget, 'description', '')}")
    for child in getattr(widget, "children", ()):
        found += _enabled_controls(child)
    return found


def test_rerun_panel_outside_a_book_build_stays_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D2M_BOOK_BUILD", raising=False)
    panel = _panel(_Recorder())
    assert panel.live
    assert sorted(_enabled_controls(panel)) == [
        "BoundedIntText seed",
        "Button Go",
        "Dropdown style",
    ]
    assert panel.status.value.startswith("done in")


def test_rerun_panel_in_a_book_build_is_frozen_with_a_note_naming_make_lab(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("D2M_BOOK_BUILD", "1")
    fn = _Recorder()
    panel = _panel(fn)
    assert fn.calls == [{"style": "zumba", "seed": 3}]  # the result is still computed once
    assert len(panel.output.outputs) == 2
    assert not panel.live
    assert _enabled_controls(panel) == []
    assert panel.button.description == "Go (live kernel only)"
    assert panel.button.layout.width == "auto"  # the label is shown whole
    assert "done in" not in panel.status.value  # no stale timing on a static page
    assert "make lab" in panel.note.value and "disabled" in panel.note.value
    panel.run()  # a programmatic rerun keeps it frozen
    assert panel.button.disabled
    box, _ = widgets.audio_input(None)  # nested controls: a text box and an upload button
    nested = widgets.rerun_panel(lambda music: music.name, {"music": box}, "Your music")
    assert _enabled_controls(nested) == []


def test_rerun_panel_keeps_a_failed_status_when_frozen() -> None:
    fn = _Recorder()
    controls = {"style": widgets.style_dropdown(), "seed": widgets.seed_box(13)}
    panel = widgets.rerun_panel(fn, controls, "Explore", live=False)
    assert panel.status.value == "failed"
    assert "unit list is empty" in panel.output.outputs[0]["data"]["text/plain"]


def test_book_build_flag_rejects_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D2M_BOOK_BUILD", "yes please")
    with pytest.raises(ConfigError, match="D2M_BOOK_BUILD must be 0 or 1"):
        _panel(_Recorder())


def test_rerun_panel_closes_figures_fn_made_but_did_not_return() -> None:
    def fn() -> str:
        _figure()
        return "text only"

    before = set(plt.get_fignums())
    widgets.rerun_panel(fn, {}, "T")
    assert set(plt.get_fignums()) == before


# --------------------------------------------------------------------------- controls


def test_control_factories_have_consistent_names_and_defaults() -> None:
    assert widgets.style_dropdown().options == ("ballet", "zumba", "hiphop")
    assert widgets.seed_box(7).value == 7
    assert widgets.spread_slider().value == pytest.approx(1.0)
    assert 64 in widgets.batch_size_dropdown().options
    assert widgets.hidden_size_dropdown(300).value == 300  # an unlisted default is added
    assert widgets.rnn_toggle("lstm").value == "lstm"
    slider = widgets.clip_slider(5, value=9)
    assert (slider.min, slider.max, slider.value) == (0, 4, 4)
    descriptions = [
        widgets.style_dropdown().description,
        widgets.seed_box().description,
        widgets.spread_slider().description,
        widgets.batch_size_dropdown().description,
        widgets.hidden_size_dropdown().description,
        widgets.rnn_toggle().description,
        widgets.clip_slider(2).description,
    ]
    assert descriptions == [
        "style",
        "seed",
        "spread",
        "batch size",
        "hidden size",
        "rnn",
        "clip",
    ]


def test_control_factories_reject_bad_values() -> None:
    with pytest.raises(ConfigError):
        widgets.style_dropdown("tango")
    with pytest.raises(ConfigError):
        widgets.rnn_toggle("transformer")
    with pytest.raises(ConfigError):
        widgets.clip_slider(0)


# --------------------------------------------------------------------------- audio_input


def test_audio_input_getter_returns_the_typed_path(tmp_path) -> None:
    wav = tmp_path / "song.wav"
    wav.write_bytes(b"RIFF")
    box, get = widgets.audio_input(str(wav))
    assert get() == wav
    other = tmp_path / "other.flac"
    other.write_bytes(b"fLaC")
    box.children[0].value = str(other)
    assert get() == other
    assert box.d2m_value() == other


def test_audio_input_getter_names_a_missing_path(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "gone.wav"
    _, get = widgets.audio_input(str(missing))
    with pytest.raises(AudioError, match="not found") as info:
        get()
    assert str(missing) in str(info.value)
    _, empty = widgets.audio_input(None)
    with pytest.raises(AudioError, match="no audio file chosen"):
        empty()
    _, folder = widgets.audio_input(str(tmp_path))
    with pytest.raises(AudioError, match="folder"):
        folder()


def _upload_value(name: str, content: bytes) -> tuple[dict, ...]:
    """The FileUpload value of ipywidgets 8: a tuple of dicts."""
    return (
        {
            "name": name,
            "type": "audio/wav",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime(2026, 1, 1, tzinfo=UTC),
        },
    )


def test_audio_input_writes_an_upload_and_returns_its_path() -> None:
    box, get = widgets.audio_input(None)
    text = box.children[0]
    upload = box.children[1].children[0]
    assert isinstance(upload, ipywidgets.FileUpload) and "audio" in upload.accept
    content = b"RIFF" + bytes(range(256)) * 3
    upload.value = _upload_value("../my song.wav", content)
    path = get()
    assert path.name == "my song.wav"  # no folder part from the browser is kept
    assert path.read_bytes() == content
    assert text.value == str(path)  # the box shows what the getter returns
    # the bytes are not kept in the widget (nor in a saved notebook), but the entry is, so
    # the button's label counts the upload: "Upload (1)", not "Upload (0)"
    (entry,) = upload.value
    assert entry["name"] == "../my song.wav" and len(entry["content"]) == 0
    assert "uploaded my song.wav" in box.children[1].children[1].value
    assert get() == path  # the emptied entry does not replace the written file


def test_audio_input_upload_works_as_a_rerun_panel_control() -> None:
    box, _ = widgets.audio_input(None)
    panel = widgets.rerun_panel(lambda audio: f"size {audio.stat().st_size}", {"audio": box}, "T")
    assert "no audio file chosen" in panel.output.outputs[0]["data"]["text/plain"]
    box.children[1].children[0].value = _upload_value("a.wav", b"RIFF1234")
    panel.button.click()
    assert panel.output.outputs[0]["data"]["text/plain"] == "size 8"


# --------------------------------------------------------------------------- in a real kernel

NOTEBOOK = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A panel

```{code-cell} ipython3
import matplotlib.pyplot as plt
from d2mlib import widgets

def show(style, seed):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, seed])
    return [fig, f"initial output: {style} seed {seed}"]

widgets.rerun_panel(show, {"style": widgets.style_dropdown(), "seed": widgets.seed_box(4)}, "Demo")
```
"""


def test_executed_notebook_saves_the_panel_state_with_its_initial_output(tmp_path) -> None:
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    path = tmp_path / "panel.md"
    path.write_text(NOTEBOOK, encoding="utf-8")
    nb = jupytext.read(path, fmt="md:myst")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code"]
    nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    outputs = [m for m in state.values() if m["model_name"] == "OutputModel"]
    assert len(outputs) == 1
    captured = outputs[0]["state"]["outputs"]
    texts = [o["data"].get("text/plain") for o in captured]
    assert "initial output: ballet seed 4" in texts
    assert any("image/png" in o["data"] for o in captured)
    # the cell shows the panel itself (a widget view), and no stray figure
    cell_outputs = nb.cells[-1].outputs
    mimes = [set(o.get("data", {})) for o in cell_outputs]
    assert any("application/vnd.jupyter.widget-view+json" in m for m in mimes)
    assert not any("image/png" in m for m in mimes)
    notes = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    assert any("Live reruns need JupyterLab" in n for n in notes)


# --------------------------------------------------------------------------- chapter front ends


@pytest.fixture(scope="module")
def smoke_generator():
    """An untrained DanceGenerator at smoke sizes (the wiring does not depend on the weights)."""
    from d2mlib.timing import build_generator

    return build_generator("smoke")


@pytest.fixture(scope="module")
def smoke_chapter(smoke_data, tmp_path_factory):
    """A smoke-mode Chapter over the shared smoke dataset."""
    from d2mlib.chapter import Chapter

    runs = tmp_path_factory.mktemp("runs")
    return Chapter(smoke=True, seed=0, data_dir=smoke_data, runs_dir=runs, synthetic=True)


def _png(panel: widgets.RerunPanel, i: int = 0) -> bytes:
    pngs = [o["data"]["image/png"] for o in panel.output.outputs if "image/png" in o["data"]]
    return base64.b64decode(pngs[i])


def test_initial_pose_explorer_draws_poses_that_change_with_the_seed(smoke_generator) -> None:
    panel = widgets.initial_pose_explorer(smoke_generator, n=4)
    assert panel.status.value.startswith("done")
    first = _png(panel)
    assert first.startswith(PNG_MAGIC)
    panel.controls["seed"].value = 7
    panel.button.click()
    assert _png(panel) != first
    panel.controls["seed"].value = 0
    panel.button.click()
    assert _png(panel) == first  # same seed, same poses


def test_music_explorer_names_a_missing_file_and_missing_models(tmp_path) -> None:
    missing = tmp_path / "song.mp3"
    panel = widgets.music_explorer(missing, generator=None)
    (out,) = panel.output.outputs
    assert out["data"]["text/plain"] == f"{missing}: audio file not found"
    missing.write_bytes(b"not audio")
    panel.button.click()
    assert "no trained models" in panel.output.outputs[0]["data"]["text/plain"]
    panel = widgets.music_explorer(missing, generator=tmp_path / "no_runs")
    assert "runs directory not found" in panel.output.outputs[0]["data"]["text/plain"]


@pytest.mark.slow
def test_music_explorer_shows_style_probabilities_beats_and_a_dance(tmp_path, smoke_generator):
    import soundfile as sf

    from d2mlib.synth import style_clip

    clip = style_clip("hiphop", seed=1, seconds=3.0)
    wav = tmp_path / "hiphop.wav"
    sf.write(wav, clip.wav, 22050)
    panel = widgets.music_explorer(wav, smoke_generator)
    summary, probs, beats, anim = panel.output.outputs
    assert summary["data"]["text/plain"].startswith("hiphop.wav: 3.0 s of music")
    assert base64.b64decode(probs["data"]["image/png"]).startswith(PNG_MAGIC)
    assert base64.b64decode(beats["data"]["image/png"]).startswith(PNG_MAGIC)
    assert "<audio" in anim["data"]["text/html"]
    assert not re.search(r"(src|href)=\"https?://", anim["data"]["text/html"])


def test_clip_material_reads_the_clip_dance_audio_and_true_beats(smoke_data) -> None:
    from d2mlib.data import read_dataset

    index = read_dataset(smoke_data, check_arrays=False)
    poses, y, beats, name = data.clip_material(index, "zumba", 1)
    n_units = int(((index.units["style"] == "zumba") & (index.units["clip"] == "1")).sum())
    assert poses.shape[1:] == (14, 2) and poses.shape[0] % 32 == 0 and poses.shape[0] > 0
    assert n_units >= poses.shape[0] // 32
    assert y is not None and len(y) == poses.shape[0] * 1470
    assert beats.size > 0 and np.all(np.diff(beats) > 0)
    assert name.startswith("zumba") and name.count("zumba") == 1 and name.endswith(", clip 1")
    with pytest.raises(DataError, match="no clip 999"):
        data.clip_material(index, "zumba", 999)


@pytest.mark.slow
def test_data_explorer_shows_unit_beats_and_animation_with_sound(smoke_chapter) -> None:
    panel = widgets.data_explorer(smoke_chapter)
    unit, beats, anim = panel.output.outputs
    assert base64.b64decode(unit["data"]["image/png"]).startswith(PNG_MAGIC)
    assert base64.b64decode(beats["data"]["image/png"]).startswith(PNG_MAGIC)
    assert "<audio" in anim["data"]["text/html"]
    slider = panel.controls["clip"]
    assert slider.max >= 1
    slider.value = slider.max  # the last clip of the style still loads
    panel.button.click()
    assert len(panel.output.outputs) == 3


@pytest.mark.slow
def test_training_explorer_reports_losses_and_time_per_step(smoke_chapter) -> None:
    panel = widgets.training_explorer(smoke_chapter, steps=2)
    summary, fig = panel.output.outputs
    text = summary["data"]["text/plain"]
    assert text.startswith("2 decomposition steps at smoke sizes, batch 8, hidden 16, GRU")
    assert base64.b64decode(fig["data"]["image/png"]).startswith(PNG_MAGIC)
    panel.controls["rnn"].value = "lstm"
    panel.controls["hidden_size"].value = 64
    panel.button.click()
    assert "hidden 64, LSTM" in panel.output.outputs[0]["data"]["text/plain"]


def test_short_training_run_logs_every_step_in_metrics_layout(smoke_data) -> None:
    metrics, times, n_params = widgets.short_training_run(
        smoke_data, "smoke", batch_size=4, hidden_size=8, rnn="gru", steps=3
    )
    assert list(metrics.columns) == ["step", "epoch", "split", "term", "value"]
    assert sorted(metrics["step"].unique()) == [1, 2, 3]
    assert np.all(np.isfinite(metrics["value"]))
    assert times.shape == (3,) and np.all(times > 0)
    assert n_params > 0


# --------------------------------------------------------------------------- in a browser

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_choice_gallery_switches_items_in_a_browser_with_no_kernel(tmp_path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    galleries = [
        widgets.choice_gallery({"one": "<p>first</p>", "two": _figure(), "three": "<p>3</p>"}, "a")
        for _ in range(2)
    ]
    page_file = tmp_path / "page.html"
    body = "\n".join(g.data for g in galleries)
    page_file.write_text(f"<!DOCTYPE html><html><body>{body}</body></html>", encoding="utf-8")
    ids = [re.search(r'class="d2m-gallery" id="([^"]+)"', g.data).group(1) for g in galleries]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_file.as_uri())

            def shown(uid: str) -> list[str]:
                items = page.locator(f"#{uid}-items > div")
                return [str(i) for i in range(items.count()) if items.nth(i).is_visible()]

            assert shown(ids[0]) == ["0"] and shown(ids[1]) == ["0"]
            page.select_option(f"#{ids[0]}-select", "1")
            assert shown(ids[0]) == ["1"]
            assert shown(ids[1]) == ["0"]  # the other gallery is untouched
            assert page.locator(f"#{ids[0]}-items img").is_visible()
            page.select_option(f"#{ids[0]}-select", "2")
            assert shown(ids[0]) == ["2"]
            assert errors == []
        finally:
            browser.close()
