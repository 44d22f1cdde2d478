"""Tests for d2mlib.generate: beat warping (pure numpy) and composing dances from a trained run."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from d2mlib import beats, generate
from d2mlib.errors import CheckpointError, ConfigError, DataError

# --------------------------------------------------------------------------- beat warping

KEYS = np.array([0, 10, 22, 37, 50, 61, 74])  # interior keys are the kinematic beats
T = 75


def eased_dance() -> np.ndarray:
    """A body swinging 40 px left and right, at rest exactly on frames 10, 22, 37, 50, 61."""
    x = np.zeros(T)
    for a, (k0, k1) in enumerate(zip(KEYS[:-1], KEYS[1:], strict=True)):
        p0, p1 = (0.0, 40.0) if a % 2 == 0 else (40.0, 0.0)
        t = np.arange(k0, k1 + 1)
        x[k0 : k1 + 1] = p0 + (p1 - p0) * (1 - np.cos(np.pi * (t - k0) / (k1 - k0))) / 2
    base = np.random.default_rng(0).uniform(50, 200, (14, 2))
    poses = np.repeat(base[None], T, axis=0).astype(np.float32)
    poses[:, :, 0] += x[:, None].astype(np.float32)
    return poses


def test_synthetic_dance_has_its_kinematic_beats_where_built():
    np.testing.assert_array_equal(beats.kinematic_beats(eased_dance()), KEYS[1:-1])


def test_align_to_beats_moves_kinematic_beats_onto_target_frames():
    poses = eased_dance()
    targets = np.array([12, 19, 39, 47, 64])
    assert np.min(np.abs(KEYS[1:-1] - targets)) >= 2  # the unwarped dance misses every target
    warped = beats.align_to_beats(poses, targets)
    assert warped.shape == poses.shape
    kin = beats.kinematic_beats(warped)
    assert len(kin) == len(targets)
    assert np.max(np.abs(kin - targets)) <= 1


def test_warp_with_identical_source_and_target_is_identity():
    poses = eased_dance()
    out = beats.warp_to_beats(poses, KEYS[1:-1], KEYS[1:-1])
    np.testing.assert_allclose(out, poses, atol=1e-5)


def test_warp_keeps_ends_and_can_change_length():
    poses = eased_dance()
    out = beats.warp_to_beats(poses, [10], [30], n_frames=100)
    assert out.shape == (100, 14, 2)
    np.testing.assert_allclose(out[0], poses[0])
    np.testing.assert_allclose(out[-1], poses[-1])
    np.testing.assert_allclose(out[30], poses[10], atol=1e-5)


def test_warp_drops_crossing_pairs_and_stays_monotone():
    poses = eased_dance()
    # the second pair crosses the first: it is dropped, and time never runs backwards
    out = beats.warp_to_beats(poses, [20, 15], [30, 40])
    np.testing.assert_allclose(out[30], poses[20], atol=1e-5)
    x = out[:, 0, 0]
    assert np.all(np.isfinite(x))


def test_match_beats_pairs_nearby_beats_one_to_one():
    src, tgt = beats.match_beats([10, 22, 37], [11, 12, 30, 60], max_shift=4)
    np.testing.assert_array_equal(src, [10])
    np.testing.assert_array_equal(tgt, [11])


def test_align_to_beats_refuses_beat_times_in_seconds():
    # the original demo passed seconds to a warper expecting frames; we reject that
    with pytest.raises(DataError, match="seconds_to_frames"):
        beats.align_to_beats(eased_dance(), np.array([0.73, 1.46, 2.5]))


def test_seconds_to_frames_uses_15_fps():
    np.testing.assert_array_equal(beats.seconds_to_frames([0.0, 1.0, 2.5]), [0, 15, 38])


def test_units_cover_the_music_in_whole_windows():
    assert generate.n_frames_for(60.0) == 900
    assert generate.n_units_for(900) == 30  # 29 units needed, rounded up to windows of 3
    assert generate.n_units_for(1) == 3


# --------------------------------------------------------------------------- composing


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def untrained() -> generate.DanceGenerator:
    """Smoke-sized models with fixed random weights and plausible normalisation stats."""
    import torch

    from d2mlib import config
    from d2mlib.models.composer import Composer
    from d2mlib.models.dance_unit import DanceUnit
    from d2mlib.models.style import StyleExtractor

    cfg = config.preset("smoke")
    torch.manual_seed(0)
    style = StyleExtractor(cfg.style)
    dance_unit = DanceUnit(cfg.dance_unit)
    composer = Composer(cfg.composer, cfg.dance_unit.z_movement, 28)
    base = np.random.default_rng(0).uniform([80, 100], [180, 400], (14, 2)).reshape(-1)
    stats = {
        "pose_mean": base.astype(np.float32),
        "pose_std": np.full(28, 20.0, np.float32),
        "audio_mean": np.zeros(28, np.float32),
        "audio_std": np.ones(28, np.float32),
    }
    return generate.DanceGenerator(style, composer, dance_unit, stats, cfg)


@pytest.fixture(scope="module")
def music() -> generate.Music:
    """7.3 s of synthetic hip-hop with its true beats."""
    from d2mlib import synth

    clip = synth.style_clip("hiphop", 1, seconds=7.3)
    return generate.load_music(clip.wav, beat_times=clip.beat_times)


def test_dance_is_as_long_as_the_music_at_15_fps(untrained, music):
    dance = untrained.compose(music, seed=0)
    assert music.features.shape[0] == round(7.3 * 15)
    assert dance.poses.shape == (music.features.shape[0], 14, 2)
    assert dance.frames / 15 == pytest.approx(music.duration, abs=1 / 15)
    assert dance.meta["units"] == 6  # 110 frames need 4 units: 2 windows of 3, then trimmed
    assert np.all(np.isfinite(dance.poses))


def test_same_seed_same_dance_and_different_seeds_differ(untrained, music):
    a = untrained.compose(music, seed=5)
    b = untrained.compose(music, seed=5)
    c = untrained.compose(music, seed=6)
    np.testing.assert_array_equal(a.poses, b.poses)
    assert np.abs(a.poses - c.poses).mean() > 0.1


def test_dances_from_one_initial_pose_still_differ(untrained, music):
    pose = untrained.initial_pose(seed=0)
    dances = [untrained.compose(music, seed=s, init_pose=pose, warp=False) for s in range(3)]
    for d in dances:
        np.testing.assert_array_equal(d.meta["initial_pose"], pose)
    spread = np.mean([np.abs(dances[0].poses - d.poses).mean() for d in dances[1:]])
    assert spread > 0.1


def test_initial_pose_spread_controls_variation(untrained):
    still = [untrained.initial_pose(seed=s, spread=0.0) for s in range(3)]
    moved = [untrained.initial_pose(seed=s, spread=2.0) for s in range(3)]
    np.testing.assert_allclose(still[0], still[1])
    assert np.abs(moved[0] - moved[1]).mean() > 0.01


def test_threads_option_gives_the_same_dance_and_restores_the_setting(untrained, music):
    import torch

    before = torch.get_num_threads()
    a = untrained.compose(music, seed=4, threads=2)
    assert torch.get_num_threads() == before
    b = untrained.compose(music, seed=4)
    np.testing.assert_allclose(a.poses, b.poses, atol=1e-3)


def test_style_probabilities_are_a_distribution(untrained, music):
    from d2mlib.config import STYLES

    dance = untrained.compose(music, seed=0)
    assert dance.style_probs.shape == (3,)
    assert dance.style_probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert dance.style == STYLES[int(np.argmax(dance.style_probs))]


def test_beat_warping_is_optional_and_keeps_the_length(untrained, music):
    plain = untrained.compose(music, seed=2, warp=False)
    warped = untrained.compose(music, seed=2, warp=True)
    assert not plain.warped and warped.warped
    assert plain.poses.shape == warped.poses.shape
    np.testing.assert_array_equal(warped.beat_times, music.beat_times)


def test_dance_saves_as_npz(untrained, music, tmp_path):
    dance = untrained.compose(music, seed=0)
    path = dance.save(tmp_path / "dance.npz")
    with np.load(path) as f:
        assert set(f.files) >= {"poses", "beat_times", "style", "style_probs"}
        np.testing.assert_array_equal(f["poses"], dance.poses)
        assert str(f["style"]) == dance.style


@pytest.mark.slow
def test_waveform_input_gives_features_and_beats():
    from d2mlib import synth

    clip = synth.style_clip("zumba", 0, seconds=4.0)
    m = generate.load_music(clip.wav)
    assert m.features.shape == (60, 28)
    assert m.duration == pytest.approx(4.0)
    with pytest.raises(DataError):
        generate.load_music(np.zeros((2, 10), np.float32))


def test_an_oracle_composer_needs_the_true_style_and_follows_it(untrained, music):
    """An oracle run composes to a given style label; the paper's run hears the music's."""
    assert not untrained.needs_style
    cfg = dataclasses.replace(untrained.composer.cfg, style_source="oracle")
    oracle = generate.DanceGenerator(
        untrained.style,
        copy.deepcopy(untrained.composer),
        untrained.dance_unit,
        {
            "pose_mean": untrained.pose_normaliser.mean,
            "pose_std": untrained.pose_normaliser.std,
            "audio_mean": untrained.audio_mean,
            "audio_std": untrained.audio_std,
        },
        untrained.cfg,
    )
    oracle.composer.cfg = cfg
    assert oracle.needs_style
    with pytest.raises(ConfigError, match="oracle run composes to a given style"):
        oracle.compose(music, seed=0, warp=False)
    a = oracle.compose(music, seed=0, warp=False, style=0).poses
    b = oracle.compose(music, seed=0, warp=False, style=2).poses
    assert a.shape == b.shape and not np.allclose(a, b)
    np.testing.assert_array_equal(a, oracle.compose(music, seed=0, warp=False, style=0).poses)


def test_a_bank_composer_draws_its_latents_from_the_bank_of_the_songs_style(untrained, music):
    """A "bank" run composes from training latents of the style the song sounds like."""
    import torch

    from d2mlib.models import Composer

    cfg = dataclasses.replace(untrained.composer.cfg, prior="bank", bank_size=4)
    composer = Composer(cfg, untrained.dance_unit.cfg.z_movement, untrained.style.cfg.feature_dim)
    composer.load_state_dict(untrained.composer.state_dict(), strict=False)
    banked = copy.copy(untrained)
    banked.composer = composer.eval()
    pose = untrained.initial_pose(0)
    with pytest.raises(CheckpointError, match="no bank"):
        banked.compose(music, seed=0, init_pose=pose, warp=False)
    label = int(np.argmax(untrained.compose(music, seed=0, warp=False).style_probs))
    z = torch.randn(4, cfg.z_dance, generator=torch.Generator().manual_seed(0))
    composer.remember(z, torch.tensor([label, label, (label + 1) % 3, (label + 1) % 3]))
    a = banked.compose(music, seed=0, init_pose=pose, warp=False).poses
    np.testing.assert_array_equal(
        a, banked.compose(music, seed=0, init_pose=pose, warp=False).poses
    )
    composer.bank_z[:2] = z[2:]  # the song's style now keeps the other style's latents
    b = banked.compose(music, seed=0, init_pose=pose, warp=False).poses
    composer.bank_z[:2] = z[:2]
    composer.bank_z[2:] = z[:2]  # the other style's latents do not matter
    c = banked.compose(music, seed=0, init_pose=pose, warp=False).poses
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_a_music_bank_can_also_draw_by_style_alone_with_the_same_models(untrained, music):
    """`drawing_by` gives the same run drawing latents another way; the original is unchanged."""
    import torch

    from d2mlib.models import Composer
    from d2mlib.models.bank import music_keys

    cfg = dataclasses.replace(
        untrained.composer.cfg, prior="bank", bank_size=4, bank_match="music", bank_topk=1
    )
    composer = Composer(cfg, untrained.dance_unit.cfg.z_movement, untrained.style.cfg.feature_dim)
    composer.load_state_dict(untrained.composer.state_dict(), strict=False)
    banked = copy.copy(untrained)
    banked.composer = composer.eval()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, cfg.z_dance, generator=g)
    composer.remember(z, torch.zeros(4, dtype=torch.long), torch.randn(4, 96, 28, generator=g))
    by_style = banked.drawing_by("style")
    assert by_style.composer.cfg.bank_match == "style" and banked.composer.cfg.bank_match == "music"
    assert by_style.composer.bank_z is composer.bank_z  # the same models and bank
    pose = untrained.initial_pose(0)
    keyed = banked.compose(music, seed=0, init_pose=pose, warp=False).poses
    drawn = by_style.compose(music, seed=0, init_pose=pose, warp=False).poses
    assert keyed.shape == drawn.shape and not np.allclose(keyed, drawn)
    windows = torch.randn(64, 96, 28, generator=g)
    labels = torch.zeros(64, dtype=torch.long)
    best = composer.bank_latents(labels, torch.Generator().manual_seed(1), windows)
    anyone = by_style.composer.bank_latents(labels, torch.Generator().manual_seed(1), windows)
    rows = [[int(torch.nonzero((z == b).all(1))[0]) for b in got] for got in (best, anyone)]
    assert len(set(rows[1])) == 4  # by style alone: any of the four
    assert rows[0] == [int(r) for r in (music_keys(windows) @ composer.bank_key.T).argmax(1)]
    with pytest.raises(ConfigError, match="bank_match"):
        banked.drawing_by("tempo")
    with pytest.raises(ConfigError, match="only a bank"):
        untrained.drawing_by("style")
    with pytest.raises(CheckpointError, match="no music keys"):
        by_style.composer = Composer(
            dataclasses.replace(cfg, bank_match="style"), cfg.z_dance, 28
        )  # a bank that never kept keys
        by_style.drawing_by("music")


def test_a_fitted_bank_composes_latents_no_training_dance_had_from_its_styles_gaussian(
    untrained, music
):
    """`drawing_by("fitted")` draws from a Gaussian fitted to the bank: new latents, of the
    right style's mean, the same for the same seed."""
    import torch

    from d2mlib.models import Composer

    cfg = dataclasses.replace(
        untrained.composer.cfg, prior="bank", bank_size=64, bank_match="music"
    )
    composer = Composer(cfg, untrained.dance_unit.cfg.z_movement, untrained.style.cfg.feature_dim)
    composer.load_state_dict(untrained.composer.state_dict(), strict=False)
    banked = copy.copy(untrained)
    banked.composer = composer.eval()
    g = torch.Generator().manual_seed(0)
    styles = torch.arange(64) % 2
    z = torch.randn(64, cfg.z_dance, generator=g) + 5.0 * styles[:, None]
    composer.remember(z, styles, torch.randn(64, 96, 28, generator=g))
    fitted = banked.drawing_by("fitted")
    windows = torch.randn(200, 96, 28, generator=g)
    for label in (0, 1):
        labels = torch.full((200,), label)
        drawn = fitted.composer.bank_latents(labels, torch.Generator().manual_seed(1), windows)
        assert drawn.shape == (200, cfg.z_dance)
        assert not any(bool((z == d).all(1).any()) for d in drawn)  # not the kept latents
        assert abs(float(drawn.mean()) - 5.0 * label) < 0.5
    pose = untrained.initial_pose(0)
    a = fitted.compose(music, seed=0, init_pose=pose, warp=False).poses
    np.testing.assert_array_equal(
        a, fitted.compose(music, seed=0, init_pose=pose, warp=False).poses
    )
    assert not np.allclose(a, banked.compose(music, seed=0, init_pose=pose, warp=False).poses)
    with pytest.raises(ConfigError, match="audio="):
        fitted.composer.bank_latents(torch.zeros(2, dtype=torch.long))


