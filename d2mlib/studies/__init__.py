"""The studies behind the book's chapters, one module per question (each names its chapter)."""

from d2mlib.studies import (
    ablations,
    data_beats,
    evaluation,
    gpu,
    held_out,
    improved,
    initial_pose,
    leakage,
    precision,
    real_dance,
    scorecard,
    style_classification,
    training,
    world_card,
)

__all__ = [
    "ablations",
    "data_beats",
    "evaluation",
    "gpu",
    "held_out",
    "improved",
    "initial_pose",
    "leakage",
    "precision",
    "real_dance",
    "scorecard",
    "style_classification",
    "training",
    "world_card",
]
