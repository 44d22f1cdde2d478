"""Style classification helpers (metrics) and shared-run helpers (train) of the style chapters."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from d2mlib import config, data, studies, train
from d2mlib import metrics as M
from d2mlib.errors import CheckpointError, MetricError
from d2mlib.models.style import StyleExtractor


def test_classification_scores_match_hand_counts() -> None:
    true = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 2, 2]
    s = studies.style_classification.classification_scores(true, pred)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["precision ballet"] == pytest.approx(1.0)
    assert s["precision zumba"] == pytest.approx(1 / 2)
    assert s["precision hiphop"] == pytest.approx(1 / 2)
    assert s["recall ballet"] == pytest.approx(2 / 3)
    assert s["recall hiphop"] == pytest.approx(1.0)


def test_classification_scores_give_nan_precision_for_a_never_predicted_style() -> None:
    s = studies.style_classification.classification_scores([0, 1, 2], [0, 0, 0])
    assert math.isnan(s["precision zumba"]) and s["precision ballet"] == pytest.approx(1 / 3)


def test_classification_scores_refuse_empty_and_mismatched_input() -> None:
    with pytest.raises(MetricError):
        studies.style_classification.classification_scores([], [])
    with pytest.raises(MetricError):
        studies.style_classification.classification_scores([0, 1], [0])


def _table(styles: list[int], preds: list[int], confidence: list[float]) -> pd.DataFrame:
    probs = np.full((len(styles), 3), 0.0)
    for i, (p, c) in enumerate(zip(preds, confidence, strict=True)):
        probs[i] = (1 - c) / 2
        probs[i, p] = c
    t = pd.DataFrame({"clip": range(len(styles)), "start": 0, "style": styles, "predicted": preds})
    for j, name in enumerate(config.STYLES):
        t[f"p_{name}"] = probs[:, j]
    return t


def test_scores_over_seeds_is_tidy_with_one_row_per_system_seed_metric() -> None:
    a = _table([0, 1, 2], [0, 1, 2], [0.9, 0.9, 0.9])
    b = _table([0, 1, 2], [0, 0, 2], [0.9, 0.9, 0.9])
    tidy = studies.style_classification.scores_over_seeds({("paper", 0): a, ("paper", 1): b})
    assert list(tidy.columns) == ["system", "metric", "seed", "clip", "value"]  # the rule's table
    assert tidy["clip"].isna().all()  # scores of a whole run
    acc = tidy[tidy["metric"] == "accuracy"].set_index("seed")["value"]
    assert acc[0] == pytest.approx(1.0) and acc[1] == pytest.approx(2 / 3)
    assert len(tidy) == 2 * 7  # accuracy + precision and recall of three styles


def test_misclassified_windows_returns_only_wrong_rows_most_confident_first() -> None:
    t = _table([0, 0, 1, 2, 2], [0, 2, 1, 0, 1], [0.9, 0.5, 0.8, 0.95, 0.6])
    wrong = studies.style_classification.misclassified_windows(t, n=5)
    assert list(wrong["clip"]) == [3, 4, 1]
    assert (wrong["style"] != wrong["predicted"]).all()
    assert list(
        studies.style_classification.misclassified_windows(t, n=5, true_style=2)["clip"]
    ) == [3, 4]
    assert studies.style_classification.misclassified_windows(_table([0], [0], [0.9])).empty


@pytest.fixture(scope="module")
def store(smoke_data):
    return data.FeatureStore.open(smoke_data)


def test_style_predictions_tile_each_test_clip_into_model_windows(store) -> None:
    cfg = config.preset("smoke").style
    torch.manual_seed(0)
    model = StyleExtractor(cfg)
    table = studies.style_classification.style_predictions(model, store, "test")
    clips = store.clip_indices("test")
    frames = store.clips_table["frames"].to_numpy()[clips]
    assert len(table) == int((frames // cfg.window).sum())
    assert set(table["clip"]) <= set(clips.tolist())
    assert (table["start"] % cfg.window == 0).all()
    probs = table[[f"p_{s}" for s in config.STYLES]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (table["predicted"].to_numpy() == probs.argmax(1)).all()
    assert np.stack(table["code"]).shape == (len(table), cfg.code_dim)
    # the same window fed by hand gives the same prediction
    row = table.iloc[0]
    x = store.normalise_audio(store.clip_audio(row["clip"])[row["start"] : row["start"] + 30])
    with torch.no_grad():
        _, logits = model(torch.from_numpy(x[None]))
    assert int(logits.argmax()) == row["predicted"]


def _fake_run(runs_dir, name, cfg, data_dir, step):
    path = runs_dir / name
    path.mkdir(parents=True)
    config.to_yaml(cfg, path / "config.yaml")
    info = {"stage": "decomp", "data": data.data_identity(data_dir)}
    (path / "run.json").write_text(json.dumps(info))
    (path / train.DONE_MARKER).write_text(json.dumps({"step": step}))
    return path


def test_link_run_makes_a_finished_run_findable_in_another_folder(tmp_path) -> None:
    cfg = config.preset("smoke")
    src = _fake_run(tmp_path / "main", "decomp-smoke-aaaa", cfg, tmp_path, 4)
    dst = train.link_run(src, tmp_path / "extra")
    assert dst.is_symlink() and dst.resolve() == src.resolve()
    assert train.link_run(src, tmp_path / "extra") == dst  # idempotent
    found = train.find_run(tmp_path / "extra", "decomp")
    assert found is not None and found.path.name == src.name
    (src / train.DONE_MARKER).unlink()
    with pytest.raises(CheckpointError):
        train.link_run(src, tmp_path / "other")


def test_with_trained_decomp_takes_the_longest_matching_run(tmp_path) -> None:
    cfg = config.preset("smoke")
    r = dataclasses.replace
    short = r(cfg, train_decomp=r(cfg.train_decomp, steps=3))
    long = r(cfg, train_decomp=r(cfg.train_decomp, steps=9))
    other = r(cfg, dance_unit=r(cfg.dance_unit, enc_hidden=32))
    runs = tmp_path / "runs"
    _fake_run(runs, "decomp-a", short, tmp_path, 3)
    _fake_run(runs, "decomp-b", long, tmp_path, 9)
    assert train.with_trained_decomp(cfg, runs, tmp_path).train_decomp.steps == 9
    assert train.with_trained_decomp(other, runs, tmp_path) == other  # no matching model
    assert train.with_trained_decomp(cfg, tmp_path / "none", tmp_path) == cfg


class _EchoGenerator:
    """Composes a 'dance' whose frame count is the music's and remembers what it heard."""

    needs_style = False  # hears the style in the music, as the paper's composer does

    def __init__(self) -> None:
        self.heard: list[int] = []

    def compose(self, music, seed=0, warp=True, style=None):
        self.heard.append(len(music.features))
        t = np.arange(len(music.features))[:, None, None]
        poses = 100 + 10 * np.sin(t / 3.0 + np.arange(14)[None, :, None]) * np.ones((1, 14, 2))
        return type("D", (), {"poses": poses.astype(np.float32)})()


