"""How the book's build shared the machine while a chapter ran, for the pages that report times.

`make book` executes the chapters side by side (`d2mlib.prebuild`), so a training time measured
in the build is measured beside another chapter's work. The prebuild tells each chapter's kernel
how many chapters it runs at once (`CHAPTERS_AT_ONCE_ENV`); a finished training run records that
number, and its torch threads, next to its seconds (`train.runs`), and `sharing_phrase` turns
the numbers into the words a page prints beside its times.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from d2mlib.errors import ConfigError

CHAPTERS_AT_ONCE_ENV = "D2M_CHAPTERS_AT_ONCE"


def chapters_at_once() -> int | None:
    """How many chapters the build runs at once beside this one (itself included); None
    outside the build's side-by-side execution."""
    raw = os.environ.get(CHAPTERS_AT_ONCE_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"{CHAPTERS_AT_ONCE_ENV} must be a whole number of at least 1, got {raw!r}"
        )
    return int(raw)


def sharing_phrase(at_once: Iterable[int | None]) -> str:
    """Words for how the machine was shared while timed work ran, from each part's
    `chapters_at_once` (None: not recorded)."""
    known = [int(n) for n in at_once if n is not None]
    if not known:
        return "with no record of what else the machine ran meanwhile"
    most = max(known)
    if most == 1:
        return "with the machine to itself"
    others = most - 1
    chapters = "chapter" if others == 1 else "chapters"
    return (
        f"beside up to {others} other {chapters} of the build on the same "
        f"{os.cpu_count() or 1} cores, one torch thread each"
    )
