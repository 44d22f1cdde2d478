"""Tests of d2mlib.studies.real_dance and of the dataset-style plumbing it needs (book/real_dance.md).

Most tests run on ballroom dances in the original form written by tests/test_ballroom.py (a
dancer bobbing on a 120 BPM click track), four styles; the tests on real clips read
../shared/data/tang2018 (or $D2M_BALLROOM) and skip with a note where it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from d2mlib import card, config, generate, stats, train
from d2mlib.data import FeatureStore
from d2mlib.errors import ConfigError, MetricError
from d2mlib.studies import real_dance as rd
from d2mlib.studies.style_classification import style_predictions
from d2mlib.viz import style_colour
from tests.test_ballroom import TANG, needs_real, write_original

WRITTEN = [
    "DANCE_C_1",
    "DANCE_C_2",
    "DANCE_R_1",
    "DANCE_R_2",
    "DANCE_W_1",
    "DANCE_W_2",
    "DANCE_T_1",
]


@pytest.fixture(scope="module")
def written_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven written dances: two each of cha-cha, rumba and waltz, one tango."""
    root = tmp_path_factory.mktemp("tang_written")
    for name in WRITTEN:
        write_original(root / name)
    return root


@pytest.fixture(scope="module")
def written(written_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The written dances imported (four styles, tango last)."""
    out = tmp_path_factory.mktemp("real") / "ballroom"
    summary = rd.ensure_import(written_src, out, workers=1)
    assert summary["imported"] is True
    return out


# ----------------------------------------------------------------------------- finding the data


def _dataset(folder: Path) -> Path:
    (folder / "DANCE_W_1").mkdir(parents=True)
    return folder


def test_find_ballroom_tries_the_variable_then_data_then_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.delenv(rd.ENV, raising=False)
    assert rd.find_ballroom(root) is None
    shared = _dataset(tmp_path / "shared" / "data" / "tang2018")
    assert rd.find_ballroom(root) == shared
    local = _dataset(root / "data" / "tang2018")
    assert rd.find_ballroom(root) == local
    own = _dataset(tmp_path / "mine")
    monkeypatch.setenv(rd.ENV, str(own))
    assert rd.find_ballroom(root) == own
    monkeypatch.setenv(rd.ENV, str(tmp_path / "missing"))  # a wrong variable falls through
    assert rd.find_ballroom(root) == local


def test_missing_note_says_how_to_get_the_data() -> None:
    assert "make ballroom" in rd.MISSING_NOTE and rd.ENV in rd.MISSING_NOTE
    assert rd.REPOSITORY in rd.MISSING_NOTE


# ----------------------------------------------------------------------------- import, cache


def test_import_is_cached_and_redone_when_the_clips_change(written_src: Path, written: Path):
    again = rd.ensure_import(written_src, written, workers=1)
    assert again["imported"] is False and again["styles"] == ["chacha", "rumba", "waltz", "tango"]
    fewer = rd.ensure_import(written_src, written, clips=["DANCE_C_1", "DANCE_W_1"], workers=1)
    assert fewer["imported"] is True
    assert sorted(c["clip"] for c in fewer["clips"]) == ["DANCE_C_1", "DANCE_W_1"]
    full = rd.ensure_import(written_src, written, workers=1)  # back to all seven
    assert full["imported"] is True and len(full["clips"]) == len(WRITTEN)
    table = rd.alignment_table(full)
    assert list(table.index) == ["chacha", "rumba", "waltz", "tango", "all"]
    assert table.loc["all", "clips"] == len(WRITTEN)
    # the written dancer bobs on every click: every dance's beats land on the music's
    assert table.loc["all", "hit rate, configured"] > 0.8
    assert (table["hit rate, best offset"] >= table["hit rate, configured"] - 1e-12).all()


def test_card_describes_a_four_style_import(written: Path) -> None:
    table = card.describe(written)
    units = table[(table["quantity"] == "units") & (table["split"] == "all")]
    assert list(units["style"]) == ["chacha", "rumba", "waltz", "tango", "all"]
    assert units["value"].iloc[-1] == units["value"].iloc[:-1].sum()
    assert table.loc[table["quantity"] == "beat_hit_rate", "value"].iloc[0] > 0.8


# ----------------------------------------------------------------------------- beats


def _bobbing(seconds: float = 12.0, period: float = 0.5) -> np.ndarray:
    """A dancer whose every joint swings sideways, at rest (speed 0) every `period` s."""
    t = np.arange(int(seconds * 15)) / 15
    x = 128 + 20 * np.cos(np.pi * t / period)
    poses = np.zeros((len(t), 14, 2))
    poses[..., 0] = x[:, None] + np.arange(14)[None, :]
    poses[..., 1] = 100 + 20 * np.arange(14)[None, :]
    return poses


def test_beat_rows_find_beats_on_the_music_and_miss_them_half_a_beat_off() -> None:
    poses = _bobbing()
    on = rd.ClipDance("on", "waltz", poses, np.arange(0.0, 12.0, 0.5))
    off = rd.ClipDance("off", "waltz", poses, np.arange(0.25, 12.0, 0.5))
    table = rd.beat_rows([on, off], "x")
    assert set(table.columns) == set(stats.COLUMNS)
    hit = table[table["metric"] == "beat_hit_rate"].set_index("clip")["value"]
    assert hit["on"] > 0.9 and hit["off"] < 0.1
    swapped = rd.beat_rows([on, off], "y", pairs=[1, 0])  # each dance with the other's beats
    hit = swapped[swapped["metric"] == "beat_hit_rate"].set_index("clip")["value"]
    assert hit["on"] < 0.1 and hit["off"] > 0.9


def test_shuffled_pairs_are_a_derangement_within_each_style() -> None:
    styles = ["waltz"] * 5 + ["rumba"] * 3 + ["tango"]
    for seed in range(5):
        pairs = rd.shuffled_pairs(styles, seed)
        assert pairs[-1] == -1  # the only tango has no partner
        body = pairs[:-1]
        assert sorted(body) == list(range(8))  # every music used once
        assert all(p != i and styles[p] == styles[i] for i, p in enumerate(body))


def test_beat_comparison_gives_compare_a_paired_control(written: Path) -> None:
    real = rd.clip_dances(written)
    assert len(real) == len(WRITTEN) and all(c.poses.shape[1:] == (14, 2) for c in real)
    table = rd.beat_comparison(real, real[:3], seed=0)
    assert set(table["system"]) == {rd.OWN, rd.SHUFFLED, rd.SYNTHETIC}
    for system in (rd.OWN, rd.SHUFFLED):  # the same dances, not the lone tango
        clips = table.loc[table["system"] == system, "clip"]
        assert clips.nunique() == len(WRITTEN) - 1 and not clips.str.contains("_T_").any()
    result = stats.compare(table, rd.OWN)
    row = rd.row_of(result, rd.SHUFFLED, "beat_hit_rate")
    assert bool(row["paired"]) is True
    with pytest.raises(MetricError, match="no compare row"):
        rd.row_of(result, "nobody", "beat_hit_rate")


# ----------------------------------------------------------------------------- style, training


def test_chance_and_clip_accuracy_score_each_clip() -> None:
    preds = pd.DataFrame(
        {"clip": [0, 0, 1, 1, 2, 2], "style": [2, 2, 2, 2, 0, 0], "predicted": [2, 0, 2, 2, 1, 1]}
    )
    names = ["a", "b", "c"]
    acc = rd.clip_accuracy(preds, names, "paper", 3).set_index("clip")["value"]
    assert acc.to_dict() == {"a": 0.5, "b": 1.0, "c": 0.0}
    chance = rd.chance_rows(preds, names).set_index("clip")["value"]
    assert chance.to_dict() == {"a": 1.0, "b": 1.0, "c": 0.0}  # style 2 has the most clips
    scores = rd.style_scores(preds, ["chacha", "rumba", "waltz"])
    assert scores["accuracy"] == pytest.approx(0.5)
    assert scores["recall waltz"] == pytest.approx(0.75) and scores["precision chacha"] == 0.0


def test_training_takes_its_class_count_from_the_dataset(written: Path, tmp_path: Path) -> None:
    base = config.make_config("smoke")
    with pytest.raises(ConfigError, match="num_classes"):
        train.train_stage("style", base, written, tmp_path, progress=False)
    cfg = train.config_for_data(base, written)
    assert cfg.style.num_classes == 4 and train.config_for_data(cfg, written) is cfg
    run = train.train_stage("comp", cfg, written, tmp_path, progress=False)
    info = json.loads((run.path / "run.json").read_text())
    assert info["dataset_styles"] == ["chacha", "rumba", "waltz", "tango"]
    style_run = next(tmp_path.glob("style-*"))
    model = train.load_run(style_run)[0]["style"]
    preds = style_predictions(model, FeatureStore.open(written), "test")
    assert [c for c in preds.columns if c.startswith("p_")] == [
        "p_chacha",
        "p_rumba",
        "p_waltz",
        "p_tango",
    ]
    gen = generate.DanceGenerator.from_run(run.path, device="cpu")
    assert gen.styles == ("chacha", "rumba", "waltz", "tango") and gen.style_name(9) == "style 9"
    clip = rd.clip_dances(written)[0]
    music = generate.Music(
        features=np.load(next(written.glob("chacha/*/000/aud/c000_fps15.npy"))),
        beat_times=clip.beats,
        duration=rd.seconds_of(clip),
    )
    dance = gen.compose(music, seed=0, warp=False)
    assert dance.style in gen.styles and dance.style_probs.shape == (4,)
    with pytest.raises(ConfigError, match="subset"):
        train.train_stage("style", cfg, written, tmp_path, styles=["ballet"], progress=False)


def test_style_config_switches_the_extractor_and_keeps_the_classes(written: Path) -> None:
    paper = rd.style_config("smoke", written, "paper", 1, 7)
    improved = rd.style_config("book", written, "improved", 2, 5)
    assert paper.style.num_classes == improved.style.num_classes == 4
    assert paper.train_style.steps == 7 and paper.train_style.seed == 1
    assert improved.style.hidden == 512 and improved.style.code_dim == 30
    assert improved.train_style.steps == 5 and improved.train_style.val_every == 1
    with pytest.raises(MetricError, match="extractor"):
        rd.style_config("smoke", written, "huge", 0, 1)


def test_ballroom_styles_have_their_own_colours() -> None:
    colours = [style_colour(s) for s in ("ballet", "zumba", "hiphop", *rd.ballroom.STYLES)]
    assert len(set(colours)) == len(colours)


# ----------------------------------------------------------------------------- real clips


@needs_real
def test_real_clips_import_score_and_compare(tmp_path: Path) -> None:
    summary = rd.ensure_import(TANG, tmp_path / "b", clips=["DANCE_C_8", "DANCE_W_24"])
    assert summary["styles"] == ["chacha", "waltz"]
    align = rd.alignment_table(summary)
    assert (
        0.1 < align.loc["all", "hit rate, configured"] <= align.loc["all", "hit rate, best offset"]
    )
    real = rd.clip_dances(tmp_path / "b")
    assert [c.style for c in real] == ["chacha", "waltz"]
    for c in real:  # the dance is its whole units; the beats span the imported song
        assert len(c.poses) % 32 == 0 and np.all(np.diff(c.beats) > 0)
        assert c.beats[0] >= 0 and c.beats[-1] <= rd.seconds_of(c) + 32 / 15
    table = rd.beat_rows(real, rd.OWN)
    assert table["value"].between(0, 1).all() and len(table) == 2 * len(rd.BEAT_METRICS)


def _tidy(system: str, metric: str, values: np.ndarray, clips: bool = True) -> pd.DataFrame:
    """Tidy rows: values (seeds, clips), clip names c0.. (or NaN clips for per-run metrics)."""
    seeds, n = values.shape
    return pd.DataFrame(
        {
            "system": system,
            "metric": metric,
            "seed": np.repeat(np.arange(seeds), n),
            "clip": np.tile([f"c{i}" for i in range(n)], seeds) if clips else np.nan,
            "value": values.ravel(),
        }
    )


def test_readings_follow_the_rule() -> None:
    rng = np.random.default_rng(0)
    noise = lambda *shape: 0.01 * rng.normal(size=shape)  # noqa: E731
    beats = pd.concat(
        [_tidy(rd.OWN, "beat_hit_rate", 0.5 + noise(1, 12))]
        + [_tidy(rd.SHUFFLED, "beat_hit_rate", 0.2 + noise(1, 12))]
        + [_tidy(rd.SYNTHETIC, "beat_hit_rate", 0.9 + noise(1, 12))]
    )
    truth = np.r_[np.ones(4), np.zeros(8)][None, :]  # the largest style: 4 of 12 dances
    style = pd.concat(
        [
            _tidy("paper", "accuracy", 0.95 + noise(3, 12)),
            _tidy("improved", "accuracy", 0.95 + noise(3, 12)),
            _tidy(rd.CHANCE, "accuracy", truth),
        ]
    )
    ev = pd.concat(
        [
            _tidy("full", "fid", 10 + noise(3, 1), clips=False),
            _tidy("random_units", "fid", 50 + noise(3, 1), clips=False),
        ]
    )
    out = rd.readings(
        stats.compare(beats, rd.OWN),
        stats.compare(style, "paper"),
        stats.compare(ev, "random_units"),
    )
    assert set(out) == set(rd.READING_KEYS)
    assert "follow their own music's beats" in out["reading_shuffled"]
    assert "(confirmed)" in out["reading_synth"]
    assert "better than by always answering" in out["reading_style"]
    assert "does better than the paper's is inconclusive" in out["reading_style"]
    assert "lower FID than random units is confirmed" in out["reading_eval"]
    same = rd.readings(
        stats.compare(beats, rd.OWN).assign(effect=0.0, ci_low=-0.1, ci_high=0.1, differs=False),
        stats.compare(style, "paper"),
        stats.compare(ev, "random_units"),
    )
    assert "no sign" in same["reading_shuffled"] and "inconclusive" in same["reading_synth"]


def test_offset_search_gains_with_any_periodic_music() -> None:
    poses = _bobbing()
    on = rd.ClipDance("on", "waltz", poses, np.arange(0.0, 12.0, 0.5))
    off = rd.ClipDance("off", "waltz", poses, np.arange(0.25, 12.0, 0.5))
    own = rd.offset_search([on, off]).set_index("clip")
    assert own.loc["on", "configured"] > 0.9 and own.loc["off", "configured"] < 0.1
    assert own.loc["off", "best"] > 0.9  # a quarter-period shift finds the beats again
    crossed = rd.offset_search([on, off], pairs=[1, -1])
    assert list(crossed["clip"]) == ["on"] and crossed["best"].iloc[0] > 0.9
