"""The controls the chapters' panels use (style, seed, sizes, RNN type, clip) and audio input."""

from __future__ import annotations

import hashlib
import html
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from d2mlib._io import write_bytes
from d2mlib.config import STYLES
from d2mlib.errors import AudioError, ConfigError, D2MError
from d2mlib.widgets.panel import _WIDE, AUDIO_ACCEPT, BATCH_SIZES, HIDDEN_SIZES, error_output


def style_dropdown(value: str = "ballet", description: str = "style") -> widgets.Dropdown:
    """Dropdown over the three styles (config.STYLES order)."""
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
        if not entries or not len(entries[0].get("content") or b""):
            return  # nothing chosen, or our own reset below
        try:
            path = save_upload(entries[0])
        except D2MError as exc:
            message.value = error_output(exc)["data"]["text/html"]
            return
        text.value = str(path)
        message.value = f"uploaded {html.escape(path.name)} ({path.stat().st_size / 1024:.0f} kB)"
        # keep the bytes out of the widget state (and a saved notebook), but keep the entry,
        # so the button still counts the uploaded file: "Upload (1)"
        upload.value = ({**dict(entries[0]), "content": memoryview(b"")},)

    upload.observe(on_upload, names="value")

    def getter() -> Path:
        raw = text.value.strip()
        fresh = [e for e in upload.value if len(e.get("content") or b"")]
        if not raw and fresh:  # an upload whose observer has not run
            raw = str(save_upload(fresh[0]))
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
