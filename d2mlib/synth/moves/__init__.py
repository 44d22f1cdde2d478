"""Each style's movement vocabulary (one module per style) and the lookup by style."""

from __future__ import annotations

from d2mlib.synth.config import check_style
from d2mlib.synth.moves import ballet, hiphop, zumba
from d2mlib.synth.moves.common import FAMILIES, Movement

MOVEMENTS: dict[str, tuple[Movement, ...]] = {
    "ballet": ballet.MOVES,
    "zumba": zumba.MOVES,
    "hiphop": hiphop.MOVES,
}


def movement_names(style: str) -> tuple[str, ...]:
    """Names of a style's movements."""
    return tuple(m.name for m in MOVEMENTS[check_style(style)])


__all__ = ["FAMILIES", "MOVEMENTS", "Movement", "movement_names"]
