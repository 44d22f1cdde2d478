"""The networks of Dancing to Music: style extractor, dance-unit VAE (decomposition), composer.

Each model module also holds its training stage (the trainer protocol of `d2mlib.train`):
`StyleStage`, `DecompStage`, `CompStage`.
"""

import torch

from d2mlib.models.composer import Composer, CompStage
from d2mlib.models.dance_unit import DanceUnit, DecompStage, Gaussian
from d2mlib.models.rnn import fast_rnn, make_rnn
from d2mlib.models.style import StyleExtractor, StyleStage

__all__ = [
    "CompStage",
    "Composer",
    "DanceUnit",
    "DecompStage",
    "Gaussian",
    "StyleExtractor",
    "StyleStage",
    "fast_rnn",
    "make_rnn",
    "parameter_count",
]


def parameter_count(module: torch.nn.Module) -> int:
    """Number of trainable-or-frozen parameters of `module`."""
    return sum(p.numel() for p in module.parameters())