def test_composer_codes_measures_spread_and_error_against_the_real_codes(untrained, smoke_data):
    from d2mlib import data
    from d2mlib.studies.training import composer_codes

    table, rows = composer_codes(untrained, data.FeatureStore.open(smoke_data), batch=6)
    assert table.loc["real", "L1 to the real codes"] == 0.0
    assert table.loc["the mean code", "spread"] == pytest.approx(0.0, abs=1e-7)
    assert table.loc["real", "spread"] > 0
    mean_l1 = rows[rows["system"] == "the mean code"]["value"]
    assert len(mean_l1) == 6 and mean_l1.mean() == pytest.approx(
        table.loc["the mean code", "L1 to the real codes"]
    )


def test_rebuild_runs_a_real_dance_through_the_composer_autoencoder(untrained, music):
    real = untrained.compose(music, seed=3, warp=False).poses  # any dance of the music's length
    other = untrained.compose(music, seed=4, warp=False).poses
    a = untrained.rebuild(real, music.features)
    assert a.shape == real.shape and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, untrained.rebuild(real, music.features))
    assert np.abs(a - untrained.rebuild(other, music.features)).mean() > 1e-3  # untrained: small
    short = untrained.rebuild(real[:40], music.features)  # the shorter of dance and music
    assert short.shape == (40, 14, 2)


