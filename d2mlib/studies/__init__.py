"""The studies behind the book's chapters, one module per question (each names its chapter)."""

from d2mlib.studies import (
    ablations,
    data_beats,
    held_out,
    improved,
    initial_pose,
    precision,
    style_classification,
    training,
)

__all__ = [
    "ablations",
    "data_beats",
    "held_out",
    "improved",
    "initial_pose",
    "precision",
    "style_classification",
    "training",
]
