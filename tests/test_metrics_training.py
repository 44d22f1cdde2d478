"""Tests for the training chapter's helpers in d2mlib.metrics: reconstruction errors, verdicts, summary."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from d2mlib import studies
from d2mlib.config import ComposerConfig
from d2mlib.errors import MetricError


def test_reconstruction_table_gives_hand_computed_errors_by_style():
    units = np.zeros((2, 4, 14, 2))
    units[1] += 10.0  # the second unit sits 10 px away on every coordinate
    units[1, 2:] += 4.0  # and moves 4 px in its second half
    recon = units + 1.5  # off by 1.5 px everywhere
    table = studies.training.reconstruction_table(units, recon, [0, 2], mean_pose=np.zeros((14, 2)))
    assert list(table.index) == ["ballet", "hiphop", "all"]
    assert table.loc["ballet", "model"] == pytest.approx(1.5)
    assert table.loc["ballet", "first pose held"] == pytest.approx(0.0)
    assert table.loc["hiphop", "first pose held"] == pytest.approx(2.0)
    assert table.loc["hiphop", "mean pose"] == pytest.approx(12.0)
    assert table.loc["all", "mean pose"] == pytest.approx(6.0)
    assert table.loc["all", "units"] == 2


def test_reconstruction_table_rejects_mismatched_shapes():
    with pytest.raises(MetricError, match="differ"):
        studies.training.reconstruction_table(
            np.zeros((2, 4, 14, 2)), np.zeros((2, 5, 14, 2)), [0, 1], np.zeros((14, 2))
        )


def test_reconstruction_comparison_finds_the_vae_better_than_a_far_baseline():
    rng = np.random.default_rng(0)
    units = rng.normal(0, 20, (40, 8, 14, 2)) + 200.0
    recon = units + rng.normal(0, 1.0, units.shape)  # about 0.8 px off
    result = studies.training.reconstruction_comparison(units, recon, np.full((14, 2), 200.0))
    row = result.set_index("system")
    assert set(row.index) == {"first pose held", "mean pose"}
    assert (row["baseline"] == "dance-unit VAE").all()
    assert row.loc["mean pose", "differs"] and row.loc["mean pose", "effect"] > 10
    assert row.loc["mean pose", "better"] == "baseline"  # lower error: the VAE is better
    worse = studies.training.reconstruction_comparison(
        units, units[:, :1] + 0 * units, np.full((14, 2), 200.0)
    ).set_index("system")
    assert worse.loc["first pose held", "effect"] == pytest.approx(0.0)
    assert not worse.loc["first pose held", "differs"]


def test_motion_ratio_is_one_for_a_copy_and_the_damping_factor_for_a_damped_copy():
    rng = np.random.default_rng(1)
    units = np.cumsum(rng.normal(0, 3, (10, 32, 14, 2)), axis=1) + 200.0
    same = studies.training.motion_ratio(units, units)
    assert list(same["frame"]) == list(range(1, 32))
    np.testing.assert_allclose(same["ratio"], 1.0)
    damped = units[:, :1] + 0.4 * (units - units[:, :1])
    out = studies.training.motion_ratio(units, damped)
    np.testing.assert_allclose(out["ratio"], 0.4, rtol=1e-5)
    assert (out["rebuilt_px"] < out["real_px"]).all()
    with pytest.raises(MetricError, match="one shape"):
        studies.training.motion_ratio(units, units[:, :5])


def _dance_on_beats(beat_frames, n=60):
    """A joint swinging between rests on the given frames (kinematic beats there)."""
    x = np.zeros(n)
    keys = [0, *beat_frames, n - 1]
    for a, (k0, k1) in enumerate(zip(keys[:-1], keys[1:], strict=True)):
        t = np.arange(k0, k1 + 1)
        p0, p1 = (0.0, 40.0) if a % 2 == 0 else (40.0, 0.0)
        x[k0 : k1 + 1] = p0 + (p1 - p0) * (1 - np.cos(np.pi * (t - k0) / (k1 - k0))) / 2
    poses = np.full((n, 14, 2), 100.0)
    poses[:, :, 0] += x[:, None]
    return poses


class _Clip:
    def __init__(self, style, poses, beats):
        self.style, self.poses, self.beat_times = style, poses, beats

    def music(self):
        return SimpleNamespace(beat_times=self.beat_times)


class _Generator:
    """Composes a dance off the beats, heard as zumba; records whether it was asked to warp."""

    def __init__(self, poses):
        self.poses, self.warps = poses, []

    def compose(self, music, seed=0, warp=True):
        self.warps.append(warp)
        return SimpleNamespace(poses=self.poses, style="zumba")


def test_held_out_beats_scores_real_unwarped_and_warped_dances_against_the_same_beats():
    beats = np.array([15, 30, 45]) / 15.0
    on, off = _dance_on_beats([15, 30, 45]), _dance_on_beats([12, 27, 42])
    clips = [_Clip("zumba", on, beats), _Clip("ballet", on, beats)]
    gen = _Generator(off)
    tidy, heard = studies.training.held_out_beats(gen, clips, seeds=[0, 1])
    assert gen.warps == [False] * 4  # the composer's own output is scored unwarped
    hit = tidy[tidy["metric"] == "beat_hit_rate"].groupby("system")["value"].mean()
    assert hit["real"] == pytest.approx(1.0)
    assert hit["composed"] == pytest.approx(0.0)  # 3 frames = 0.2 s off every beat
    assert hit["composed, warped"] == pytest.approx(1.0)  # warping moves them onto the beats
    assert len(tidy[(tidy["system"] == "composed")]) == 2 * 2 * 2  # clips x seeds x metrics
    assert list(heard["heard_as"]) == ["zumba", "zumba"]
    table = studies.training.held_out_summary(tidy, heard)
    assert list(table.index) == ["ballet", "zumba", "all"]
    assert table.loc["all", "heard as its style"] == "50%"
    assert table.loc["zumba", "beat hit rate (composed)"] == "0%"
    assert table.loc["all", "beat hit rate (composed, warped)"] == "100%"


def test_held_out_beats_needs_clips_and_seeds():
    with pytest.raises(MetricError, match="at least one"):
        studies.training.held_out_beats(_Generator(None), [], seeds=[0])


def test_validation_at_reads_the_last_validation_before_a_step_and_the_end():
    rows = [(s, 0, "val", "unit_recon", 1.0 / s) for s in (200, 400, 1000, 1200, 3000)]
    rows += [(s, 0, "train", "unit_recon", 9.0) for s in (999, 1000)]
    rows += [(1000, 0, "val", "total", 5.0)]
    m = pd.DataFrame(rows, columns=["step", "epoch", "split", "term", "value"])
    then, now = studies.training.validation_at(m, "unit_recon", 1100)
    assert (then["step"], then["value"]) == (1000, 1.0 / 1000)
    assert (now["step"], now["value"]) == (3000, 1.0 / 3000)
    first, _ = studies.training.validation_at(m, "unit_recon", 50)  # before the first: the first
    assert first["step"] == 200
    with pytest.raises(MetricError, match="no validation 'kl'"):
        studies.training.validation_at(m, "kl", 1000)


def test_rhythm_sentence_reads_the_unweighted_term_at_the_first_and_last_validation():
    rows = [
        (1, "train", "rhythm", 9.0),
        (200, "val", "rhythm", 8.4),
        (200, "val", "total", 20.0),
        (800, "val", "rhythm", 5.2),
        (400, "val", "rhythm", 7.0),
    ]
    metrics = pd.DataFrame(rows, columns=["step", "split", "term", "value"])
    text = studies.training.rhythm_sentence(metrics, weight=10.0)
    assert "fell from 0.84 at step 200 to 0.52 at step 800" in text
    risen = metrics.assign(value=metrics["value"][::-1].to_numpy())
    assert "rose from" in studies.training.rhythm_sentence(risen, weight=10.0)
    assert "no rhythm term" in studies.training.rhythm_sentence(metrics, weight=0.0)
    with pytest.raises(MetricError, match="no validation rhythm"):
        studies.training.rhythm_sentence(metrics[metrics["term"] != "rhythm"], weight=10.0)


def test_adversarial_sentence_averages_the_first_and_last_tenth_of_each_game():
    steps = range(1, 101)
    rows = [(s, "train", "disc_mov", 0.2 if s <= 10 else 0.001) for s in steps]
    rows += [(s, "train", "gan", 2.0 if s > 90 else 0.5) for s in steps]  # weight 2: 1.00
    rows += [(s, "train", "disc_dance", 0.25) for s in steps]
    rows += [(s, "train", "dance_gan", 0.3) for s in steps]
    rows += [(100, "val", "disc_mov", 9.0)]  # validation rows are not the game
    metrics = pd.DataFrame(rows, columns=["step", "split", "term", "value"])
    cfg = ComposerConfig(w_gan=2.0, w_dance_gan=1.0)
    text = studies.training.adversarial_sentence(metrics, cfg)
    assert "movement-code discriminator's loss averaged 0.001 over steps 91 to 100" in text
    assert "(0.2 over the first tenth" in text and "term against it 1.00" in text
    assert "dance-latent discriminator's loss averaged 0.25" in text and "it 0.30" in text
    alone = studies.training.adversarial_sentence(metrics, ComposerConfig(w_dance_gan=0.0))
    assert "dance-latent" not in alone
    none = ComposerConfig(w_gan=0.0, w_dance_gan=0.0)
    assert "no adversarial terms" in studies.training.adversarial_sentence(metrics, none)
    with pytest.raises(MetricError, match="no training disc_dance/dance_gan"):
        studies.training.adversarial_sentence(metrics[metrics["term"] != "dance_gan"], cfg)
    broken = metrics.assign(value=metrics["value"].where(metrics["term"] != "gan", float("nan")))
    with pytest.raises(MetricError, match="must be finite"):
        studies.training.adversarial_sentence(broken, cfg)
