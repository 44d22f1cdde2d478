"""Tests for what the timing chapter adds to d2mlib.timing: reading several results tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from d2mlib import timing


def _rows(machine: str, device: str, median: float, batch: int = 8) -> pd.DataFrame:
    info = {"machine": machine, "cpu": "x", "logical_cores": 2, "torch_threads": 2}
    m = timing.Measurement((median, median))
    row = timing.make_row(info, "r1", "training", "s", m, device, stage="decomp", batch_size=batch)
    return timing.results_frame([row])


def test_read_results_merges_tables_and_skips_missing_ones(tmp_path: Path) -> None:
    here, gpu = tmp_path / "here.csv", tmp_path / "gpu" / "results.csv"
    timing.append_results(_rows("box", "cpu", 1.0), here)
    timing.append_results(_rows("gpu-box", "cuda", 0.1), gpu)
    df = timing.read_results([here, None, tmp_path / "nothing.csv", gpu.parent])
    assert sorted(zip(df["machine"], df["device"], strict=True)) == [
        ("box", "cpu"),
        ("gpu-box", "cuda"),
    ]


def test_read_results_keeps_a_row_once_when_a_table_is_named_twice(tmp_path: Path) -> None:
    path = tmp_path / "timing" / "results.csv"
    timing.append_results(_rows("box", "cpu", 1.0), path)
    df = timing.read_results([path, path.parent, path])
    assert len(df) == 1


def test_read_results_of_nothing_is_an_empty_table_in_the_schema(tmp_path: Path) -> None:
    df = timing.read_results([tmp_path / "missing.csv"])
    assert df.empty and list(df.columns) == list(timing.SCHEMA)


def test_select_keeps_the_latest_matching_row_of_each_key() -> None:
    old = _rows("box", "cpu", 1.0).assign(timestamp="2026-01-01T00:00:00+00:00")
    new = _rows("box", "cpu", 2.0).assign(timestamp="2026-02-01T00:00:00+00:00")
    other = _rows("box", "cpu", 3.0, batch=16)
    df = pd.concat([new, old, other], ignore_index=True)
    got = timing.select(df, machine="box", batch_size=8)
    assert list(got["median"]) == [2.0]
    assert len(timing.select(df, machine="box")) == 2
    assert timing.select(df, machine="nobody").empty
