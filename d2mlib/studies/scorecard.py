"""The book's answer on one screen: each claim of the paper and of the student, what a chapter
measured, and the verdict the book's decision rule gave (book/intro.md).

The chapters compute; the introduction only reads. A chapter calls `record` where it judged a
claim, which writes one small JSON file per claim under ``<runs>/scorecard/`` (atomically); the
introduction calls `table` and `to_html`. The build reads the introduction after every chapter
(`d2mlib.site` reorders the pages), so the scorecard holds this build's numbers; a claim no
chapter recorded shows as not measured, never as a stale or invented value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd

from d2mlib import _io, verdicts
from d2mlib.errors import ConfigError

VERDICTS = ("confirmed", "refuted", "inconclusive")  # what the decision rule can conclude
UNMEASURED = "not measured"  # a claim this build had no data for (its chapter says why)
STATUSES = (*VERDICTS, UNMEASURED)
NOT_RUN = "not measured: its chapter did not run in this build"


@dataclass(frozen=True)
class Claim:
    """One claim the book checks: whose it is, what it says, and the chapter that measures it."""

    key: str
    who: str
    says: str
    chapter: str
    title: str


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "beats",
        "paper",
        "The composed dances move on the music's beats, more than a baseline's do.",
        "evaluation",
        "Evaluation",
    ),
    Claim(
        "realism",
        "paper",
        "The composed dances are closer to real dance (lower FID) than a baseline's.",
        "evaluation",
        "Evaluation",
    ),
    Claim(
        "follows",
        "paper",
        "The composed dances follow their own music beyond its style and beats (the synthetic "
        "world links louder music to bigger, faster movement), more than a baseline's do.",
        "evaluation",
        "Evaluation",
    ),
    Claim(
        "real_beats",
        "paper",
        "Dancers move on the music's beats (the premise of beat alignment), shown on real dance.",
        "real_dance",
        "Real dance",
    ),
    Claim(
        "extractor",
        "student",
        "A bigger style extractor (GRU 512, 2 layers) classifies the music's style better "
        "(98.7% against 73.5%).",
        "improved",
        "The improved extractor",
    ),
    Claim(
        "bottleneck",
        "student",
        "Music style understanding is the bottleneck: given the true style (or a better "
        "extractor), the composer makes dances of the music's style more often.",
        "improved",
        "The improved extractor",
    ),
    Claim(
        "regressor",
        "student",
        "Without the style regressor (or the other alignment losses) the dances look much "
        "the same.",
        "ablations",
        "Ablations",
    ),
    Claim(
        "gpu",
        "student",
        "Training is faster on a GPU than on a CPU: about 15x at batch 256 (482 against "
        "7,367 ms a step). The verdict judges the direction; the factor depends on both "
        "machines and is measured beside it.",
        "timing",
        "Timing",
    ),
)
_BY_KEY = {c.key: c for c in CLAIMS}


def combined(claims: Sequence[str]) -> str:
    """One verdict for a claim judged several times (against each baseline, on each metric):
    refuted if any judgement refutes it, confirmed only if every one confirms it."""
    if not claims:
        raise ConfigError("scorecard.combined: no verdicts given")
    unknown = sorted(set(claims) - set(VERDICTS))
    if unknown:
        raise ConfigError(f"scorecard.combined: unknown verdicts {unknown}; known: {VERDICTS}")
    if "refuted" in claims:
        return "refuted"
    return "confirmed" if all(c == "confirmed" for c in claims) else "inconclusive"


def claim(key: str) -> Claim:
    """The registered claim called `key` (ConfigError for an unknown one)."""
    if key not in _BY_KEY:
        raise ConfigError(f"scorecard: unknown claim {key!r}; known: {', '.join(_BY_KEY)}")
    return _BY_KEY[key]


def record(runs_dir: str | Path, key: str, measured: str, verdict: str) -> Path:
    """Write a chapter's measured value and rule verdict for claim `key`; return the file.

    `verdict` is the decision rule's ("confirmed", "refuted", "inconclusive"), or "not
    measured" when the build had no data for the claim (`measured` then says why)."""
    claim(key)
    if verdict not in STATUSES:
        raise ConfigError(f"scorecard: verdict must be one of {STATUSES}, got {verdict!r}")
    if not str(measured).strip():
        raise ConfigError(f"scorecard: claim {key!r} needs a measured value")
    path = Path(runs_dir) / "scorecard" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _io.write_text(path, json.dumps({"key": key, "measured": measured, "verdict": verdict}))
    return path


def _read(path: Path) -> dict[str, str] | None:
    """One record, or None when it is missing or unreadable (then the claim shows unmeasured)."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("verdict") not in STATUSES:
        return None
    return entry


def table(runs_dir: str | Path) -> pd.DataFrame:
    """The scorecard: one row per claim (who, claim, measured, verdict, chapter, title)."""
    rows = []
    for c in CLAIMS:
        entry = _read(Path(runs_dir) / "scorecard" / f"{c.key}.json") or {}
        rows.append(
            {
                "key": c.key,
                "who": c.who,
                "claim": c.says,
                "measured": entry.get("measured", NOT_RUN),
                "verdict": entry.get("verdict", UNMEASURED),
                "chapter": c.chapter,
                "title": c.title,
            }
        )
    return pd.DataFrame(rows)


def counts(card: pd.DataFrame) -> dict[str, int]:
    """How many claims got each verdict (and how many were not measured)."""
    return {k: int((card["verdict"] == k).sum()) for k in STATUSES}


def summary(card: pd.DataFrame) -> str:
    """One sentence: how many claims this build confirmed, refuted and left open."""
    n = counts(card)
    text = (
        f"Of the {verdicts.count_phrase(len(card), 'claim')} checked, this build confirms "
        f"{n['confirmed']}, refutes {n['refuted']} and leaves {n['inconclusive']} inconclusive"
    )
    if n[UNMEASURED]:
        text += f"; {n[UNMEASURED]} could not be measured here (the table says why)"
    return text + "."


def to_html(card: pd.DataFrame, suffix: str = ".html") -> str:
    """The scorecard as an HTML table whose chapter cells link to the chapter pages."""
    head = "".join(
        f"<th>{h}</th>" for h in ("by", "claim", "this book measured", "verdict", "chapter")
    )
    body = []
    for r in card.itertuples(index=False):
        link = f'<a href="{escape(r.chapter)}{suffix}">{escape(r.title)}</a>'
        verdict = f'<span class="d2m-verdict d2m-{r.verdict.replace(" ", "-")}">{r.verdict}</span>'
        cells = (escape(r.who), escape(r.claim), escape(r.measured), verdict, link)
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        '<table class="d2m-scorecard"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )
