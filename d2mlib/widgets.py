"""The ipywidgets front ends of the book's chapters, and a kernel-free switcher for the static page.

Every front end is a `rerun_panel`: controls, a Run button, a note that live reruns need
JupyterLab, and an `ipywidgets.Output` holding the result. At build time (nbclient, myst-nb)
the panel computes its result once with the default control values, so the static page shows
it inside the embedded widget state; in JupyterLab, pressing Run recomputes it from the
controls' current values. A static page has no kernel, so moving a control there changes
nothing: where exploring the static page matters, chapters precompute a few results and
switch between them with `choice_gallery` (plain HTML and a few lines of inline JS).

Results are written into the Output widget's `outputs` directly (as MIME bundles), not through
`with output:` capture, so they land in the widget state the same way in a kernel, under
nbclient and in plain Python (the tests). Matplotlib figures become PNGs and are closed, so
none is drawn twice.
"""

from __future__ import annotations

import base64
import hashlib
import html
import inspect
import io
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np

from d2mlib._io import write_bytes
from d2mlib.errors import AudioError, CheckpointError, ConfigError, D2MError

if TYPE_CHECKING:
    from IPython.display import HTML
    from matplotlib.figure import Figure

STYLES: tuple[str, ...] = ("ballet", "zumba", "hiphop")  # same order as d2mlib.data.STYLES
LIVE_NOTE = "Live reruns need JupyterLab: <code>make lab</code>"
AUDIO_ACCEPT = "audio/*,.wav,.flac,.ogg,.oga,.opus,.mp3"
BATCH_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
HIDDEN_SIZES: tuple[int, ...] = (16, 64, 128, 256, 512, 1024)
_WIDE = {"description_width": "initial"}
_ERROR_STYLE = "color: #b00020; font-family: monospace; white-space: pre-wrap"


# --------------------------------------------------------------------------- rendering


def _figure_png(fig: Figure) -> bytes:
    """PNG bytes of a matplotlib figure, cropped to its content."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _close(fig: Figure) -> None:
    """Forget a figure in pyplot (so the inline backend does not draw it again)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def _is_figure(obj: object) -> bool:
    """Whether `obj` is a matplotlib Figure (without importing matplotlib when it is absent)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return False
    return isinstance(obj, Figure)


def _format(obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """MIME data and metadata of a display object, by the running shell's formatter if any."""
    from IPython import get_ipython
    from IPython.core.formatters import DisplayFormatter

    shell = get_ipython()
    formatter = shell.display_formatter if shell is not None else DisplayFormatter()
    data, metadata = formatter.format(obj)
    return dict(data), dict(metadata)


def mime_outputs(obj: object) -> list[dict[str, Any]]:
    """Notebook outputs (display_data dicts) for a result: Figure, HTML, DataFrame, str, list, None.

    A Figure becomes an inline PNG and is closed; a list or tuple gives the outputs of its
    items in order; None gives nothing; anything else goes through IPython's formatter.
    """
    if obj is None:
        return []
    if isinstance(obj, list | tuple):
        return [out for item in obj for out in mime_outputs(item)]
    if _is_figure(obj):
        png = base64.b64encode(_figure_png(obj)).decode("ascii")  # type: ignore[arg-type]
        _close(obj)  # type: ignore[arg-type]
        data: dict[str, Any] = {"image/png": png, "text/plain": "<Figure>"}
        return [{"output_type": "display_data", "data": data, "metadata": {}}]
    if isinstance(obj, str):
        data = {"text/plain": obj}
        return [{"output_type": "display_data", "data": data, "metadata": {}}]
    data, metadata = _format(obj)
    return [{"output_type": "display_data", "data": data, "metadata": metadata}]


def error_output(exc: BaseException) -> dict[str, Any]:
    """One display_data output showing an error as a single line (no traceback)."""
    line = " ".join(str(exc).split()) or type(exc).__name__
    data = {
        "text/plain": line,
        "text/html": f'<div class="d2m-error" style="{_ERROR_STYLE}">{html.escape(line)}</div>',
    }
    return {"output_type": "display_data", "data": data, "metadata": {}}


def _html_of(obj: object, label: str) -> str:
    """HTML of one gallery item: a Figure as an inline PNG, HTML objects and strings as they are."""
    if _is_figure(obj):
        png = base64.b64encode(_figure_png(obj)).decode("ascii")  # type: ignore[arg-type]
        _close(obj)  # type: ignore[arg-type]
        alt = html.escape(label, quote=True)
        return f'<img src="data:image/png;base64,{png}" alt="{alt}" style="max-width: 100%">'
    if isinstance(obj, str):
        return obj
    data = getattr(obj, "data", None)
    if isinstance(data, str) and type(obj).__name__ == "HTML":
        return data
    if hasattr(obj, "_repr_html_"):
        out = obj._repr_html_()  # type: ignore[attr-defined]
        if isinstance(out, str):
            return out
    raise ConfigError(
        f"choice_gallery item {label!r}: cannot render a {type(obj).__name__} "
        "(give a matplotlib Figure, an IPython HTML object or an HTML string)"
    )