def test_rebuild_decodes_what_the_composer_rebuilds_from_the_true_codes(untrained, music):
    import torch

    real = untrained.compose(music, seed=3, warp=False).poses
    seen = {}

    def identity(codes, audio, n_units):  # the composer hands the true codes back
        seen["audio"] = audio
        return codes.mu.view(audio.shape[0], n_units, -1)

    composer = untrained.composer
    composer.rebuild = identity
    try:
        got = untrained.rebuild(real, music.features)
    finally:
        del composer.rebuild
    n = len(real)
    assert seen["audio"].shape == (2, 3 * 32, 28)  # 110 frames: 2 windows of 3 units
    np.testing.assert_allclose(seen["audio"].reshape(-1, 28)[:n].numpy(), music.features[:n])
    padded = np.concatenate([real, np.repeat(real[-1:], 6 * 32 - n, axis=0)])
    x = torch.from_numpy(untrained.pose_normaliser.normalise(padded).astype(np.float32))
    with torch.no_grad():
        codes = untrained.dance_unit.encode(x.view(6, 32, -1))[1].mu
    np.testing.assert_allclose(got, untrained._decode_units(codes, real[0], n), atol=1e-5)


def test_rebuild_refuses_bad_poses_and_missing_music(untrained, music):
    real = untrained.compose(music, seed=3, warp=False).poses.copy()
    with pytest.raises(DataError, match="empty"):
        untrained.rebuild(real, np.zeros((0, 28)), "empty")
    real[5, 3, 0] = np.nan
    with pytest.raises(DataError, match="clip 7"):
        untrained.rebuild(real, music.features, "clip 7")


