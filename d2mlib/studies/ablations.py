"""What do the style regressor and the latent alignment losses buy? The ablation study's configs
(book/ablations.md).
"""

from __future__ import annotations

import dataclasses

from d2mlib.config import ABLATIONS, Config, ablation
from d2mlib.errors import ConfigError

ABLATION_COMP_STEPS: dict[str, int] = {"book": 128}
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
