"""Tests for the display labels of evaluated systems (d2mlib.viz.relabel_systems)."""

import pandas as pd
import pytest

from d2mlib import viz


def test_relabel_systems_shortens_known_names_and_keeps_the_rest() -> None:
    df = pd.DataFrame({"system": ["full", "no_style_regressor"], "value": [1.0, 2.0]})
    out = viz.relabel_systems(df)
    assert out["system"].tolist() == ["full", "no style\nregressor"]
    assert df["system"].tolist() == ["full", "no_style_regressor"]  # the input is untouched
    assert viz.relabel_systems(df, {"full": "F"})["system"].tolist() == ["F", "no_style_regressor"]
    with pytest.raises(ValueError, match="system"):
        viz.relabel_systems(pd.DataFrame({"x": [1]}))