def test_composed_styles_classifies_one_dance_per_sampled_clip(store) -> None:
    torch.manual_seed(0)
    clf = M.DanceClassifier(M.DanceClassifierConfig())
    clf.set_scales(np.asarray(store.units("train")))
    gen = _EchoGenerator()
    table = studies.style_classification.composed_styles(
        gen, store, clf, "test", per_style=1, seed=0
    )
    clips = store.clip_indices("test")
    assert len(table) == len(set(store.clip_style[clips].tolist()))
    assert (store.clip_style[table["clip"].to_numpy()] == table["style"].to_numpy()).all()
    frames = store.clips_table["frames"].to_numpy()[table["clip"].to_numpy()]
    assert gen.heard == frames.tolist()  # each dance was composed for its own clip's music
    probs = table[[f"p_{s}" for s in config.STYLES]].to_numpy()
    assert (table["predicted"].to_numpy() == probs.argmax(1)).all()


def test_train_stage_on_styles_trains_on_the_chosen_style_only(store, smoke_data, tmp_path) -> None:
    cfg = config.preset("smoke")
    run = train.train_stage_on_styles("style", cfg, smoke_data, tmp_path, ["ballet"])
    assert run.done and run.path.name.endswith("-ballet")
    assert train.find_run(tmp_path, "style", cfg, smoke_data) is None  # not the all-styles run
    again = train.train_stage_on_styles("style", cfg, smoke_data, tmp_path, ["ballet"])
    assert again.cached and again.path == run.path
    loader = data.audio_loader(store, "train", 4, 0)
    data.keep_styles(loader, store, [0])
    assert all((b[1] == 0).all() for b in loader)
    with pytest.raises(Exception, match="styles"):
        train.train_stage_on_styles("style", cfg, smoke_data, tmp_path, ["tango"])
