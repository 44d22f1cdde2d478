"""The built site, opened in headless Chromium at 1280 px as a reader would open it.

No console error, no request off 127.0.0.1; nothing cut off at the right of the content column
(code wraps, wide tables scroll in their own box); figures drawn large enough to read; and no
control that looks live but does nothing on a static page (widget controls are disabled).
"""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.test_book import toc_files

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (make test installs it when run as root)",
    ),
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site_url(smoke_site: Path) -> Iterator[str]:
    """Serve the smoke build on 127.0.0.1 on a free port."""
    handler = functools.partial(_QuietHandler, directory=str(smoke_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


VIEWPORT = {"width": 1280, "height": 900}
# px of rendered image per typographic point of the figure: 0.8 puts matplotlib's default
# 10 pt text at 8 px or more on the page; below that a reader cannot read the labels
MIN_PX_PER_POINT = 0.8
# an image drawn wider than its pixels is blurred (upscaled): allow 10 % for borders/rounding
MAX_UPSCALE = 1.1

# JS run on a page: what a reader would find cut off, too small or falsely live.
READER_CHECKS = """() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const right = article.getBoundingClientRect().right + 2;
  const where = el => (el.closest('section[id]') || {id: ''}).id + ' ' + el.tagName.toLowerCase()
    + ' ' + (el.textContent || el.alt || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const visible = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const cutOff = [];
  for (const el of article.querySelectorAll('pre, table, img, svg, canvas, video, iframe')) {
    if (!visible(el) || el.getBoundingClientRect().right <= right) continue;
    let box = el.parentElement, held = false;
    while (box && box !== article.parentElement) {
      if (scrolls(box) && box.getBoundingClientRect().right <= right) { held = true; break; }
      box = box.parentElement;
    }
    if (!held) cutOff.push(where(el));
  }
  // code must wrap: a code cell that only scrolls hides part of every long line
  for (const el of article.querySelectorAll('div.cell_input pre')) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1) cutOff.push('scrolls: ' + where(el));
  }
  const pageWide = document.documentElement.scrollWidth > window.innerWidth + 1;
  const images = [];
  for (const img of article.querySelectorAll('img')) {
    const r = img.getBoundingClientRect();
    if (!visible(img) || r.width < 40 || img.naturalWidth === 0) continue;
    images.push({src: img.currentSrc || img.src, natural: img.naturalWidth, shown: r.width,
                 label: where(img)});
  }
  const live = [];
  let frozen = 0;
  const controls = 'button, input, select, textarea, .noUi-target, [role=slider]';
  const scoped = controls.split(', ').map(c => `.jupyter-widgets ${c}, ${c}.jupyter-widgets`);
  for (const el of document.querySelectorAll(scoped.join(', '))) {
    if (el.closest('.jupyter-widgets-output-area, .widget-output')) continue;  // shown output
    if (el.type === 'hidden' || (el.tagName === 'INPUT' && !visible(el))) continue;
    // a slider's handle is off when its slider is: noUiSlider marks the slider [disabled]
    const off = el.disabled || el.closest('[disabled]') || el.getAttribute('aria-disabled') === 'true';
    if (off) frozen += 1;
    else live.push((el.textContent || el.value || el.className).toString().trim().slice(0, 40));
  }
  return {cutOff, pageWide, images, live, frozen};
}"""


def png_dpi(data: bytes) -> float | None:
    """The DPI a PNG records in its pHYs chunk (matplotlib writes it), or None."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"pHYs" and length == 9:
            x_per_m, _, unit = struct.unpack(">IIB", data[pos + 8 : pos + 17])
            return x_per_m * 0.0254 if unit == 1 and x_per_m else None
        if kind == b"IDAT":
            return None
        pos += 12 + length
    return None


def image_bytes(src: str, site: Path) -> bytes:
    """The bytes of an <img> source: a data: URI, or a file of the served site."""
    if src.startswith("data:"):
        head, _, payload = src.partition(",")
        return base64.b64decode(payload) if head.endswith(";base64") else unquote(payload).encode()
    return (site / unquote(urlparse(src).path).lstrip("/")).read_bytes()


def illegible(images: list[dict], site: Path) -> list[str]:
    """Images drawn blurred (upscaled) or with text too small to read, one line each."""
    bad = []
    for img in images:
        if img["shown"] > MAX_UPSCALE * img["natural"]:
            bad.append(f"{img['label']}: {img['natural']} px drawn at {img['shown']:.0f} px")
            continue
        dpi = png_dpi(image_bytes(img["src"], site))
        if dpi is None:
            continue
        px_per_point = img["shown"] / (img["natural"] / dpi * 72)
        if px_per_point < MIN_PX_PER_POINT:
            bad.append(
                f"{img['label']}: {img['natural'] / dpi:.1f} in wide drawn at "
                f"{img['shown']:.0f} px: 10 pt text at {10 * px_per_point:.1f} px"
            )
    return bad


def reader_problems(page: object, site: Path) -> list[str]:
    """What a reader would see wrong on the open page (see READER_CHECKS), one line each."""
    found = page.evaluate(READER_CHECKS)  # type: ignore[attr-defined]
    problems = [f"cut off at the right: {w}" for w in found["cutOff"]]
    if found["pageWide"]:
        problems.append("the page scrolls sideways at 1280 px")
    problems += [f"too small to read: {w}" for w in illegible(found["images"], site)]
    problems += [f"looks live but needs a kernel: {w}" for w in found["live"]]
    return problems


@pytest.mark.parametrize("name", toc_files())
def test_page_renders_offline(name: str, site_url: str, browser: object, smoke_site: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[attr-defined]
    problems: list[str] = []

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        host = urlparse(url).hostname
        if url.startswith("data:") or host in {"127.0.0.1"}:
            r.continue_()  # type: ignore[attr-defined]
        else:
            problems.append(f"off-host request: {url}")
            r.abort()  # type: ignore[attr-defined]

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.on(
        "response",
        lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"),
    )
    page.goto(f"{site_url}/{name}.html", wait_until="networkidle")
    page.wait_for_timeout(500)

    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.src.slice(0, 80))"
    )
    assert broken == [], f"{name}: images that did not load: {broken}"
    html = (smoke_site / f"{name}.html").read_text(encoding="utf-8")
    if "application/vnd.jupyter.widget-view+json" in html:
        page.wait_for_selector(".jupyter-widgets, .widget-container, .widget-box", timeout=10_000)
        rendered = page.evaluate("() => document.querySelectorAll('.jupyter-widgets').length")
        assert rendered > 0, f"{name}: widgets did not render"
        page.wait_for_timeout(500)
        frozen = page.evaluate(READER_CHECKS)["frozen"]
        assert frozen > 0, f"{name}: the check found no widget control to inspect"
    problems += reader_problems(page, smoke_site)
    page.close()
    assert problems == [], f"{name}: " + "; ".join(problems)


# a page with one of each fault the reader checks must find, and the same content done right
FAULTY_PAGE = """<!DOCTYPE html><html><body style="margin: 0">
<article class="bd-article" style="width: 600px">
<section id="bad">
<div class="cell_input"><pre style="overflow-x: auto">{long_code}</pre></div>
<table><tr>{cells}</tr></table>
<img alt="tiny-font figure" src="data:image/png;base64,{wide_png}" style="width: 500px">
<img alt="blurred figure" src="data:image/png;base64,{small_png}" style="width: 500px">
<div class="jupyter-widgets widget-vbox">
  <button class="jupyter-widgets jupyter-button widget-button">Run</button>
  <div class="jupyter-widgets widget-dropdown"><select><option>ballet</option></select></div>
  <div class="jupyter-widgets-output-area"><button>play</button></div>
  <div class="jupyter-widgets widget-slider"><div class="noUi-target">
    <div class="noUi-handle" role="slider" tabindex="0">live handle</div></div></div>
</div>
</section>
<section id="good">
<div class="cell_input"><pre style="white-space: pre-wrap">{long_code}</pre></div>
<div style="overflow-x: auto"><table><tr>{cells}</tr></table></div>
<img alt="readable figure" src="data:image/png;base64,{good_png}" style="width: 500px">
<div class="jupyter-widgets widget-vbox">
  <button class="jupyter-widgets jupyter-button widget-button" disabled>Run</button>
  <div class="jupyter-widgets widget-dropdown"><select disabled><option>b</option></select></div>
  <div class="jupyter-widgets widget-slider"><div class="noUi-target" disabled>
    <div class="noUi-handle" role="slider" tabindex="0">h</div></div></div>
</div>
<select onchange="void 0"><option>a gallery works without a kernel</option></select>
</section>
</article></body></html>"""


def _png(width_in: float, dpi: int) -> str:
    """A base64 PNG of a matplotlib figure `width_in` inches wide saved at `dpi`."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, 1.0))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def test_reader_checks_flag_each_fault_and_pass_the_fixed_page(
    browser: object, tmp_path: Path
) -> None:
    html = FAULTY_PAGE.format(
        long_code="x = " + " + ".join(["value"] * 60),
        cells="".join(f"<td>column_{i}_of_a_wide_table</td>" for i in range(20)),
        wide_png=_png(12.0, 100),  # 1200 px drawn at 500: 10 pt text at 5.8 px
        small_png=_png(2.0, 100),  # 200 px drawn at 500: blurred
        good_png=_png(6.0, 100),  # 600 px drawn at 500: 10 pt text at 11.6 px
    )
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[attr-defined]
    page.goto((tmp_path / "page.html").as_uri())
    problems = reader_problems(page, tmp_path)
    page.close()
    assert not any(" good " in p or p.startswith("good") for p in problems), problems
    text = "\n".join(problems)
    assert "cut off at the right: scrolls: bad pre" in text  # code that only scrolls
    assert "cut off at the right: bad table" in text  # a wide table with no scroll box
    assert "the page scrolls sideways at 1280 px" in text
    assert "too small to read: bad img tiny-font figure: 12.0 in wide" in text
    assert "too small to read: bad img blurred figure: 200 px drawn at 500 px" in text
    assert "looks live but needs a kernel: Run" in text
    assert "looks live but needs a kernel: ballet" in text
    assert "looks live but needs a kernel: live handle" in text
    assert not any("play" in p for p in problems)  # controls inside an output are content
    assert len(problems) == 9, problems


# --------------------------------------------------------------------------- JupyterLab


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab as `make lab` sets it up (lab/overrides.json in its app settings) on a folder
    holding one chapter in canonical form; yields (base URL with token, that folder)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from d2mlib.chapter import canonical_text

    root, app = tmp_path / "book", tmp_path / "app"
    root.mkdir()
    (app / "settings").mkdir(parents=True)
    text = canonical_text((Path(__file__).parents[1] / "book" / "data.md").read_text("utf-8"))
    (root / "data.md").write_text(text, encoding="utf-8")
    lab_share = Path(sys.prefix) / "share" / "jupyter" / "lab"
    for part in ("static", "schemas", "themes"):  # the installed app, with our settings beside it
        (app / part).symlink_to(lab_share / part)
    shutil.copy(Path(__file__).parents[1] / "lab" / "overrides.json", app / "settings")
    port, token = _free_port(), "d2m-test-token"
    env = dict(
        os.environ,
        JUPYTERLAB_DIR=str(app),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),  # no tab restored from before
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}"]
    cmd += ["--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root"]
    cmd += [f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        yield f"{url}/lab?token={token}", root
    finally:
        try:  # the server's own shutdown also stops the kernel it started
            request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_lab_opens_a_chapter_as_a_notebook_and_an_unedited_save_changes_nothing(
    lab_server: tuple[str, Path], browser: object
) -> None:
    url, root = lab_server
    before = (root / "data.md").read_bytes()
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[attr-defined]
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
        assert page.locator(".jp-NotebookPanel").count() == 0  # nothing open before the click
        page.locator(".jp-DirListing-item", has_text="data.md").first.dblclick(timeout=60_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=60_000)
        assert page.locator(".jp-FileEditor").count() == 0  # not the raw MyST text
        heading = page.locator(".jp-NotebookPanel .jp-MarkdownCell h1").first.inner_text()
        title = next(ln[2:] for ln in before.decode().splitlines() if ln.startswith("# "))
        assert heading.strip() == title.strip()  # the chapter's title, rendered as a heading
        page.wait_for_timeout(3000)  # let the kernel start and Lab update the model
        page.keyboard.press("Control+s")
        page.wait_for_timeout(3000)
    finally:
        page.close()
    assert (root / "data.md").read_bytes() == before