def choice_gallery(items: Mapping[str, object], label: str) -> HTML:
    """Pre-rendered items shown one at a time, switched by a <select>: works with no kernel.

    Figures become inline base64 PNGs (and are closed); HTML objects and strings are kept
    as they are (their own scripts included). The switch is a few lines of inline JS on the
    select's `onchange`, scoped to this gallery's unique id: no require.js, no external URL.
    """
    from IPython.display import HTML

    if not items:
        raise ConfigError("choice_gallery needs at least one item")
    uid = f"d2m-gallery-{uuid.uuid4().hex}"
    select_id = f"{uid}-select"
    options, panels = [], []
    for i, (name, obj) in enumerate(items.items()):
        text = html.escape(str(name))
        selected = " selected" if i == 0 else ""
        options.append(f'<option value="{i}"{selected}>{text}</option>')
        display = "block" if i == 0 else "none"
        body = _html_of(obj, str(name))
        panels.append(
            f'<div class="d2m-gallery-item" data-choice="{i}" style="display: {display}">'
            f"{body}</div>"
        )
    switch = (
        f"var box = document.getElementById('{uid}-items');"
        " for (var i = 0; i < box.children.length; i++) {"
        " var item = box.children[i];"
        " item.style.display = item.getAttribute('data-choice') === this.value ? 'block' : 'none';"
        " }"
    )
    out = (
        f'<div class="d2m-gallery" id="{uid}">'
        f'<div class="d2m-gallery-controls" style="margin-bottom: 0.5em">'
        f'<label for="{select_id}">{html.escape(label)}</label> '
        f'<select id="{select_id}" onchange="{html.escape(switch, quote=True)}">'
        + "".join(options)
        + "</select></div>"
        f'<div id="{uid}-items">' + "".join(panels) + "</div></div>"
    )
    return HTML(out)


# --------------------------------------------------------------------------- the rerun panel


def _read(control: widgets.Widget) -> Any:
    """A control's value: its `d2m_value()` getter when it has one, else its `.value`."""
    getter = getattr(control, "d2m_value", None)
    if callable(getter):
        return getter()
    if not hasattr(control, "value"):
        raise ConfigError(f"control {type(control).__name__} has no value")
    return control.value


class RerunPanel(widgets.VBox):
    """Controls, a Run button, a live-rerun note and an Output: what `rerun_panel` returns."""

    def __init__(
        self,
        fn: Callable[..., object],
        controls: Mapping[str, widgets.Widget],
        title: str,
        run_label: str = "Run",
        note: str = LIVE_NOTE,
    ) -> None:
        self.fn = fn
        self.controls = dict(controls)
        self.run_label = run_label
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.button = widgets.Button(
            description=run_label, button_style="primary", tooltip="recompute with these values"
        )
        self.status = widgets.HTML("")
        self.progress = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(display="none", width="200px")
        )
        self.note = widgets.HTML(f'<span style="color: #555; font-size: 90%">{note}</span>')
        self.output = widgets.Output(layout=widgets.Layout(min_height="2em"))
        self.runs = 0
        self._wants_progress = "progress" in inspect.signature(fn).parameters
        self.button.on_click(lambda _button: self.run(raise_unexpected=False))
        row = widgets.HBox([self.button, self.progress, self.status])
        super().__init__(
            [self.title, *self.controls.values(), row, self.note, self.output],
            layout=widgets.Layout(border="1px solid #ddd", padding="0.5em"),
        )

    def values(self) -> dict[str, Any]:
        """The current value of every control, by name."""
        return {name: _read(control) for name, control in self.controls.items()}

    def _report(self, fraction: float, text: str = "") -> None:
        """Progress callback handed to `fn` when it takes a `progress` argument."""
        self.progress.value = float(min(max(fraction, 0.0), 1.0))
        if text:
            self.status.value = html.escape(text)

    def run(self, raise_unexpected: bool = True) -> None:
        """Recompute: call fn with the controls' values and show its result (or its D2MError)."""
        import matplotlib.pyplot as plt

        self.runs += 1
        self.button.disabled = True
        self.button.description = "Running..."
        self.progress.value = 0.0
        self.progress.layout.display = None if self._wants_progress else "none"
        self.status.value = "running..."
        before = set(plt.get_fignums())
        t0 = time.perf_counter()
        outputs: list[dict[str, Any]] = []
        status = ""
        try:
            kwargs = self.values()
            if self._wants_progress:
                kwargs["progress"] = self._report
            outputs = mime_outputs(self.fn(**kwargs))
            status = f"done in {time.perf_counter() - t0:.1f} s"
        except D2MError as exc:
            outputs = [error_output(exc)]
            status = "failed"
        except Exception as exc:
            if raise_unexpected:
                raise
            text = "".join(traceback.format_exception(exc))
            outputs = [{"output_type": "stream", "name": "stderr", "text": text}]
            status = "failed (unexpected error)"
        finally:
            for num in set(plt.get_fignums()) - before:
                plt.close(num)
            self.output.outputs = tuple(outputs)
            self.status.value = html.escape(status)
            self.progress.layout.display = "none"
            self.button.description = self.run_label
            self.button.disabled = False


