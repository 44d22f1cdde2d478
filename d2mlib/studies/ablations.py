"""What do the style regressor and the latent alignment losses buy? The ablation study's configs
and its verdicts, each ablation against the full model by the book's one rule
(book/ablations.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from d2mlib import verdicts
from d2mlib.config import ABLATIONS, Config, ablation
from d2mlib.errors import ConfigError, MetricError
from d2mlib.metrics.bounds import for_compare, higher_is_better
from d2mlib.metrics.evaluation import CORE_METRICS, TRUE_BEAT_METRICS
from d2mlib.stats import compare

DECISION_METRICS: tuple[str, ...] = CORE_METRICS + TRUE_BEAT_METRICS
"""The metrics each ablation is judged on (the field's exact variants repeat these, so they
stay out of the family: every extra row would cost the rule power)."""

ABLATION_COMP_STEPS: dict[str, int] = {"book": 96}
"""Composition steps of each ablation-study run, by preset (others keep their preset's steps):
shorter than the main run, so that 4 systems x 3 seeds fit the book's time budget."""


def ablation_study(
    cfg: Config, seeds: int = 3, steps: int | None = None
) -> dict[str, list[Config]]:
    """The ablation study's configs: "full" and each of ABLATIONS, one per composition seed 0..seeds-1.

    Only the composition stage changes (its seed, its steps: `steps`, else
    ABLATION_COMP_STEPS for the preset, else the preset's own), so every run shares the
    style and decomposition runs of `cfg`.
    """
    if seeds < 1:
        raise ConfigError(f"seeds must be >= 1, got {seeds}")
    steps = (
        steps if steps is not None else ABLATION_COMP_STEPS.get(cfg.preset, cfg.train_comp.steps)
    )
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    out: dict[str, list[Config]] = {}
    for name in ("full", *ABLATIONS):
        out[name] = [
            ablation(
                dataclasses.replace(
                    cfg, train_comp=dataclasses.replace(cfg.train_comp, seed=s, steps=steps)
                ),
                "none" if name == "full" else name,
            )
            for s in range(seeds)
        ]
    return out


def judge_ablations(
    table: pd.DataFrame,
    ablations: Sequence[str] = ABLATIONS,
    reference: str = "full",
    metrics: Sequence[str] = DECISION_METRICS,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every ablation against `reference` on every metric, in one `stats.compare` call (Holm
    over all ablations x metrics): effect (ablation minus full), interval, differs, better."""
    data = for_compare(table, [reference, *ablations], metrics)
    return compare(data, reference, metrics_higher_better=higher_is_better(metrics), alpha=alpha)


def sameness(result: pd.DataFrame, system: str, smallest_effect: float | None = None) -> str:
    """The claim "`system` is the same as the reference" over all its metrics, from each row's
    `verdicts.claim_verdict(row, "same")`: refuted when any metric differs, confirmed only when
    every metric is shown within `smallest_effect`, otherwise inconclusive."""
    rows = result[result["system"] == system]
    if rows.empty:
        raise MetricError(f"sameness: no compare rows for system {system!r}")
    claims = [
        verdicts.claim_verdict(r._asdict(), "same", smallest_effect=smallest_effect)
        for r in rows.itertuples(index=False)
    ]
    if "refuted" in claims:
        return "refuted"
    return "confirmed" if all(c == "confirmed" for c in claims) else "inconclusive"
