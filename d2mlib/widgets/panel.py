"""The rerun panel every front end is built on, and rendering results into widget outputs."""

from __future__ import annotations

import base64
import html
import inspect
import io
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython import get_ipython
from IPython.core.formatters import DisplayFormatter
from IPython.display import HTML

from d2mlib.chapter import book_build
from d2mlib.errors import ConfigError, D2MError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


LIVE_NOTE = "Live reruns need JupyterLab: <code>make lab</code>"
STATIC_NOTE = (
    "<b>Needs a live kernel.</b> On this static page the controls above are disabled and "
    "the result below was computed when the book was built, with the values shown. "
    "To change them and rerun, open this chapter in JupyterLab: <code>make lab</code> "
    "(or <code>make lab SMOKE=1</code> for a quick try)."
)
_STATIC_NOTE_STYLE = (
    "display: block; background: #fff8e1; border-left: 4px solid #e0a800; "
    "padding: 0.3em 0.6em; color: #333; font-size: 90%"
)
AUDIO_ACCEPT = "audio/*,.wav,.flac,.ogg,.oga,.opus,.mp3"
BATCH_SIZES: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
HIDDEN_SIZES: tuple[int, ...] = (16, 64, 128, 256, 512, 1024)
_WIDE = {"description_width": "initial"}
_ERROR_STYLE = "color: #b00020; font-family: monospace; white-space: pre-wrap"


def _figure_png(fig: Figure) -> bytes:
    """PNG bytes of a matplotlib figure, cropped to its content."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _close(fig: Figure) -> None:
    """Forget a figure in pyplot (so the inline backend does not draw it again)."""

    plt.close(fig)


def _is_figure(obj: object) -> bool:
    """Whether `obj` is a matplotlib Figure (without importing matplotlib when it is absent)."""
    try:
        from matplotlib.figure import Figure  # optional: no figures without matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return False
    return isinstance(obj, Figure)


def _format(obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """MIME data and metadata of a display object, by the running shell's formatter if any."""

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


def _read(control: widgets.Widget) -> Any:
    """A control's value: its `d2m_value()` getter when it has one, else its `.value`."""
    getter = getattr(control, "d2m_value", None)
    if callable(getter):
        return getter()
    if not hasattr(control, "value"):
        raise ConfigError(f"control {type(control).__name__} has no value")
    return control.value


def _disable(widget: widgets.Widget) -> None:
    """Disable a control and every control inside it (boxes hold others in `children`)."""
    if "disabled" in widget.keys:
        widget.disabled = True
    for child in getattr(widget, "children", ()):
        _disable(child)


class RerunPanel(widgets.VBox):
    """Controls, a Run button, a live-rerun note and an Output: what `rerun_panel` returns.

    A panel built with `live=False` (the default during a book build, `D2M_BOOK_BUILD=1`)
    is frozen after its first run: controls and button disabled, and a note saying that
    reruns need a live kernel and how to get one, so the static page shows nothing that
    looks live but does nothing.
    """

    def __init__(
        self,
        fn: Callable[..., object],
        controls: Mapping[str, widgets.Widget],
        title: str,
        run_label: str = "Run",
        note: str = LIVE_NOTE,
        live: bool | None = None,
    ) -> None:
        self.fn = fn
        self.controls = dict(controls)
        self.run_label = run_label
        self.live = (not book_build()) if live is None else bool(live)
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.button = widgets.Button(
            description=run_label, button_style="primary", tooltip="recompute with these values"
        )
        self.status = widgets.HTML("")
        self.progress = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(display="none", width="200px")
        )
        self._note_text = note
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
            self.button.disabled = not self.live

    def freeze(self) -> None:
        """Make the panel static: controls and button disabled, a note on how to rerun live."""
        self.live = False
        for control in self.controls.values():
            _disable(control)
        self.button.disabled = True
        self.button.button_style = ""
        self.button.description = f"{self.run_label} (live kernel only)"
        self.button.layout.width = "auto"  # the longer label is not cut off
        self.button.tooltip = "reruns need a live kernel: make lab"
        if self.status.value.startswith("done"):
            self.status.value = "result computed when the book was built"
        extra = "" if self._note_text == LIVE_NOTE else f" {self._note_text}"
        self.note.value = f'<span class="d2m-static-note" style="{_STATIC_NOTE_STYLE}">{STATIC_NOTE}{extra}</span>'


def rerun_panel(
    fn: Callable[..., object],
    controls: Mapping[str, widgets.Widget],
    title: str,
    run_label: str = "Run",
    autorun: bool = True,
    note: str = LIVE_NOTE,
    live: bool | None = None,
) -> RerunPanel:
    """A panel that calls `fn(**values)` on Run (and once now with the defaults if `autorun`).

    `fn` may return a Figure, an IPython HTML object, a DataFrame, a str, None or a list of
    these; figures are shown as PNGs and closed. A `D2MError` (from `fn`, or from a control's
    `d2m_value()` getter) is shown as one line; other errors raise at construction and show
    their traceback in the output after a click. If `fn` takes a `progress` argument it
    receives a callback `progress(fraction, text="")` that moves a progress bar.
    `live` (default: not during a book build) False freezes the panel after its first run
    (see `RerunPanel.freeze`): what the static page shows.
    """
    panel = RerunPanel(fn, controls, title, run_label, note, live)
    if autorun:
        panel.run(raise_unexpected=True)
    if not panel.live:
        panel.freeze()
    return panel