def rerun_panel(
    fn: Callable[..., object],
    controls: Mapping[str, widgets.Widget],
    title: str,
    run_label: str = "Run",
    autorun: bool = True,
    note: str = LIVE_NOTE,
) -> RerunPanel:
    """A panel that calls `fn(**values)` on Run (and once now with the defaults if `autorun`).

    `fn` may return a Figure, an IPython HTML object, a DataFrame, a str, None or a list of
    these; figures are shown as PNGs and closed. A `D2MError` (from `fn`, or from a control's
    `d2m_value()` getter) is shown as one line; other errors raise at construction and show
    their traceback in the output after a click. If `fn` takes a `progress` argument it
    receives a callback `progress(fraction, text="")` that moves a progress bar.
    """
    panel = RerunPanel(fn, controls, title, run_label, note)
    if autorun:
        panel.run(raise_unexpected=True)
    return panel


# --------------------------------------------------------------------------- controls


def style_dropdown(value: str = "ballet", description: str = "style") -> widgets.Dropdown:
    """Dropdown over the three styles (data.STYLES order)."""
    if value not in STYLES:
        raise ConfigError(f"unknown style {value!r}; expected one of {', '.join(STYLES)}")
    return widgets.Dropdown(options=STYLES, value=value, description=description, style=_WIDE)


def seed_box(value: int = 0, description: str = "seed") -> widgets.BoundedIntText:
    """Integer box for a random seed (0 .. 2**31 - 1)."""
    return widgets.BoundedIntText(
        value=int(value),
        min=0,
        max=2**31 - 1,
        description=description,
        style=_WIDE,
        layout=widgets.Layout(width="180px"),
    )


def spread_slider(
    value: float = 1.0, maximum: float = 3.0, description: str = "spread"
) -> widgets.FloatSlider:
    """Slider for the initial-pose spread (the std of z_init ~ N(0, spread^2))."""
    return widgets.FloatSlider(
        value=float(value),
        min=0.0,
        max=float(maximum),
        step=0.1,
        description=description,
        style=_WIDE,
        readout_format=".1f",
    )


def _dropdown_with(options: Sequence[int], value: int, description: str) -> widgets.Dropdown:
    """Integer dropdown holding `options` plus `value` (sorted)."""
    opts = sorted({int(o) for o in options} | {int(value)})
    return widgets.Dropdown(options=opts, value=int(value), description=description, style=_WIDE)


def batch_size_dropdown(
    value: int = 64, options: Sequence[int] = BATCH_SIZES, description: str = "batch size"
) -> widgets.Dropdown:
    """Dropdown of batch sizes."""
    return _dropdown_with(options, value, description)


def hidden_size_dropdown(
    value: int = 256, options: Sequence[int] = HIDDEN_SIZES, description: str = "hidden size"
) -> widgets.Dropdown:
    """Dropdown of recurrent hidden sizes."""
    return _dropdown_with(options, value, description)


def rnn_toggle(value: str = "gru", description: str = "rnn") -> widgets.ToggleButtons:
    """GRU or LSTM."""
    if value not in ("gru", "lstm"):
        raise ConfigError(f"rnn must be 'gru' or 'lstm', got {value!r}")
    return widgets.ToggleButtons(
        options=[("GRU", "gru"), ("LSTM", "lstm")],
        value=value,
        description=description,
        style=_WIDE,
    )


def clip_slider(n: int, value: int = 0, description: str = "clip") -> widgets.IntSlider:
    """Slider over clip numbers 0 .. n - 1."""
    if int(n) < 1:
        raise ConfigError(f"clip_slider needs at least one clip, got n={n}")
    return widgets.IntSlider(
        value=min(max(int(value), 0), int(n) - 1),
        min=0,
        max=int(n) - 1,
        description=description,
        style=_WIDE,
    )


# --------------------------------------------------------------------------- audio input


def _upload_dir() -> Path:
    """Where uploaded audio files are written (one folder per content hash)."""
    return Path(tempfile.gettempdir()) / "d2m_uploads"


