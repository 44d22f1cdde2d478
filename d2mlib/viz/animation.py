"""Animated dances with their music: self-contained HTML (frames and sound as data: URIs) and
GIF/MP4 files.
"""

from __future__ import annotations

import base64
import io
import re
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from PIL import Image
from scipy.signal import resample_poly

from d2mlib._io import write_bytes
from d2mlib.errors import D2MError
from d2mlib.skeleton import CANVAS_HEIGHT, CANVAS_WIDTH, FPS, check_poses
from d2mlib.viz.common import _BONE_INDEX, NEUTRAL, style_colour

if TYPE_CHECKING:
    from IPython.display import HTML

_ICONS = {  # Font Awesome classes in matplotlib's template -> plain characters (ASCII entities)
    "fa fa-minus": "&#x2212;",
    "fa fa-fast-backward": "&#x21E4;",
    "fa fa-step-backward": "&#x2039;",
    "fa fa-play fa-flip-horizontal": "&#x25C0;",
    "fa fa-pause": "&#x275A;&#x275A;",
    "fa fa-play": "&#x25B6;",
    "fa fa-step-forward": "&#x203A;",
    "fa fa-fast-forward": "&#x21E5;",
    "fa fa-plus": "+",
}


def _as_dances(poses: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One dance (T, 14, 2) or several -> list of (T_i, 14, 2) float32."""
    if isinstance(poses, np.ndarray) and poses.ndim == 3:
        dances = [poses]
    elif isinstance(poses, np.ndarray) and poses.ndim == 4:
        dances = list(poses)
    else:
        dances = list(poses)
    out = [check_poses(d) for d in dances]
    if not out or any(d.ndim != 3 or d.shape[0] == 0 for d in out):
        raise ValueError("expected one or more dances of shape (T, 14, 2) with T >= 1")
    return out


def _frame_step(n_frames: int, step: int, max_frames: int | None) -> int:
    """Subsampling step, raised so that at most `max_frames` frames are drawn."""
    step = max(int(step), 1)
    if max_frames is not None and -(-n_frames // step) > max_frames:
        step = -(-n_frames // max(int(max_frames), 1))
    return step


def _dance_animation(
    dances: list[np.ndarray],
    fps: float,
    step: int,
    titles: Sequence[str] | None,
    styles: Sequence[str | None] | None,
    panel_size: tuple[float, float],
    dpi: float,
) -> tuple[Figure, FuncAnimation, int]:
    """Figure with one panel per dance and a FuncAnimation over frames 0, step, 2*step, ..."""
    n_total = max(d.shape[0] for d in dances)
    shown = np.arange(0, n_total, step)
    allp = np.concatenate([d.reshape(-1, 2) for d in dances])
    x_lo, x_hi = (
        min(0.0, float(allp[:, 0].min()) - 10),
        max(CANVAS_WIDTH, float(allp[:, 0].max()) + 10),
    )
    y_lo, y_hi = (
        min(0.0, float(allp[:, 1].min()) - 10),
        max(CANVAS_HEIGHT, float(allp[:, 1].max()) + 10),
    )
    k = len(dances)
    fig = Figure(figsize=(panel_size[0] * k, panel_size[1]), dpi=dpi)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88, wspace=0.05)
    axes = fig.subplots(1, k, squeeze=False)[0]
    collections, heads = [], []
    for i, ax in enumerate(axes):
        style = styles[i] if styles is not None and i < len(styles) else None
        colour = NEUTRAL if style is None else style_colour(style)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_hi, y_lo)  # y down
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.axhline(CANVAS_HEIGHT - 1, color="#bbbbbb", lw=1)
        if titles is not None and i < len(titles):
            ax.set_title(str(titles[i]), fontsize=9)
        lc = LineCollection([], colors=colour, linewidths=2.5, capstyle="round")
        ax.add_collection(lc)
        (head,) = ax.plot([], [], "o", ms=7, color=colour)
        collections.append(lc)
        heads.append(head)
    clock = fig.text(0.98, 0.95, "", ha="right", va="center", fontsize=8, color="#555555")

    def draw(j: int) -> list[Any]:
        frame = int(shown[j])
        for dance, lc, head in zip(dances, collections, heads, strict=True):
            pose = dance[min(frame, dance.shape[0] - 1)]
            lc.set_segments(pose[_BONE_INDEX])
            head.set_data([pose[0, 0]], [pose[0, 1]])
        clock.set_text(f"{frame / fps:5.2f} s")
        return [*collections, *heads, clock]

    draw(0)
    anim = FuncAnimation(fig, draw, frames=len(shown), interval=1000.0 * step / fps, blit=False)
    return fig, anim, len(shown)


def _wav_data_uri(
    audio: np.ndarray, sr: int, seconds: float | None, out_sr: int | None = None
) -> str:
    """Mono float audio -> 16-bit WAV data: URI, trimmed to `seconds`, resampled to `out_sr`."""

    y = np.asarray(audio, dtype=np.float64)
    if y.ndim == 2:
        y = y.mean(axis=0 if y.shape[0] < y.shape[1] else 1)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError(
            f"audio must be a non-empty finite mono signal, got shape {np.shape(audio)}"
        )
    if seconds is not None:
        y = y[: int(round(seconds * sr))]
    if out_sr is not None and int(out_sr) != int(sr):
        g = np.gcd(int(out_sr), int(sr))
        y = resample_poly(y, int(out_sr) // g, int(sr) // g)
        sr = int(out_sr)
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), int(sr), format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_SYNC_JS = """<script>
(function() {
  var audio = document.getElementById("%(audio_id)s");
  var slider = document.getElementById("_anim_slider%(id)s");
  var rate = %(rate)r, n = %(n)d, tries = 0;
  function attach() {
    var anim = window["anim%(id)s"];
    if (!anim) { if (tries++ < 400) setTimeout(attach, 25); return; }
    var proto = Object.getPrototypeOf(anim);
    var setFrame = proto.set_frame.bind(anim), stopTimer = proto.pause_animation.bind(anim);
    var raf = null;
    function follow() {
      var f = Math.max(0, Math.min(n - 1, Math.floor(audio.currentTime * rate)));
      if (f !== anim.current_frame) setFrame(f);
      raf = (!audio.paused && !audio.ended) ? requestAnimationFrame(follow) : null;
    }
    function play() { var p = audio.play(); if (p && p.catch) p.catch(function() {}); }
    anim.set_frame = function(f) {
      setFrame(f);
      if (Math.floor(audio.currentTime * rate) !== f) audio.currentTime = f / rate + 1e-3;
    };
    anim.play_animation = function() {
      stopTimer();
      if (anim.current_frame >= n - 1 || audio.ended) audio.currentTime = 0;
      play();
    };
    anim.pause_animation = function() { stopTimer(); audio.pause(); };
    anim.faster = function() { audio.playbackRate = Math.min(4, audio.playbackRate / 0.7); };
    anim.slower = function() { audio.playbackRate = Math.max(0.25, audio.playbackRate * 0.7); };
    audio.addEventListener("play", function() { stopTimer(); if (!raf) raf = requestAnimationFrame(follow); });
    audio.addEventListener("pause", follow);
    audio.addEventListener("seeked", follow);
    audio.addEventListener("ended", function() {
      if (anim.get_loop_state() === "loop") { audio.currentTime = 0; play(); }
    });
    if (slider) slider.addEventListener("input", function() {
      audio.currentTime = parseInt(slider.value) / rate + 1e-3;
    });
  }
  attach();
})();
</script>"""


_FRAME_RE = re.compile(r'(frames\[\d+\] = "data:image/png;base64,)([^"]*)(")')


def _shrink_frames(html: str, colours: int = 32) -> str:
    """Re-encode the embedded PNG frames with a small palette (about 1/3 of the bytes, same look)."""

    def shrink(match: re.Match[str]) -> str:
        raw = base64.b64decode(match.group(2).replace("\\\n", ""))
        with Image.open(io.BytesIO(raw)) as im:
            small = im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        small.save(buf, format="PNG", optimize=True)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return match.group(1) + data + match.group(3)

    return _FRAME_RE.sub(shrink, html)


def _clean_jshtml(html: str) -> str:
    """Drop every external <link> and swap Font Awesome icons for plain characters."""
    html = re.sub(r"<link\b[^>]*>", "", html, flags=re.IGNORECASE | re.DOTALL)
    for cls, char in _ICONS.items():
        html = html.replace(f'<i class="{cls}"></i>', char)
    return html


def animate_dance(
    poses: np.ndarray | Sequence[np.ndarray],
    fps: float = FPS,
    audio: np.ndarray | None = None,
    sr: int = 22050,
    titles: Sequence[str] | None = None,
    styles: Sequence[str | None] | None = None,
    step: int = 1,
    max_frames: int | None = 300,
    audio_sr: int | None = 16000,
    dpi: float = 72,
    panel_size: tuple[float, float] = (2.0, 3.4),
    loop: bool = False,
    palette_frames: bool = True,
    as_str: bool = False,
) -> HTML | str:
    """Self-contained HTML animation of one dance (T, 14, 2) or several side by side, with its music.

    Frames are PNGs rendered by matplotlib (`to_jshtml`), every `step`-th frame, at most
    `max_frames` (the step grows to fit), re-encoded with a 32-colour palette unless
    `palette_frames` is False. With `audio` the music is embedded as a 16-bit WAV
    `data:` URI (trimmed to the dance, resampled to `audio_sr` Hz to keep the page small;
    None keeps `sr`) and the animation's controls drive the audio, whose
    playback position then sets the frame. No external URL is emitted. Returns an
    IPython.display.HTML (a str if IPython is missing or `as_str`).
    """
    dances = _as_dances(poses)
    n_total = max(d.shape[0] for d in dances)
    step = _frame_step(n_total, step, max_frames)
    fig, anim, n_shown = _dance_animation(dances, fps, step, titles, styles, panel_size, dpi)
    rc = {"animation.frame_format": "png", "animation.embed_limit": 500.0}
    try:
        with matplotlib.rc_context(rc):
            html = anim.to_jshtml(fps=fps / step, default_mode="loop" if loop else "once")
    finally:
        plt.close(fig)
    html = _shrink_frames(_clean_jshtml(html)) if palette_frames else _clean_jshtml(html)
    match = re.search(r'id="_anim_img([0-9a-f]+)"', html)
    anim_id = match.group(1) if match else uuid.uuid4().hex
    parts = [f'<div class="d2m-dance" id="d2m_dance_{anim_id}">', html]
    if audio is not None:
        audio_id = f"d2m_audio_{anim_id}"
        uri = _wav_data_uri(audio, sr, n_total / fps, audio_sr)
        parts.append(
            f'<div><audio id="{audio_id}" controls preload="auto" '
            f'style="width: {max(240, int(panel_size[0] * len(dances) * dpi))}px" src="{uri}">'
            "</audio></div>"
        )
        parts.append(
            _SYNC_JS % {"audio_id": audio_id, "id": anim_id, "rate": fps / step, "n": n_shown}
        )
    parts.append("</div>")
    out = "\n".join(parts)
    if as_str:
        return out
    try:
        from IPython.display import HTML  # optional: plain HTML text without IPython
    except ImportError:
        return out
    return HTML(out)


def save_animation(
    poses: np.ndarray | Sequence[np.ndarray],
    path: str | Path,
    fps: float = FPS,
    audio: np.ndarray | None = None,
    sr: int = 22050,
    step: int = 1,
    max_frames: int | None = None,
    titles: Sequence[str] | None = None,
    styles: Sequence[str | None] | None = None,
    dpi: float = 60,
    panel_size: tuple[float, float] = (2.0, 3.6),
) -> Path:
    """Write a dance (or several side by side) as a .gif (PillowWriter) or a .html page with its music, atomically.

    A GIF carries no sound: `audio` is then ignored. A .html path gets a standalone page
    holding animate_dance's output (frames and music embedded, no external URL).
    Pillow merges consecutive identical frames into one longer frame, so a still stretch
    of dance yields fewer GIF frames than poses.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        body = animate_dance(
            poses,
            fps=fps,
            audio=audio,
            sr=sr,
            titles=titles,
            styles=styles,
            step=step,
            max_frames=max_frames,
            dpi=dpi,
            panel_size=panel_size,
            as_str=True,
        )
        page = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{path.stem}</title></head>\n<body>\n{body}\n</body></html>\n"
        )
        write_bytes(path, page.encode("utf-8"))
        return path
    if suffix != ".gif":
        raise D2MError("save_animation writes .gif or .html files", path)
    dances = _as_dances(poses)
    step = _frame_step(max(d.shape[0] for d in dances), step, max_frames)
    fig, anim, _ = _dance_animation(dances, fps, step, titles, styles, panel_size, dpi)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_gif = Path(tmp) / "dance.gif"
            anim.save(str(tmp_gif), writer=PillowWriter(fps=fps / step), dpi=dpi)
            write_bytes(path, tmp_gif.read_bytes())
    finally:
        plt.close(fig)
    return path
