"""Verdict sentences computed from numbers: one tested function per kind of claim.

Chapters never write a verdict by hand. A difference between systems comes from a
`d2mlib.stats.compare` row (`difference_verdict`, `claim_verdict` for the scorecard), a speed-up
from two times (`ratio_verdict`), a fade from a start and an end (`trend_verdict`). Every
threshold is a parameter with a stated default, so a page can say what its words mean. The
number formatters (`fmt_num`, `fmt_pct`, `fmt_ci`, `count_phrase`) keep prose consistent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, MetricError

__all__ = [
    "CLAIMS",
    "claim_verdict",
    "count_phrase",
    "difference_verdict",
    "fmt_ci",
    "fmt_num",
    "fmt_pct",
    "ratio_verdict",
    "trend_verdict",
]

CLAIMS = ("higher", "lower", "differs", "same")


def _finite(value: Any) -> bool:
    """Whether `value` is a real, finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_num(x: float, sig: int = 3, *, sign: bool = False) -> str:
    """`x` to `sig` significant digits for prose: 0.0123, 1.20, 12,300; 'n/a' when not finite."""
    if sig < 1:
        raise ConfigError(f"fmt_num: sig must be >= 1, got {sig}")
    if not _finite(x):
        return "n/a"
    x = float(x)
    if x == 0:
        return "0"
    rounded = round(x, sig - 1 - math.floor(math.log10(abs(x))))
    exponent = math.floor(math.log10(abs(rounded)))
    if exponent < -4 or exponent >= 9:
        text = f"{rounded:.{sig - 1}e}"
    else:
        text = f"{rounded:,.{max(sig - 1 - exponent, 0)}f}"
    return f"+{text}" if sign and rounded > 0 else text


def fmt_pct(fraction: float, digits: int = 0, *, sign: bool = False) -> str:
    """A fraction as a percentage with `digits` decimals: 0.235 -> '24%' (digits=1: '23.5%')."""
    if not _finite(fraction):
        return "n/a"
    value = round(100 * float(fraction), digits)
    text = f"{value:,.{digits}f}%"
    return f"+{text}" if sign and value > 0 else text


def _common_decimals(values: list[float], sig: int) -> int:
    """Decimals that give the largest finite magnitude among `values` `sig` significant digits."""
    big = max((abs(float(v)) for v in values if _finite(v) and v != 0), default=0.0)
    return 0 if big == 0 else max(sig - 1 - math.floor(math.log10(big)), 0)


def _fixed(x: float, decimals: int, sign: bool = False) -> str:
    """`x` with a fixed number of decimals (thousands separated); 'n/a' when not finite."""
    if not _finite(x):
        return "n/a"
    text = f"{float(x):,.{decimals}f}"
    return f"+{text}" if sign and round(float(x), decimals) > 0 else text


def _plain(x: float) -> str:
    """A parameter such as a target or threshold, without trailing zeros: 2, 0.1, 1.5."""
    return f"{float(x):,.6f}".rstrip("0").rstrip(".")


def fmt_ci(low: float, high: float, sig: int = 2, unit: str = "") -> str:
    """An interval for prose with common decimals: '0.05 to 0.19', '-3 to 12 px'."""
    d = _common_decimals([low, high], sig)
    return f"{_fixed(low, d)} to {_fixed(high, d)}{unit}"


def count_phrase(n: int, noun: str, plural: str | None = None) -> str:
    """'1 thread', '2 threads', '1,200 clips'; `plural` for irregular nouns ('1 child')."""
    if not _finite(n) or float(n) != int(n) or n < 0:
        raise MetricError(f"count_phrase: a count must be a whole number >= 0, got {n!r}")
    n = int(n)
    if n == 1:
        return f"1 {noun}"
    if plural is None:
        if noun.endswith(("s", "x", "z", "ch", "sh")):
            plural = noun + "es"
        elif noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
            plural = noun[:-1] + "ies"
        else:
            plural = noun + "s"
    return f"{n:,} {plural}"


def _precise(x: float, boundaries: list[float], fmt, digits: int, most: int = 6) -> str:
    """fmt(x, digits), with more digits while x would read the same as a boundary it is not."""
    while digits < most and any(b != x and fmt(b, digits) == fmt(x, digits) for b in boundaries):
        digits += 1
    return fmt(x, digits)


def _field(row: Any, name: str, caller: str) -> Any:
    """`row[name]` for a mapping or Series, `row.name` for a named tuple; one error if absent."""
    if isinstance(row, Mapping) or hasattr(row, "index") and hasattr(row, "loc"):
        if name in row:
            return row[name]
    elif hasattr(row, name):
        return getattr(row, name)
    raise MetricError(f"{caller}: row lacks field {name!r} (pass a row of stats.compare)")


def _interval(row: Any, caller: str) -> tuple[float, float, float, bool, float]:
    """Effect, CI low, CI high, differs and CI level from a compare() row."""
    effect, low, high = (float(_field(row, k, caller)) for k in ("effect", "ci_low", "ci_high"))
    differs = bool(_field(row, "differs", caller))
    try:
        level = float(_field(row, "ci_level", caller))
    except MetricError:
        level = 0.95
    return effect, low, high, differs, level


def _smallest(smallest_effect: float | None, caller: str) -> float | None:
    """The smallest effect of interest, checked positive."""
    if smallest_effect is not None and not (_finite(smallest_effect) and smallest_effect > 0):
        raise ConfigError(f"{caller}: smallest_effect must be > 0, got {smallest_effect}")
    return None if smallest_effect is None else float(smallest_effect)