def save_upload(entry: Mapping[str, Any]) -> Path:
    """Write one FileUpload value entry (name, content) to a temporary file; return its path."""
    name = Path(str(entry.get("name") or "upload.wav")).name or "upload.wav"
    content = entry.get("content")
    if content is None:
        raise AudioError(f"uploaded file {name!r} has no content")
    data = bytes(content)
    if not data:
        raise AudioError(f"uploaded file {name!r} is empty")
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = _upload_dir() / digest / name
    if not path.is_file() or path.stat().st_size != len(data):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, data)
    return path


def audio_input(
    default_path: str | Path | None = None, description: str = "audio file"
) -> tuple[widgets.VBox, Callable[[], Path]]:
    """A path box and an upload button for an audio file; the getter returns the chosen Path.

    Uploading writes the file to a temporary folder and puts its path in the box, so the
    box always shows what the getter returns. The getter raises AudioError when the box is
    empty, or when the path is missing or a directory. The returned widget also carries
    the getter as `d2m_value`, so it can be passed to `rerun_panel` as a control.
    """
    text = widgets.Text(
        value="" if default_path is None else str(default_path),
        placeholder="path/to/music.wav (wav, flac, ogg, mp3)",
        description=description,
        style=_WIDE,
        layout=widgets.Layout(width="min(100%, 560px)"),
    )
    upload = widgets.FileUpload(accept=AUDIO_ACCEPT, multiple=False, description="Upload")
    message = widgets.HTML("")

    def on_upload(change: Mapping[str, Any]) -> None:
        entries = change["new"]
        if not entries:
            return
        try:
            text.value = str(save_upload(entries[0]))
            message.value = ""
            upload.value = ()  # keep the bytes out of the widget state (and a saved notebook)
        except D2MError as exc:
            message.value = error_output(exc)["data"]["text/html"]

    upload.observe(on_upload, names="value")

    def getter() -> Path:
        raw = text.value.strip()
        if not raw and upload.value:  # an upload whose observer has not run
            raw = str(save_upload(upload.value[0]))
        if not raw:
            raise AudioError("no audio file chosen: type a path or upload a file")
        path = Path(raw).expanduser()
        if path.is_dir():
            raise AudioError("is a folder, not an audio file", path)
        if not path.is_file():
            raise AudioError("audio file not found", path)
        return path

    box = widgets.VBox([text, widgets.HBox([upload, message])])
    box.d2m_value = getter  # type: ignore[attr-defined]
    return box, getter


# --------------------------------------------------------------------------- chapter front ends


def _pose_row(poses: Sequence[np.ndarray], titles: Sequence[str], colour: str | None) -> Figure:
    """Poses (14, 2) side by side, one panel each, on a shared scale."""
    import matplotlib.pyplot as plt

    from d2mlib.viz import plot_pose

    fig, axes = plt.subplots(
        1, len(poses), figsize=(1.9 * len(poses), 3.4), sharex=True, sharey=True, squeeze=False
    )
    for ax, pose, title in zip(axes[0], poses, titles, strict=True):
        plot_pose(np.asarray(pose), ax=ax, colour=colour)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x (px)")
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def _style_probs_figure(probs: np.ndarray) -> Figure:
    """Horizontal bars: the predicted probability of each style, in the styles' colours."""
    import matplotlib.pyplot as plt

    from d2mlib.viz import style_colour

    probs = np.asarray(probs, dtype=float).reshape(-1)
    fig, ax = plt.subplots(figsize=(4.2, 1.8), layout="constrained")
    ax.barh(list(STYLES), probs, color=[style_colour(s) for s in STYLES])
    for i, p in enumerate(probs):
        ax.text(min(p + 0.02, 0.9), i, f"{p:.2f}", va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("predicted probability")
    ax.set_title("music style, as the style extractor hears it", fontsize=10)
    return fig


def _kinematic_beat_seconds(poses: np.ndarray) -> np.ndarray:
    """Kinematic beats (local minima of joint speed) of a dance, in seconds."""
    from d2mlib import skeleton

    return skeleton.kinematic_beats(poses).astype(np.float64) / skeleton.FPS


def _beats_figure(poses: np.ndarray, y: np.ndarray | None, music_beats: np.ndarray) -> Figure:
    """Mel-spectrogram (when there is audio) with music and kinematic beats, and joint speed."""
    from d2mlib import audio, skeleton
    from d2mlib.viz import plot_beats

    mel = None if y is None else audio.mel_spectrogram(y)
    return plot_beats(
        None,
        mel,
        np.asarray(music_beats, dtype=np.float64),
        _kinematic_beat_seconds(poses),
        speed=skeleton.joint_speed(poses),
    )


def clip_material(
    index: Any, style: str, clip: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, str]:
    """Clip `clip` of `style` in a dataset index: poses (T, 14, 2), waveform or None, beats (s), name.

    The dance is the clip's units in order; the waveform is the clip's .wav when the dataset
    has one (the synthetic world does); the beats are meta.json's true beats, else tracked
    from the waveform, else none.
    """
    import json

    from d2mlib import audio
    from d2mlib.errors import DataError

    clips = index.clips[index.clips["style"] == style].reset_index(drop=True)
    if not 0 <= int(clip) < len(clips):
        raise DataError(f"no clip {clip} of style {style!r}: it has {len(clips)} clips")
    row = clips.iloc[int(clip)]
    units = index.units
    mask = (
        (units["style"] == style)
        & (units["video"] == row["video"])
        & (units["clip"] == row["clip"])
    )
    rows = units[mask].sort_values("k")
    if rows.empty:
        raise DataError(f"clip {row['video']}/{row['clip']} has no units", index.data_dir)
    poses = np.concatenate([np.load(p) for p in rows["path"]]).astype(np.float32)
    feature_path = Path(row["audio"])
    wav = feature_path.with_name(feature_path.name.replace("_fps15.npy", ".wav"))
    y = audio.load_audio(wav) if wav.is_file() else None
    meta = feature_path.parent.parent / "meta.json"
    if meta.is_file():
        try:
            beats = np.asarray(json.loads(meta.read_text("utf-8"))["beat_times"], np.float64)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"unreadable beat_times ({exc})", meta) from exc
    elif y is not None:
        beats = np.asarray(audio.beats(y).times, np.float64)
    else:
        beats = np.zeros(0, np.float64)
    return poses, y, beats, f"{style} {row['video']} clip {row['clip']}"


