"""The evaluation judges the model on its own output: unwarped `full`, warping as a separate
row compared with floors warped the same way, beat metrics against the world's true beats, and
a tidy per-clip table that the book's rule (stats.compare) reads."""

import dataclasses
import json
import os

import numpy as np
import pytest

from d2mlib import config, stats, synth
from d2mlib import metrics as M
from d2mlib.skeleton import FPS
from tests.test_metrics import fake_eval_data, one_torch_thread, tiny_classifier  # noqa: F401

CFG = M.EvalConfig(samples_per_music=3, multimodality_clips=4)


def _noisy(data: M.EvalData):
    calls = []

    def sample(seed: int, k: int, clips: list[int]) -> list[np.ndarray]:
        calls.append((seed, k))
        rng = np.random.default_rng([seed, k])
        return [data.dances[i] + rng.normal(scale=2.0, size=data.dances[i].shape) for i in clips]

    return sample, calls


def test_full_is_scored_unwarped_and_full_warped_against_warped_floors(tiny_classifier) -> None:  # noqa: F811
    data = fake_eval_data()
    raw, calls = _noisy(data)
    full = M.cached_sampler(raw)
    systems = {"full": full, "full_warped": M.warped_sampler(full, data)}
    table = M.evaluate_systems(
        data, tiny_classifier, systems, seeds=2, config=CFG, warped_floors=True
    )
    names = {"dataset", "full", "full_warped", "retrieval", "random_units"}
    assert set(table["system"]) == names | {"retrieval_warped", "random_units_warped"}
    assert len(calls) == len(set(calls))  # full_warped reuses full's compositions
    # "full" rows are exactly the scores of the unwarped dances
    everything = list(range(len(data.dances)))
    own = M.score_fixed("x", raw(0, 0, everything), data, tiny_classifier, CFG)
    got = table[(table.system == "full") & (table.seed == 0)].set_index(["metric", "clip"])
    want = own.set_index(["metric", "clip"])["value"]
    np.testing.assert_allclose(got["value"].loc[want.index], want, rtol=1e-9)
    # and the warped floors are the floors passed through the same warping
    floors = M.floor_samplers(data, warped=True)
    retrieved = M.retrieval_baseline(data)
    for i, dance in enumerate(floors["retrieval_warped"](0, 0, everything)):
        np.testing.assert_allclose(dance, M.warp_dance(retrieved[i], data.music_beats[i]))
    assert not np.allclose(floors["retrieval_warped"](0, 0, [0])[0], retrieved[0])
    assert set(table.loc[table.system == "retrieval_warped", "seed"]) == {0}  # deterministic


def test_true_beat_metrics_score_a_clip_against_its_known_beats() -> None:
    clip = synth.style_clip("zumba", seed=3, seconds=8.0)
    half = 30.0 / clip.tempo  # half a beat, in seconds: the tracker's worst error
    tracked = clip.beat_times + half
    out = M.clip_beat_scores([clip.poses, clip.poses], [clip.beat_times, tracked], CFG)
    off = M.clip_beat_scores([clip.poses], [tracked], CFG, suffix="_true")
    assert out["beat_hit_rate"][0] > 0.8 > out["beat_hit_rate"][1] + 0.3
    assert set(off) == set(M.TRUE_BEAT_METRICS)
    none = M.clip_beat_scores([clip.poses], [None], CFG)
    assert all(np.isnan(v[0]) for v in none.values())  # no beats: no value, not 0


def test_evaluation_scores_true_beats_beside_tracked_ones(tiny_classifier) -> None:  # noqa: F811
    clips = [synth.style_clip(s, seed=i, seconds=64 / FPS) for i, s in enumerate(synth.STYLES * 2)]
    base = fake_eval_data(n=len(clips))
    wrong = [c.beat_times + 30.0 / c.tempo for c in clips]  # a tracker half a beat off
    data = dataclasses.replace(
        base,
        dances=[c.poses.astype(np.float64) for c in clips],
        music_beats=wrong,
        true_beats=[c.beat_times for c in clips],
    )
    table = M.score_fixed("dataset", data.dances, data, tiny_classifier, CFG)
    mean = table.groupby("metric")["value"].mean()
    assert mean["beat_hit_rate_true"] > mean["beat_hit_rate"] + 0.3
    assert (table.loc[table.metric == "beat_hit_rate_true", "clip"].dropna() >= 0).all()
    assert table.loc[table.metric == "beat_hit_rate_true"].shape[0] == len(clips)


