"""The static site: nothing on a page may load from another host (`main` checks a build), and
the Sphinx extension that keeps it so and reads the intro after the chapters."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# attributes that make the browser fetch something (links in <a href> are navigation, not loads)
_LOAD_ATTR = re.compile(
    r"<(?P<tag>script|img|iframe|audio|video|source|embed|link|track)\b[^>]*?"
    r"\b(?:src|href|data-src|poster)\s*=\s*[\"'](?P<url>[^\"']+)[\"']",
    re.IGNORECASE | re.DOTALL,
)
_CSS_URL = re.compile(r"url\(\s*[\"']?(?P<url>[^\"')]+)[\"']?\s*\)", re.IGNORECASE)
_REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


def offhost_references(html_dir: str | Path) -> list[tuple[str, str]]:
    """List (file, url) pairs where a built page or stylesheet loads a resource from another host."""
    root = Path(html_dir)
    found: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".html", ".css"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        pattern = _LOAD_ATTR if path.suffix == ".html" else _CSS_URL
        for match in pattern.finditer(text):
            url = match.group("url")
            if _REMOTE.match(url):
                found.append((str(path.relative_to(root)), url))
        if path.suffix == ".html":
            for match in _CSS_URL.finditer(text):
                if _REMOTE.match(match.group("url")):
                    found.append((str(path.relative_to(root)), match.group("url")))
    return found


def _drop_thebe(
    app: object, pagename: str, templatename: str, context: dict, doctree: object
) -> None:
    """Remove sphinx-thebe's scripts from a page: live kernels need a server; the site is static."""

    def keep(asset: object) -> bool:
        name = str(asset)
        body = getattr(asset, "attributes", {}).get("body", "")
        return "thebe" not in name and "THEBE" not in body

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if keep(asset)]


def _root_last(app: object, env: object, docnames: list[str]) -> None:
    """Read (and so execute) the root page after every chapter: its scorecard reads theirs."""
    root = app.config.root_doc  # type: ignore[attr-defined]
    if root in docnames:
        docnames.remove(root)
        docnames.append(root)


def _root_with_chapters(
    app: object, env: object, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Re-read the root page whenever a chapter is re-read, so its scorecard is never stale."""
    root = app.config.root_doc  # type: ignore[attr-defined]
    return [root] if (added | changed | removed) - {root} else []


def setup(app: object) -> dict[str, object]:
    """Sphinx extension: strip what a static offline site must not load (thebe), and read the
    root page (the intro, whose scorecard collects the chapters' verdicts) after the chapters."""
    app.connect("html-page-context", _drop_thebe)  # type: ignore[attr-defined]
    app.connect("env-before-read-docs", _root_last)  # type: ignore[attr-defined]
    app.connect("env-get-outdated", _root_with_chapters)  # type: ignore[attr-defined]
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m d2mlib.site check DIR` exits 1 when a page reaches off-host."""
    parser = argparse.ArgumentParser(prog="python -m d2mlib.site")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("html_dir", type=Path)
    args = parser.parse_args(argv)
    if not (args.html_dir / "index.html").is_file():
        print(f"{args.html_dir}: no index.html: build the book first (make book)", file=sys.stderr)
        return 2
    bad = offhost_references(args.html_dir)
    for page, url in bad:
        print(f"{args.html_dir / page}: loads {url} from another host", file=sys.stderr)
    if not bad:
        print(f"{args.html_dir}: no page loads anything from another host")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
