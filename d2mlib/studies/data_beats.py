"""Do the dataset's own dances meet their music's beats? Hit rate and Beat Align Score by style,
against the true and the tracked beats (book/data.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from d2mlib.beats import beat_metrics
from d2mlib.config import STYLES
from d2mlib.metrics.eval_data import EvalConfig, load_eval_data


def beat_agreement(
    data_dir: str | Path, split: str = "test", max_clips: int | None = None
) -> pd.DataFrame:
    """How the dataset's own dances meet their music's beats, by style (rows) and beat source.

    Columns: hit rate and Beat Align Score (AIST++ direction) against the true beats of the
    synthetic world (NaN for data without them) and against librosa's tracked beats.
    """
    rows: dict[str, dict[str, float]] = {}
    for source, label in (("meta", "true beats"), ("librosa", "tracked beats")):
        config = EvalConfig(split=split, max_clips=max_clips, music_beats=source)
        ev = load_eval_data(data_dir, config)
        groups = {name: np.flatnonzero(ev.styles == i) for i, name in enumerate(STYLES)}
        groups["all"] = np.arange(len(ev.dances))
        for name, idx in groups.items():
            usable = [i for i in idx if ev.music_beats[i] is not None]
            scores = (
                beat_metrics([ev.dances[i] for i in usable], [ev.music_beats[i] for i in usable])
                if usable
                else {"beat_hit_rate": np.nan, "bas_kinematic": np.nan}
            )
            row = rows.setdefault(name, {})
            row[f"hit rate ({label})"] = scores["beat_hit_rate"]
            row[f"BAS ({label})"] = scores["bas_kinematic"]
            row["clips"] = float(len(idx))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "style"
    return table
