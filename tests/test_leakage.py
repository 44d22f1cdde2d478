"""The leakage experiment (book/style.md): leaky splits share audio, splits by video never do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from d2mlib import config, data, stats
from d2mlib.errors import ConfigError
from d2mlib.studies import leakage


@pytest.fixture(scope="module")
def store(smoke_data: Path) -> data.FeatureStore:
    return data.FeatureStore.open(smoke_data)


def test_overlapping_windows_tile_every_clip_with_overlap(store: data.FeatureStore) -> None:
    w = leakage.overlapping_windows(store, 30, 16)
    frames = store.clips_table["frames"].to_numpy()
    assert len(w) == int(((frames - 30) // 16 + 1).sum())
    assert np.all(w.start + 30 <= frames[w.clip])
    first = w.clip == 0
    assert list(w.start[first][:3]) == [0, 16, 32]  # neighbours share 14 frames
    assert np.array_equal(w.style, store.clip_style[w.clip])


def test_leaky_split_puts_the_same_audio_in_train_and_test(store: data.FeatureStore) -> None:
    w = leakage.overlapping_windows(store, 30, 16)
    split = leakage.split_windows(w, "leaky", seed=0)
    assert leakage.shared_frames(w, split["train"], split["test"]) > 0
    shared_videos = set(w.video[split["train"]]) & set(w.video[split["test"]])
    assert shared_videos


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_by_video_never_shares_audio_or_videos(store: data.FeatureStore, seed: int) -> None:
    w = leakage.overlapping_windows(store, 30, 16)
    split = leakage.split_windows(w, "by video", seed=seed)
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        assert leakage.shared_frames(w, split[a], split[b]) == 0
        assert not set(w.video[split[a]]) & set(w.video[split[b]])
    together = np.sort(np.concatenate(list(split.values())))
    assert np.array_equal(together, np.arange(len(w)))  # a partition of the windows


def test_split_rejects_unknown_protocol(store: data.FeatureStore) -> None:
    w = leakage.overlapping_windows(store, 30, 16)
    with pytest.raises(ConfigError, match="protocol"):
        leakage.split_windows(w, "random", seed=0)


def test_training_on_a_split_lowers_the_loss(store: data.FeatureStore) -> None:
    w = leakage.overlapping_windows(store, 30, 16)
    split = leakage.split_windows(w, "leaky", seed=0)
    cfg = config.preset("smoke").style
    _, curve = leakage.train_on_split(
        cfg, store, w, split, steps=60, seed=0, batch_size=16, evals=6
    )
    assert list(curve["step"]) == [10, 20, 30, 40, 50, 60]
    assert curve["loss"].iloc[-2:].mean() < np.log(3) - 0.05  # below chance's cross-entropy
    assert curve["val_accuracy"].between(0, 1).all()


def test_experiment_returns_a_table_the_decision_rule_accepts(store: data.FeatureStore) -> None:
    cfg = config.preset("smoke").style
    table, curves = leakage.leakage_experiment(store, {"paper": cfg}, {"paper": 4}, seeds=(0, 1))
    assert set(table["system"]) == set(leakage.PROTOCOLS)
    assert set(table["metric"]) == {"accuracy (paper)"}
    assert table["value"].between(0, 1).all() and (table["n_windows"] >= 1).all()
    result = stats.compare(table.drop(columns="n_windows"), "by video")
    assert len(result) == 1 and result["n_seeds"].iloc[0] == 2
    acc = leakage.window_accuracy(table)
    assert len(acc) == 4 and acc["accuracy"].between(0, 1).all()
    flat = leakage.plateau(curves)
    assert set(flat["protocol"]) == set(leakage.PROTOCOLS) and (flat["steps"] == 4).all()
    assert set(leakage.curves_as_metrics(curves)["term"]) == {"paper, leaky", "paper, by video"}


def test_experiment_needs_steps_for_every_extractor(store: data.FeatureStore) -> None:
    cfg = config.preset("smoke").style
    with pytest.raises(ConfigError, match="no steps given for improved"):
        leakage.leakage_experiment(store, {"paper": cfg, "improved": cfg}, {"paper": 2})


def test_experiment_reuses_cached_runs(store: data.FeatureStore, tmp_path: Path) -> None:
    cfg = config.preset("smoke").style
    args = (store, {"paper": cfg}, {"paper": 3})
    first, curves = leakage.leakage_experiment(*args, seeds=(0,), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("leak-*.json"))) == 2  # one per protocol
    again, curves_again = leakage.leakage_experiment(*args, seeds=(0,), cache_dir=tmp_path)
    assert np.allclose(first["value"], again["value"])
    assert list(first["clip"]) == list(again["clip"])
    assert np.allclose(curves["val_accuracy"], curves_again["val_accuracy"])
    longer, _ = leakage.leakage_experiment(
        store, {"paper": cfg}, {"paper": 4}, seeds=(0,), cache_dir=tmp_path
    )
    assert len(list(tmp_path.glob("leak-*.json"))) == 4  # other steps: new runs
