"""The built site, opened in headless Chromium: no console error, no request off 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

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


@pytest.mark.parametrize("name", toc_files())
def test_page_renders_offline(name: str, site_url: str, browser: object, smoke_site: Path) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
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
    page.close()
    assert problems == [], f"{name}: " + "; ".join(problems)