def difference_verdict(
    row: Any, *, smallest_effect: float | None = None, unit: str = "", sig: int = 2
) -> str:
    """A sentence for one compare() row: 'differs: +0.12 (95% CI 0.05 to 0.19)' and the like.

    Without `smallest_effect` a row that does not differ 'does not differ detectably'. With it,
    the interval decides: inside +-smallest_effect, 'does not differ by as much as ...'; reaching
    beyond, 'inconclusive'; a detected difference wholly inside it is 'differs, by less than'.
    """
    name = "difference_verdict"
    effect, low, high, differs, level = _interval(row, name)
    s = _smallest(smallest_effect, name)
    if not (_finite(low) and _finite(high)):
        return f"cannot be tested (one seed, no clips): {fmt_num(effect, sig, sign=True)}{unit}"
    d = _common_decimals([effect, low, high], sig)
    est = f"{_fixed(effect, d, sign=True)}{unit}"
    ci = f"{level:.0%} CI {_fixed(low, d)} to {_fixed(high, d)}{unit}"
    inside = s is not None and -s < low and high < s
    if differs:
        if inside:
            return f"differs, by less than {_plain(s)}{unit}: {est} ({ci})"
        return f"differs: {est} ({ci})"
    if s is not None and inside:
        return f"does not differ by as much as {_plain(s)}{unit}: {est} ({ci})"
    if low > 0 or high < 0:  # the interval alone excludes 0, but not once the family is counted
        family = "not found once the comparison's other rows are counted (Holm)"
        lead = "does not differ detectably" if s is None else "inconclusive"
        return f"{lead}: {est} ({ci}; {family})"
    if s is None:
        return f"does not differ detectably: {est} ({ci})"
    return f"inconclusive: {est} ({ci}, which includes differences of {_plain(s)}{unit})"


def claim_verdict(row: Any, direction: str, *, smallest_effect: float | None = None) -> str:
    """'confirmed', 'refuted' or 'inconclusive' for a claim that the system is `direction`.

    direction: 'higher' or 'lower' than the baseline, 'differs' from it, or the 'same' (no
    difference as large as `smallest_effect`, which 'differs' and 'same' need to be refuted or
    confirmed). A detected difference the wrong way refutes 'higher'/'lower'; so does an interval
    that stops short of `smallest_effect` in the claimed direction.
    """
    name = "claim_verdict"
    if direction not in CLAIMS:
        raise ConfigError(f"{name}: direction must be one of {CLAIMS}, got {direction!r}")
    effect, low, high, differs, _ = _interval(row, name)
    s = _smallest(smallest_effect, name)
    if not (_finite(low) and _finite(high)):
        return "inconclusive"
    inside = s is not None and -s < low and high < s
    if direction in ("higher", "lower"):
        sign = 1.0 if direction == "higher" else -1.0
        if differs:
            return "confirmed" if sign * effect > 0 else "refuted"
        reach = high if sign > 0 else -low  # how far the interval reaches in the claimed direction
        return "refuted" if s is not None and reach < s else "inconclusive"
    if direction == "differs":
        return "confirmed" if differs else "refuted" if inside else "inconclusive"
    return "confirmed" if inside else "refuted" if differs else "inconclusive"


def ratio_verdict(
    new: float,
    old: float,
    *,
    lower_is_better: bool = True,
    threshold: float = 1.05,
    target: float | None = None,
    sig: int = 2,
) -> str:
    """A speed-up in words: '1.3 times as fast', 'about as fast', 'slower'; and a target's fate.

    `new` and `old` are times (or, with lower_is_better=False, rates). The speed-up must reach
    `threshold` to count as faster and fall to 1/threshold to count as slower; in between the
    two are 'about as fast'. With `target` (a speed-up such as 2) the sentence says met/not met.
    """
    name = "ratio_verdict"
    if not (_finite(new) and _finite(old) and new > 0 and old > 0):
        raise MetricError(f"{name}: new and old must be finite and > 0, got {new!r}, {old!r}")
    if not (_finite(threshold) and threshold >= 1):
        raise ConfigError(f"{name}: threshold must be >= 1, got {threshold}")
    speedup = old / new if lower_is_better else new / old
    bounds = [threshold, 1 / threshold] + ([] if target is None else [float(target)])
    times = f"{_precise(speedup, bounds, fmt_num, sig)} times as fast"
    if speedup >= threshold:
        text = times
    elif speedup <= 1 / threshold:
        text = f"slower ({times})"
    else:
        text = f"about as fast (within {fmt_pct(threshold - 1)}: {times})"
    if target is not None:
        if not (_finite(target) and target > 0):
            raise ConfigError(f"{name}: target must be > 0, got {target}")
        met = "met" if speedup >= target else "not met"
        text += f"; target {_plain(target)} times {met}"
    return text


def trend_verdict(
    start: float, end: float, *, fade_below: float = 0.5, grow_margin: float = 0.1
) -> str:
    """'fades', 'persists' or 'grows' from a magnitude's start and end, with what is left.

    Fades only when less than `fade_below` of the start is left; grows only above
    1 + `grow_margin`; otherwise persists. `start` must be > 0 (a size, not a signed change).
    """
    name = "trend_verdict"
    if not (_finite(start) and _finite(end) and start > 0):
        raise MetricError(f"{name}: start must be finite and > 0, end finite; got {start}, {end}")
    if not (0 < fade_below <= 1 and grow_margin >= 0):
        raise ConfigError(
            f"{name}: need 0 < fade_below <= 1 and grow_margin >= 0, got {fade_below}, "
            f"{grow_margin}"
        )
    left = end / start
    pct = _precise(left, [fade_below, 1 + grow_margin], fmt_pct, 0)
    if left < fade_below:
        return f"fades: {pct} of its start is left"
    if left > 1 + grow_margin:
        return f"grows: to {pct} of its start"
    return f"persists: {pct} of its start is left"