def data_explorer(ch: Any, style: str = "ballet", clip: int = 0) -> RerunPanel:
    """Chapter "data": style and clip -> the clip's first unit, its beats, and its animation with sound."""
    from d2mlib import audio
    from d2mlib.data import read_dataset
    from d2mlib.viz import animate_dance, plot_unit

    index = read_dataset(ch.data_dir, check_arrays=False)
    counts = index.clips.groupby("style").size()
    n = int(min(int(counts.get(s, 0)) for s in STYLES))

    def show(style: str, clip: int) -> list[object]:
        poses, y, beats, name = clip_material(index, style, clip)
        unit = plot_unit(poses[: min(32, len(poses))], style=style, title=f"{name}: first unit")
        anim = animate_dance(
            poses, audio=y, sr=audio.SAMPLE_RATE, titles=[name], styles=[style], max_frames=150
        )
        return [unit, _beats_figure(poses, y, beats), anim]

    controls = {"style": style_dropdown(style), "clip": clip_slider(max(n, 1), clip)}
    return rerun_panel(show, controls, "A clip of the dataset: its dance, its beats, its music")


_GENERATORS: dict[str, Any] = {}


def _generator(source: Any) -> Any:
    """A DanceGenerator: `source` itself, or loaded (once) from a run folder or a runs folder."""
    if hasattr(source, "compose") and hasattr(source, "initial_pose"):
        return source
    if source is None:
        raise CheckpointError("no trained models given: train the composition stage first")
    from d2mlib.generate import DanceGenerator

    path = Path(source)
    key = str(path.resolve())
    if key not in _GENERATORS:
        is_run = (path / "config.yaml").is_file()
        _GENERATORS[key] = (
            DanceGenerator.from_run(path) if is_run else DanceGenerator.from_runs(path)
        )
    return _GENERATORS[key]


def music_explorer(
    path: str | Path | None = None,
    generator: Any = None,
    seed: int = 0,
    max_seconds: float = 30.0,
) -> RerunPanel:
    """Chapter "your music": an audio file -> predicted style probabilities, beats, a dance with sound.

    `generator` is a DanceGenerator, a composition run folder or a runs folder (the newest
    finished composition run is used); the music is cut to its first `max_seconds`.
    """
    from d2mlib import audio
    from d2mlib.viz import animate_dance

    box, _ = audio_input(path)

    def show(music: Path, seed: int, warp: bool) -> list[object]:
        gen = _generator(generator)
        y = audio.load_audio(music)[: int(max_seconds * audio.SAMPLE_RATE)]
        dance = gen.compose(y, seed=seed, warp=warp)
        p = float(np.max(dance.style_probs))
        summary = (
            f"{music.name}: {dance.duration:.1f} s of music, {len(dance.beat_times)} beats; "
            f"heard as {dance.style} (p = {p:.2f}); dance composed in {dance.seconds:.2f} s"
            + (", warped onto the beats" if dance.warped else "")
        )
        anim = animate_dance(
            dance.poses,
            audio=y,
            sr=audio.SAMPLE_RATE,
            titles=[f"seed {seed}, heard as {dance.style}"],
            styles=[dance.style],
        )
        beats = _beats_figure(dance.poses, y, dance.beat_times)
        return [summary, _style_probs_figure(dance.style_probs), beats, anim]

    warp = widgets.Checkbox(value=True, description="warp onto the beats", style=_WIDE)
    controls = {"music": box, "seed": seed_box(seed), "warp": warp}
    return rerun_panel(show, controls, "Your music: its style, its beats, a dance", "Compose")


def initial_pose_explorer(
    generator: Any, n: int = 4, spread: float = 1.0, seed: int = 0
) -> RerunPanel:
    """Chapter "initial pose": spread and seed -> `n` initial poses (seeds seed .. seed + n - 1).

    `generator` is a DanceGenerator, a composition run folder or a runs folder; pose i is the
    one `compose(seed=seed + i, init_spread=spread)` would start from.
    """
    if int(n) < 1:
        raise ConfigError(f"initial_pose_explorer needs n >= 1, got {n}")

    def show(spread: float, seed: int) -> Figure:
        gen = _generator(generator)
        seeds = [int(seed) + i for i in range(int(n))]
        poses = [gen.initial_pose(s, spread) for s in seeds]
        fig = _pose_row(poses, [f"seed {s}" for s in seeds], None)
        fig.suptitle(f"initial poses decoded from z_init ~ N(0, {spread:.1f}^2)", fontsize=10)
        return fig

    controls = {"spread": spread_slider(spread), "seed": seed_box(seed)}
    return rerun_panel(show, controls, "Sampled initial poses")


_STORES: dict[str, Any] = {}


def short_training_run(
    data_dir: str | Path,
    preset: str,
    batch_size: int,
    hidden_size: int,
    rnn: str,
    steps: int,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[Any, np.ndarray, int]:
    """`steps` decomposition-stage steps at `preset` sizes with the given batch, hidden size, rnn.

    Returns (metrics DataFrame in metrics.csv's layout, seconds of each step, parameter
    count). Nothing is written to disk; torch's global RNG is left as it was.
    """
    import dataclasses

    import pandas as pd
    import torch

    from d2mlib import config, data, train

    if int(steps) < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    cfg = config.preset(preset)
    du = dataclasses.replace(
        cfg.dance_unit, rnn=rnn, enc_hidden=int(hidden_size), dec_hidden=int(hidden_size)
    )
    cfg = dataclasses.replace(cfg, dance_unit=du)
    key = str(Path(data_dir).resolve())
    if key not in _STORES:
        _STORES[key] = data.FeatureStore.open(data_dir)
    loader = data.unit_loader(_STORES[key], "train", int(batch_size), int(seed))
    rows: list[dict[str, Any]] = []
    times: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        stage = train.build_stage("decomp", cfg, "cpu")
        n_params = sum(p.numel() for m in stage.modules().values() for p in m.parameters())
        epoch = 0
        while len(times) < steps:
            loader.set_epoch(epoch)
            for batch in loader:
                t0 = time.perf_counter()
                terms = stage.training_step(batch, len(times) + 1)
                times.append(time.perf_counter() - t0)
                step = len(times)
                rows += [
                    {"step": step, "epoch": epoch, "split": "train", "term": k, "value": float(v)}
                    for k, v in terms.items()
                ]
                if progress is not None:
                    progress(step / steps, f"step {step} of {steps}")
                if step >= steps:
                    break
            epoch += 1
    return pd.DataFrame(rows), np.asarray(times), int(n_params)


def training_explorer(ch: Any, steps: int | None = None, seed: int = 0) -> RerunPanel:
    """Chapter "timing"/"training": batch size, hidden size, rnn -> a short run's losses and step times.

    Trains the decomposition stage (the chapter's preset sizes, with the chosen recurrent
    hidden size and type) for `steps` steps (3 in smoke mode, else 20), without saving.
    """
    import matplotlib.pyplot as plt

    from d2mlib import config
    from d2mlib.viz import plot_loss_curves

    cfg = config.preset(ch.preset)
    n_steps = int(steps if steps is not None else (3 if ch.smoke else 20))

    def show(batch_size: int, hidden_size: int, rnn: str, progress: Callable) -> list[object]:
        metrics, times, n_params = short_training_run(
            ch.data_dir, ch.preset, batch_size, hidden_size, rnn, n_steps, seed, progress
        )
        fig, (ax_loss, ax_time) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        plot_loss_curves(metrics, ax=ax_loss)
        ax_loss.set_title(f"losses, batch {batch_size}, hidden {hidden_size}, {rnn.upper()}")
        steps_axis = np.arange(1, len(times) + 1)
        ax_time.plot(steps_axis, 1000 * times, "o-", color="#009E73", ms=3)
        steady = times[1:] if len(times) > 1 else times
        median_ms = 1000 * float(np.median(steady))
        ax_time.axhline(median_ms, color="#555555", ls="--", lw=1, label=f"median {median_ms:.0f}")
        ax_time.set_xlabel("step")
        ax_time.set_ylabel("time per step (ms)")
        ax_time.set_title("time per step (step 1 is warm-up)")
        ax_time.legend(fontsize="small")
        summary = (
            f"{len(times)} decomposition steps at {ch.preset} sizes, batch {batch_size}, "
            f"hidden {hidden_size}, {rnn.upper()}: {n_params / 1e6:.2f} M parameters, "
            f"median {median_ms:.0f} ms per step after the first"
        )
        return [summary, fig]

    controls = {
        "batch_size": batch_size_dropdown(cfg.train_decomp.batch_size),
        "hidden_size": hidden_size_dropdown(cfg.dance_unit.enc_hidden),
        "rnn": rnn_toggle(cfg.dance_unit.rnn),
    }
    return rerun_panel(show, controls, "A short training run", "Train")


TIMED_STAGES: tuple[str, ...] = ("style", "decomp", "comp")


def sized_config(preset: str, stage: str, hidden_size: int, rnn: str) -> Any:
    """The preset with every recurrent layer's type set to `rnn` and `stage`'s recurrent hidden size."""
    import dataclasses

    from d2mlib import timing

    if stage not in TIMED_STAGES:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {TIMED_STAGES}")
    if int(hidden_size) < 1:
        raise ConfigError(f"hidden size must be >= 1, got {hidden_size}")
    cfg = timing.stage_config(preset, rnn)
    r, h = dataclasses.replace, int(hidden_size)
    if stage == "style":
        style = r(cfg.style, hidden=h, code_dim=cfg.style.code_dim if cfg.style.project else h)
        return r(cfg, style=style, composer=r(cfg.composer, style_dim=style.code_dim))
    if stage == "decomp":
        return r(cfg, dance_unit=r(cfg.dance_unit, enc_hidden=h, dec_hidden=h))
    return r(cfg, composer=r(cfg.composer, dance_enc_hidden=h, dance_dec_hidden=h))


def time_training_step(
    stage: str,
    preset: str,
    batch_size: int,
    hidden_size: int,
    rnn: str,
    repeats: int = 3,
    device: str = "cpu",
) -> tuple[Any, int]:
    """Time one training step of an untrained `stage` (random batch): phases table and parameter count.

    Returns (DataFrame indexed by phase total/forward/backward/optimiser with median, q1, q3 in
    seconds and n, parameter count of the trained modules); one untimed warm-up step first.
    torch's global RNG is left as it was.
    """
    import pandas as pd
    import torch

    from d2mlib import timing

    if int(batch_size) < 1 or int(repeats) < 1:
        raise ConfigError(f"need batch_size >= 1 and repeats >= 1, got {batch_size}, {repeats}")
    cfg = sized_config(preset, stage, hidden_size, rnn)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if stage == "style":
            from d2mlib.models.style import StyleStage

            obj = StyleStage(cfg, device=device)
        elif stage == "decomp":
            from d2mlib.models.dance_unit import DecompStage

            obj = DecompStage(cfg, device=device)
        else:
            from d2mlib.models.composer import CompStage
            from d2mlib.models.dance_unit import DanceUnit
            from d2mlib.models.style import StyleExtractor

            obj = CompStage(cfg, StyleExtractor(cfg.style), DanceUnit(cfg.dance_unit), device)
        n_params = sum(p.numel() for m in obj.modules().values() for p in m.parameters())
        batch = timing.fake_batch(stage, cfg, int(batch_size), device)
        counter = {"step": 0}

        def step() -> Any:
            counter["step"] += 1
            return obj.training_step(batch, counter["step"])

        phases = timing.measure_phases(
            step, warmup=1, repeats=int(repeats), sync=timing.sync_for(device)
        )
    table = pd.DataFrame(
        {p: {"median": m.median, "q1": m.q1, "q3": m.q3, "n": m.n} for p, m in phases.items()}
    ).T
    return table, int(n_params)


def step_timer(
    ch: Any,
    stage: str = "decomp",
    batch_size: int = 64,
    hidden_size: int | None = None,
    rnn: str = "gru",
    repeats: int | None = None,
) -> RerunPanel:
    """Chapter "timing": stage, batch size, hidden size, rnn -> one training step timed, by phase.

    Untrained models at the chapter's preset sizes (the chosen stage's recurrent hidden size
    replaced), a random batch, one warm-up step, then `repeats` timed steps (2 in smoke mode,
    else 5). Nothing is written to disk; the numbers are this kernel's machine's.
    """
    import pandas as pd

    from d2mlib import config
    from d2mlib.viz import plot_step_phases

    cfg = config.preset(ch.preset)
    default_hidden = {
        "style": cfg.style.hidden,
        "decomp": cfg.dance_unit.enc_hidden,
        "comp": cfg.composer.dance_enc_hidden,
    }
    if stage not in default_hidden:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {TIMED_STAGES}")
    n_repeats = int(repeats if repeats is not None else (2 if ch.smoke else 5))

    def show(stage: str, batch_size: int, hidden_size: int, rnn: str) -> list[object]:
        table, n_params = time_training_step(
            stage, ch.preset, batch_size, hidden_size, rnn, n_repeats
        )
        total = table.loc["total"]
        summary = (
            f"one {stage} training step at {ch.preset} sizes, batch {batch_size}, "
            f"{rnn.upper()} hidden {hidden_size} ({n_params / 1e6:.2f} M parameters): median "
            f"{1e3 * total['median']:.1f} ms (IQR {1e3 * total['q1']:.1f} to "
            f"{1e3 * total['q3']:.1f} ms) over {int(total['n'])} steps after a warm-up"
        )
        bars = pd.DataFrame(
            {p: [table.loc[p, "median"]] for p in ("forward", "backward", "optimiser")},
            index=[f"{stage}, batch {batch_size}, {rnn.upper()} {hidden_size}"],
        )
        fig = plot_step_phases(bars)
        fig.axes[0].set_title("median time of each phase", fontsize=10)
        return [summary, fig]

    controls = {
        "stage": widgets.Dropdown(
            options=TIMED_STAGES, value=stage, description="stage", style=_WIDE
        ),
        "batch_size": batch_size_dropdown(batch_size),
        "hidden_size": hidden_size_dropdown(
            int(hidden_size if hidden_size is not None else default_hidden[stage])
        ),
        "rnn": rnn_toggle(rnn),
    }
    return rerun_panel(show, controls, "Time one training step", "Time it")


def window_material(
    index: Any, clip_row: int, start: int, frames: int
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Frames [start, start + frames) of row `clip_row` of the clips table: poses, waveform, name."""
    from d2mlib.audio import HOP

    clips = index.clips
    style = str(clips["style"].iloc[int(clip_row)])
    position = int((clips["style"].iloc[: int(clip_row)] == style).sum())
    poses, y, _, name = clip_material(index, style, position)
    stop = int(start) + int(frames)
    wav = None if y is None else y[int(start) * HOP : stop * HOP]
    return poses[int(start) : stop], wav, f"{name}, {start / 15:.1f}-{stop / 15:.1f} s"


def style_explorer(
    ch: Any,
    base: Any,
    steps: int | None = None,
    seed: int = 0,
    hidden_options: Sequence[int] = (8, 16, 30, 64, 128, 256, 512),
    window_options: Sequence[int] = (15, 30, 60, 90),
) -> RerunPanel:
    """Chapters "style"/"improved": retrain the music style extractor of config `base` with a chosen
    seed, hidden size, rnn type and window; shows test accuracy and the confusion matrix.

    Runs are cached like every other run (the defaults reproduce `base`'s run); `steps`
    overrides the training length (the chapter's smoke or book setting when None).
    """
    import dataclasses

    from d2mlib import data, metrics, train, viz

    r = dataclasses.replace

    def show(seed: int, hidden_size: int, rnn: str, window: int) -> list[object]:
        style = r(base.style, hidden=int(hidden_size), rnn=rnn, window=int(window))
        if not style.project:
            style = r(style, code_dim=int(hidden_size))
        t = r(base.train_style, seed=int(seed), steps=int(steps or base.train_style.steps))
        cfg = r(
            base, style=style, train_style=t, composer=r(base.composer, style_dim=style.code_dim)
        )
        run = train.train_stage("style", cfg, ch.data_dir, ch.runs_dir, progress=False)
        model = train.load_run(run.path)[0]["style"]
        store = data.FeatureStore.open(ch.data_dir)
        table = metrics.style_predictions(model, store, "test")
        scores = metrics.classification_scores(table["style"], table["predicted"])
        counts = viz.confusion_table(table["style"], table["predicted"], data.STYLES)
        fig = viz.plot_confusion(counts, data.STYLES, title=f"test windows, seed {seed}")
        text = (
            f"{rnn.upper()} hidden {hidden_size}, window {window} frames, {t.steps} steps: "
            f"test accuracy {scores['accuracy']:.1%} over {len(table)} windows"
        )
        return [text, fig]

    controls = {
        "seed": seed_box(seed),
        "hidden_size": hidden_size_dropdown(base.style.hidden, hidden_options),
        "rnn": rnn_toggle(base.style.rnn),
        "window": _dropdown_with(window_options, base.style.window, "window (frames)"),
    }
    return rerun_panel(show, controls, "Retrain the music style extractor", "Train")
