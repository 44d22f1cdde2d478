"""What does the world hold, and what do its dials set? The dataset card for readers, and the
second world with the ambiguity dial turned up (book/data.md, book/style.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from d2mlib.data.layout import dataset_complete
from d2mlib.data.writer import ensure_dataset
from d2mlib.errors import DataError
from d2mlib.synth.config import PRESET_NAMES, synth_preset

# the card's quantities in a reader's words, and how each value is shown
CARD_NAMES: dict[str, str] = {
    "clips": "clips",
    "videos": "videos",
    "units": "dance units (32 frames)",
    "minutes": "minutes of music",
    "ambiguous_share": "clips whose music borrows another style's traits",
    "tempo_min": "slowest tempo (BPM)",
    "tempo_max": "fastest tempo (BPM)",
    "posture_style_accuracy": "style told from posture alone (accuracy)",
    "posture_style_chance": "chance for posture alone (largest style's share)",
    "music_style_accuracy": "style told from the music's average sound (accuracy)",
    "music_style_chance": "chance for the music (largest style's share)",
    "tempo_style_accuracy": "style told from tempo alone (accuracy)",
    "tempo_style_chance": "chance for tempo alone (largest style's share)",
    "beat_hit_rate": "dance beats within 0.1 s of a music beat (hit rate)",
    "bas_kinematic": "beat align score (over dance beats)",
    "bas_music": "beat align score (over music beats)",
    "music_movement_dependence": "music energy vs movement speed (correlation)",
    "music_movement_dependence_shuffled": "the same, music shuffled between clips (control)",
}
_PERCENT = {"ambiguous_share", "beat_hit_rate"} | {
    q for q in CARD_NAMES if q.endswith(("_accuracy", "_chance"))
}
_WHOLE = {"clips", "videos", "units", "tempo_min", "tempo_max"}
SECOND_WORLD = "amb50"  # the suffix of the preset with the ambiguity dial at 0.5


def card_value(card: pd.DataFrame, quantity: str, style: str = "all", split: str = "all") -> float:
    """One value of a dataset card (`d2mlib.card.describe`); DataError when the card lacks it."""
    hit = card[(card["quantity"] == quantity) & (card["style"] == style) & (card["split"] == split)]
    if hit.empty:
        raise DataError(f"the card has no {quantity!r} for style {style!r}, split {split!r}")
    return float(hit["value"].iloc[0])


def format_card_value(quantity: str, value: float) -> str:
    """A card value as a reader sees it: shares in percent, counts whole, others 2 decimals."""
    if not np.isfinite(value):
        return "n/a"
    if quantity in _PERCENT:
        return f"{100 * value:.0f}%"
    if quantity in _WHOLE:
        return f"{value:,.0f}"
    text = f"{value:,.1f}" if quantity == "minutes" else f"{value:.2f}"
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text  # no "-0.00"


def readable_card(card: pd.DataFrame) -> pd.DataFrame:
    """The card as a reader's table: human names, 'all' left blank, formatted values, notes."""
    return pd.DataFrame(
        {
            "quantity": [CARD_NAMES.get(q, q.replace("_", " ")) for q in card["quantity"]],
            "style": [s if s != "all" else "" for s in card["style"]],
            "split": [s if s != "all" else "" for s in card["split"]],
            "value": [
                format_card_value(q, v)
                for q, v in zip(card["quantity"], card["value"], strict=True)
            ],
            "how measured": card["note"].to_numpy(),
        }
    ).reset_index(drop=True)


def second_world(data_dir: str | Path, suffix: str = SECOND_WORLD) -> Path | None:
    """The dataset with the ambiguity dial turned up, written next to `data_dir` (cached on disk).

    Only for a synthetic dataset whose preset has a `<preset>-<suffix>` twin; None otherwise
    (the original or an imported dataset has no dial to turn).
    """
    marker = dataset_complete(data_dir)
    if marker is None:
        return None
    preset = f"{marker.get('preset')}-{suffix}"
    if preset not in PRESET_NAMES:
        return None
    path = Path(data_dir).parent / f"{Path(data_dir).name}-{suffix}"
    return ensure_dataset(path, preset=preset, seed=int(marker.get("seed", 0)), progress=False)


def ambiguity_of(data_dir: str | Path) -> float:
    """The ambiguity dial (share of clips set to borrow) of a synthetic dataset, NaN otherwise."""
    marker = dataset_complete(data_dir)
    if marker is None or marker.get("preset") not in PRESET_NAMES:
        return float("nan")
    return float(synth_preset(str(marker["preset"])).ambiguity)