def test_the_tidy_per_clip_table_goes_through_the_decision_rule(tiny_classifier) -> None:  # noqa: F811
    data = fake_eval_data()
    still = lambda seed, k, clips: [np.repeat(data.dances[i][:1], 64, 0) for i in clips]  # noqa: E731
    systems = {"full": _noisy(data)[0], "still": still}
    table = M.evaluate_systems(data, tiny_classifier, systems, seeds=3, config=CFG)
    sub = M.for_compare(table, ["full", "still"], ["beat_hit_rate", "fid"])
    result = stats.compare(sub, "full", metrics_higher_better=M.higher_is_better()).set_index(
        "metric"
    )
    hit = result.loc["beat_hit_rate"]
    assert hit["n_clips"] == len(data.dances) and hit["uncertainty"] == stats.SEEDS_AND_CLIPS
    assert hit["differs"] and hit["better"] == "baseline"  # a frozen dance hits no beat
    assert hit["mean_system"] == pytest.approx(0.0)
    assert (
        result.loc["fid", "n_clips"] == 0 and result.loc["fid", "uncertainty"] == stats.SEEDS_ONLY
    )


def test_find_systems_prefers_the_main_run_over_a_shorter_newer_one(tmp_path) -> None:
    cfg = config.preset("smoke")

    def fake_run(name: str, run_cfg, steps: int, mtime: float) -> None:
        path = tmp_path / name
        path.mkdir()
        config.to_yaml(run_cfg, path / "config.yaml")
        (path / "run.json").write_text(json.dumps({"preset": "smoke"}), encoding="utf-8")
        (path / "done").write_text(json.dumps({"step": steps}), encoding="utf-8")
        os.utime(path / "done", (mtime, mtime))

    fake_run("comp-main", cfg, 800, 1000.0)
    fake_run("comp-short", cfg, 128, 2000.0)  # the ablation study's full run, trained later
    fake_run("comp-abl", config.ablation(cfg, "no_style_regressor"), 128, 1500.0)
    found = M.find_systems(tmp_path)
    assert found == {"full": tmp_path / "comp-main", "no_style_regressor": tmp_path / "comp-abl"}
    fake_run("comp-bank", config.bank_recipe(cfg), 8, 2500.0)  # every ablation's weights are 0
    assert M.find_systems(tmp_path)[M.BANK_SYSTEM] == tmp_path / "comp-bank"


def test_the_bank_recipe_trains_only_the_autoencoder_and_composes_from_a_bank() -> None:
    cfg = config.bank_recipe(config.preset("book"))
    c = cfg.composer
    assert c.prior == "bank" and c.w_mov_recon > 0 and c.w_seq_recon > 0
    assert c.w_gan == c.w_dance_gan == c.w_kl == c.w_kl_dance == c.w_mov_dist == 0
    assert c.w_style_reg == 0 and c.z_dance == 512 and c.bank_match == "music"
    assert cfg.train_comp.steps == config.BANK_STEPS["book"] and cfg.train_comp.lr == 1e-3
    assert cfg.train_comp.batch_size == config.BANK_BATCH["book"] == 32  # the preset's is 16
    assert M.ablation_name(cfg) == M.BANK_SYSTEM
    assert M.ablation_name(config.preset("book")) == "full"
    smoke = config.bank_recipe(config.preset("smoke"))
    assert smoke.train_comp.steps == config.BANK_STEPS["smoke"]
    assert smoke.composer.z_dance == config.preset("smoke").composer.z_dance