def test_dance_latents_compare_their_spread_with_the_posterior_noise(untrained, smoke_data):
    import torch

    from d2mlib import data
    from d2mlib.studies.training import dance_latents

    store = data.FeatureStore.open(smoke_data)
    gen = copy.copy(untrained)
    gen.composer = copy.deepcopy(untrained.composer)
    head, z = gen.composer.dance_enc.head, gen.composer.cfg.z_dance
    with torch.no_grad():  # every posterior sd exactly 0.5
        head.weight[z:] = 0.0
        head.bias[z:] = float(np.log(0.25))
    got = dance_latents(gen, store, batch=6)
    assert got["posterior sd"] == pytest.approx(0.5, rel=1e-5)
    assert got["spread"] > 0 and got["ratio"] == pytest.approx(got["spread"] / 0.5)
    prior = gen.composer.style_enc.head
    with torch.no_grad():  # the prior draws N(0, 0.3^2) whatever the music and noise
        prior.weight.zero_()
        prior.bias[:z] = 0.0
        prior.bias[z:] = float(np.log(0.09))
    got = dance_latents(gen, store, batch=6)
    assert got["composed spread"] == pytest.approx(0.3, rel=0.2)  # 6 draws: 0.277 measured
    assert got["composed share"] == pytest.approx(got["composed spread"] / got["spread"])
    with torch.no_grad():  # the means no longer depend on the dance: no spread
        head.weight[:z] = 0.0
    assert dance_latents(gen, store, batch=6)["spread"] == pytest.approx(0.0, abs=1e-7)
