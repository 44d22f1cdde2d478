"""Metrics on inputs with known answers, and their refusal of malformed input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from d2mlib import metrics as M
from d2mlib.errors import MetricError

FPS = 15


def sinusoid_dances(n: int, frames: int = 64, seed: int = 0, fps: float = FPS) -> np.ndarray:
    """n dances (n, frames, 14, 2): a random base pose with random per-joint sinusoids."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    base = rng.uniform(60, 200, size=(n, 1, 14, 2))
    amp = rng.uniform(5, 30, size=(n, 1, 14, 2))
    freq = rng.uniform(0.5, 2.0, size=(n, 1, 14, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 14, 2))
    return base + amp * np.sin(2 * np.pi * freq * t[None, :, None, None] + phase)


def beat_dance(beat: float, seconds: float, shift: float = 0.0, fps: float = FPS) -> np.ndarray:
    """One dance whose joints swing with zero speed on the beats k * beat + shift."""
    t = np.arange(int(round(seconds * fps))) / fps
    rng = np.random.default_rng(1)
    base = rng.uniform(60, 200, size=(14, 2))
    swing = 40 * np.cos(np.pi * (t - shift) / beat)
    poses = np.repeat(base[None], t.size, axis=0)
    poses[..., 0] += swing[:, None]
    poses[..., 1] += 0.5 * swing[:, None]
    return poses


# --------------------------------------------------------------------------- Frechet / FID


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians() -> None:
    mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
    s1, s2 = np.array([1.0, 4.0]), np.array([9.0, 1.0])  # variances
    expected = 9 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2
    got = M.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), eps=0.0)
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_agrees_with_the_matrix_square_root_formula() -> None:
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + np.eye(6), b @ b.T + 0.5 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert M.frechet_distance(mu1, s1, mu2, s2, eps=0.0) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_stays_finite_for_singular_covariances() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 20))  # 5 samples in 20 dimensions: rank-deficient covariance
    b = rng.normal(size=(5, 20)) + 0.5
    value = M.fid_from_features(a, b)
    assert np.isfinite(value) and value > 0


def test_fid_of_a_set_against_itself_is_zero() -> None:
    dances = sinusoid_dances(40)
    assert M.fid_k(dances, dances) == pytest.approx(0.0, abs=1e-6)
    assert M.fid_g(dances, dances) == pytest.approx(0.0, abs=1e-6)
    feats = np.random.default_rng(0).normal(size=(50, 8))
    assert M.fid_from_features(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_fid_grows_monotonically_as_noise_is_added_to_the_poses() -> None:
    dances = sinusoid_dances(40)
    rng = np.random.default_rng(5)
    noise = rng.normal(size=dances.shape)
    levels = [0.0, 1.0, 2.0, 4.0, 8.0]
    fk = [M.fid_k(dances, dances + s * noise) for s in levels]
    fg = [M.fid_g(dances, dances + s * noise) for s in levels]
    assert fk[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b > a for a, b in zip(fk, fk[1:], strict=False)), fk
    assert all(b > a for a, b in zip(fg, fg[1:], strict=False)), fg


def test_fid_k_of_another_real_split_is_far_below_shuffled_frames() -> None:
    real, other = sinusoid_dances(40, seed=0), sinusoid_dances(40, seed=1)
    rng = np.random.default_rng(2)
    shuffled = np.stack([d[rng.permutation(d.shape[0])] for d in other])
    same_world = M.fid_k(real, other)
    broken = M.fid_k(real, shuffled)
    assert broken > 10 * same_world, (same_world, broken)


def test_kinetic_features_mean_the_same_at_any_frame_rate() -> None:
    # the same smooth motion sampled at 15 and at 60 fps: velocities and accelerations are
    # per second, so the energies agree (dividing only one term by the frame time would not)
    lo = sinusoid_dances(1, frames=15 * 4, fps=15)[0]
    hi = sinusoid_dances(1, frames=60 * 4, fps=60)[0]
    k_lo, k_hi = M.kinetic_features(lo, fps=15), M.kinetic_features(hi, fps=60)
    assert k_lo.shape == (42,)
    np.testing.assert_allclose(k_lo[:28], k_hi[:28], rtol=0.1)
    np.testing.assert_allclose(k_lo[28:], k_hi[28:], rtol=0.25)


def test_geometric_features_ignore_body_scale_and_position() -> None:
    dance = sinusoid_dances(1)[0]
    moved = 1.7 * dance + np.array([30.0, -12.0])
    np.testing.assert_allclose(M.geometric_features(dance), M.geometric_features(moved), atol=1e-5)


# --------------------------------------------------------------------------- diversity family


def test_diversity_of_identical_dances_is_zero() -> None:
    feats = np.tile(np.arange(6.0), (10, 1))
    assert M.diversity(feats) == 0.0
    dances = np.repeat(sinusoid_dances(1), 8, axis=0)
    assert M.feature_diversity(sinusoid_dances(20), dances, "k") == pytest.approx(0.0, abs=1e-9)


def test_diversity_matches_a_hand_computed_pair() -> None:
    assert M.diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


def test_multimodality_grows_with_the_generators_noise() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 1, 16))
    values = [
        M.multimodality(centres + s * rng.normal(size=(6, 5, 16))) for s in (0.0, 0.1, 0.5, 1.0)
    ]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values


def test_style_consistency_counts_matching_styles() -> None:
    assert M.style_consistency(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


# --------------------------------------------------------------------------- beats


def test_on_beat_dance_scores_higher_than_the_same_dance_shifted_half_a_beat() -> None:
    beat, seconds = 0.5, 8.0
    music = np.arange(0.0, seconds, beat)
    on = M.beat_metrics([beat_dance(beat, seconds)], [music])
    off = M.beat_metrics([beat_dance(beat, seconds, shift=beat / 2)], [music])
    assert on["beat_hit_rate"] == 1.0 and off["beat_hit_rate"] == 0.0
    assert on["bas_kinematic"] > 0.95 > 0.2 > off["bas_kinematic"]
    assert on["bas_music"] > 0.9 > 0.2 > off["bas_music"]
    assert on["beat_coverage"] == pytest.approx((music.size - 1) / music.size)


def test_kinematic_beats_land_on_the_beat_to_sub_frame_precision() -> None:
    kin = M.kinematic_beat_times(beat_dance(0.5, 6.0))
    np.testing.assert_allclose(kin, np.arange(0.5, 6.0 - 1e-9, 0.5), atol=0.01)


def test_frozen_dance_has_no_kinematic_beats_and_scores_zero() -> None:
    frozen = np.repeat(sinusoid_dances(1)[0][:1], 60, axis=0)
    music = np.arange(0.0, 4.0, 0.5)
    assert M.kinematic_beat_times(frozen).size == 0
    scores = M.beat_metrics([frozen], [music])
    assert scores["beat_coverage"] == 0.0
    assert scores["beat_hit_rate"] == 0.0
    assert scores["bas_kinematic"] == 0.0 and scores["bas_music"] == 0.0


def test_music_without_beats_gives_nan_coverage_not_an_error() -> None:
    dance = beat_dance(0.5, 4.0)
    scores = M.beat_metrics([dance], [np.zeros(0)])
    assert np.isnan(scores["beat_coverage"]) and np.isnan(scores["bas_music"])
    assert scores["beat_hit_rate"] == 0.0


def test_beat_align_score_uses_sigma_in_seconds() -> None:
    kin, music = np.array([1.1]), np.array([1.0])
    assert M.beat_align_score(kin, music, sigma=0.1) == pytest.approx(np.exp(-0.5))
    assert M.beat_align_score(music, kin, sigma=0.1, direction="music") == pytest.approx(
        np.exp(-0.5)
    )


def test_beat_align_directions_differ_when_the_dance_misses_beats() -> None:
    kin, music = np.array([1.0]), np.array([1.0, 2.0, 3.0])
    assert M.beat_align_score(kin, music, direction="kinematic") == pytest.approx(1.0)
    assert M.beat_align_score(kin, music, direction="music") < 0.5


# --------------------------------------------------------------------------- confidence


def test_mean_and_spread_and_bootstrap_interval() -> None:
    mean, spread = M.mean_and_spread([1.0, 2.0, 3.0])
    assert mean == 2.0 and spread == pytest.approx(1.0)
    assert M.mean_and_spread([4.0]) == (4.0, 0.0)
    values = np.random.default_rng(0).normal(10.0, 1.0, size=200)
    low, high = M.bootstrap_ci(values, seed=0)
    assert low < values.mean() < high and high - low < 1.0


def test_bootstrap_resamples_a_set_metric_over_its_items() -> None:
    feats = np.random.default_rng(1).normal(size=(40, 4))
    values = M.bootstrap(lambda idx: M.fid_from_features(feats, feats[idx]), 40, 30, seed=0)
    again = M.bootstrap(lambda idx: M.fid_from_features(feats, feats[idx]), 40, 30, seed=0)
    assert values.shape == (30,) and np.all(values > 0)
    np.testing.assert_array_equal(values, again)  # a seed fixes the resamples
    mean, spread = M.mean_and_spread(values)
    assert spread > 0 and mean > 0


# --------------------------------------------------------------------------- malformed input

GOOD = sinusoid_dances(4)
NAN = GOOD.copy()
NAN[1, 3, 2, 0] = np.nan
EMPTY = np.zeros((0, 32, 14, 2))


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda: M.fid_k(EMPTY, GOOD), "empty"),
        (lambda: M.fid_k(GOOD, NAN), "NaN"),
        (lambda: M.fid_g(NAN, GOOD), "NaN"),
        (lambda: M.fid_g([], GOOD), "empty"),
        (lambda: M.fid_from_features(np.zeros((0, 3)), np.zeros((4, 3))), "empty"),
        (lambda: M.fid_from_features(np.ones((4, 3)), np.ones((4, 5))), "mismatched"),
        (lambda: M.fid_from_features(np.full((4, 3), np.nan), np.ones((4, 3))), "NaN"),
        (lambda: M.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "mismatched"),
        (lambda: M.diversity(np.zeros((0, 4))), "empty"),
        (lambda: M.diversity(np.array([[np.nan, 1.0], [0.0, 1.0]])), "NaN"),
        (lambda: M.feature_diversity(GOOD, NAN, "k"), "NaN"),
        (lambda: M.multimodality([]), "empty"),
        (lambda: M.multimodality([np.ones((3, 4)), np.ones((3, 5))]), "mismatched"),
        (lambda: M.style_consistency(np.array([], dtype=int), np.array([], dtype=int)), "empty"),
        (lambda: M.style_consistency(np.array([0, 1]), np.array([0, 1, 2])), "mismatched"),
        (lambda: M.style_consistency(np.array([0.0, np.nan]), np.array([0, 1])), "finite"),
        (lambda: M.beat_metrics(EMPTY, []), "empty"),
        (lambda: M.beat_metrics(GOOD, [np.zeros(2)] * 3), "mismatched"),
        (lambda: M.beat_metrics(NAN, [np.zeros(2)] * 4), "NaN"),
        (lambda: M.beat_metrics(GOOD, [np.array([np.nan])] * 4), "NaN"),
        (lambda: M.kinematic_beat_times(NAN[1]), "NaN"),
        (lambda: M.kinetic_features(GOOD[0, :2]), "at least 3 frames"),
        (lambda: M.beat_align_score(np.ones(2), np.ones(2), direction="sideways"), "direction"),
        (lambda: M.mean_and_spread([]), "empty"),
        (lambda: M.mean_and_spread([1.0, np.nan]), "NaN"),
        (lambda: M.bootstrap_ci([]), "empty"),
    ],
)
def test_every_metric_rejects_malformed_input_with_metric_error(call, problem: str) -> None:
    with pytest.raises(MetricError, match=problem):
        call()


# --------------------------------------------------------------------------- classifier, evaluate

STYLE_FREQ = (0.6, 1.5, 3.0)  # Hz: three "styles" told apart by tempo of movement


def styled_dances(styles: np.ndarray, frames: int, seed: int) -> np.ndarray:
    """Sinusoid dances whose movement frequency depends on the style index."""
    rng = np.random.default_rng(seed)
    n = len(styles)
    t = np.arange(frames) / FPS
    freq = np.asarray(STYLE_FREQ)[styles][:, None, None, None] * rng.uniform(
        0.9, 1.1, (n, 1, 14, 2)
    )
    base = rng.uniform(60, 200, size=(n, 1, 14, 2))
    amp = rng.uniform(10, 25, size=(n, 1, 14, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 14, 2))
    return base + amp * np.sin(2 * np.pi * freq * t[None, :, None, None] + phase)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Train on one thread: on the shared 2-core machine two threads run several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = M.DanceClassifierConfig(channels=32, embed_dim=16, steps=150, batch_size=32, lr=1e-3)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> M.DanceClassifier:
    """A small classifier trained on the three sinusoid styles (a few seconds)."""
    tr_y = np.arange(192) % 3
    va_y = np.arange(48) % 3
    train = (styled_dances(tr_y, 64, seed=10), tr_y)
    val = (styled_dances(va_y, 64, seed=11), va_y)
    model, _ = M.train_dance_classifier(train, val, tmp_path_factory.mktemp("runs"), TINY)
    return model


def test_dance_classifier_learns_the_styles_and_separates_its_embedding(tiny_classifier) -> None:
    styles = np.arange(60) % 3
    out = M.embed_dances(tiny_classifier, styled_dances(styles, 64, seed=12))
    assert out.features.shape == (60, TINY.embed_dim)
    assert M.style_consistency(out.predicted, styles) > 0.9
    swapped = (styles + 1) % 3  # each dance paired with another style's music
    assert M.style_consistency(out.predicted, swapped) < 0.1


def test_classifier_fid_is_far_below_for_another_real_split_than_for_shuffled_frames(
    tiny_classifier,
) -> None:
    styles = np.arange(60) % 3
    real = M.embed_dances(tiny_classifier, styled_dances(styles, 64, seed=13)).features
    other_dances = styled_dances(styles, 64, seed=14)
    other = M.embed_dances(tiny_classifier, other_dances).features
    rng = np.random.default_rng(0)
    shuffled = M.embed_dances(
        tiny_classifier, np.stack([d[rng.permutation(64)] for d in other_dances])
    ).features
    assert M.fid_from_features(real, shuffled) > 5 * M.fid_from_features(real, other)


def test_classifier_fid_is_zero_for_the_same_set_and_grows_with_pose_noise(tiny_classifier) -> None:
    real = styled_dances(np.arange(60) % 3, 64, seed=13)
    noise = np.random.default_rng(5).normal(size=real.shape)
    ref = M.embed_dances(tiny_classifier, real).features
    fids = [
        M.fid_from_features(ref, M.embed_dances(tiny_classifier, real + s * noise).features)
        for s in (0.0, 1.0, 2.0, 4.0, 8.0)
    ]
    assert fids[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b > a for a, b in zip(fids, fids[1:], strict=False)), fids


def test_dance_classifier_run_is_cached_and_reloaded(tmp_path) -> None:
    y = np.arange(64) % 3
    data = (styled_dances(y, 32, seed=1), y)
    cfg = M.DanceClassifierConfig(channels=8, embed_dim=8, steps=4, batch_size=32)
    first, run = M.train_dance_classifier(data, data, tmp_path, cfg)
    again, run2 = M.train_dance_classifier(data, data, tmp_path, cfg)
    assert run == run2 and (run / "done").is_file() and (run / "metrics.csv").is_file()
    x = torch.from_numpy(data[0][:4].astype(np.float32))
    torch.testing.assert_close(first(x)[1], again(x)[1])


def fake_eval_data(n: int = 12, frames: int = 64) -> M.EvalData:
    """A tiny EvalData: sinusoid dances by style, style-coloured audio, beats every 0.5 s."""
    styles = np.arange(n) % 3
    rng = np.random.default_rng(3)
    audio = [np.full((frames, 28), float(s)) + 0.1 * rng.normal(size=(frames, 28)) for s in styles]
    train_styles = np.arange(24) % 3
    train = list(styled_dances(train_styles, frames, seed=21))
    return M.EvalData(
        styles=styles,
        dances=list(styled_dances(styles, frames, seed=20)),
        audio=audio,
        music_beats=[np.arange(0, frames / FPS, 0.5) for _ in range(n)],
        wav_paths=[None] * n,
        reference=list(styled_dances(np.arange(30) % 3, frames, seed=22)),
        train_dances=train,
        train_audio=[np.full((frames, 28), float(s)) for s in train_styles],
        train_units=styled_dances(np.arange(30) % 3, 32, seed=23),
        audio_mean=np.zeros(28),
        audio_std=np.ones(28),
        train_styles=train_styles,
    )


def loudness_song(phase: int, frames: int) -> np.ndarray:
    """Audio features (frames, 28) whose log energy (and so its change) pulses every 8 frames,
    starting at `phase`: the only thing that tells two songs apart for `music_keys`."""
    feats = np.zeros((frames, 28), np.float32)
    feats[:, 13] = ((np.arange(frames) - phase) % 8 == 0).astype(np.float32)
    feats[:-1, 27] = np.diff(feats[:, 13])
    return feats


def test_keyed_retrieval_draws_training_windows_whose_loudness_curve_matches() -> None:
    frames = 96  # one window per training dance
    data = fake_eval_data(n=4, frames=frames)
    data.train_audio = [loudness_song(k % 8, frames) for k in range(len(data.train_dances))]
    data.audio = [loudness_song(p, frames) for p in (0, 3, 5, 0)]
    exact = M.KeyedRetrieval(data, topk=1)
    assert exact.windows.shape == (24, frames, 14, 2)
    same_phase = {p: [data.train_dances[k] for k in range(p, 24, 8)] for p in (0, 3, 5)}
    got = exact(0, 0, [0, 1, 2])
    for dance, phase in zip(got, (0, 3, 5), strict=True):  # a window of the same phase
        assert any(np.allclose(dance, w) for w in same_phase[phase])
    assert np.array_equal(exact(5, 2, [3])[0], got[0])  # one best match: whatever the seed
    wide = M.KeyedRetrieval(data, topk=3)  # phase 3 is matched by windows 3, 11 and 19

    def which(dance: np.ndarray) -> int:
        return next(k for k, w in enumerate(data.train_dances) if np.allclose(dance, w))

    assert {which(wide(seed, 0, [1])[0]) for seed in range(40)} == {3, 11, 19}
    assert all(np.array_equal(a, b) for a, b in zip(wide(7, 1, [1]), wide(7, 1, [1]), strict=True))
    data.train_dances = [d[:40] for d in data.train_dances]
    with pytest.raises(MetricError, match="96 frames"):
        M.KeyedRetrieval(data)


def test_keyed_retrieval_by_style_and_from_a_pool_draws_like_the_bank() -> None:
    frames = 96
    data = fake_eval_data(n=4, frames=frames)  # pieces of styles 0, 1, 2, 0; windows k of k % 3
    data.train_audio = [loudness_song(k % 8, frames) for k in range(len(data.train_dances))]
    data.audio = [loudness_song(p, frames) for p in (0, 3, 5, 0)]

    def which(dance: np.ndarray) -> int:
        return next(k for k, w in enumerate(data.train_dances) if np.allclose(dance, w))

    styled = M.KeyedRetrieval(data, topk=1, by_style=True)
    # of the same-phase windows (0, 8, 16), (3, 11, 19), (5, 13, 21), the one of the piece's style
    assert [which(d) for d in styled(0, 0, [0, 1, 2])] == [0, 19, 5]
    wide = M.KeyedRetrieval(data, topk=8, by_style=True)
    drawn = {which(wide(seed, 0, [1])[0]) for seed in range(30)}
    assert drawn <= {k for k in range(24) if k % 3 == 1} and 19 in drawn and len(drawn) == 8
    pooled = M.KeyedRetrieval(data, topk=3, pool=10, pool_seed=4)
    assert pooled.windows.shape[0] == 10 and pooled.topk == 3
    kept = {which(w) for w in pooled.windows}
    assert kept == {which(w) for w in M.KeyedRetrieval(data, pool=10, pool_seed=4).windows}
    assert kept != {which(w) for w in M.KeyedRetrieval(data, pool=10, pool_seed=5).windows}
    assert all(which(pooled(s, 0, [1])[0]) in kept for s in range(10))
    assert M.KeyedRetrieval(data, pool=100).windows.shape[0] == 24  # a pool beyond the windows
    data.train_styles = np.zeros(24, dtype=np.int64)  # no window of style 1: any style
    assert which(M.KeyedRetrieval(data, topk=1, by_style=True)(0, 0, [1])[0]) in {3, 11, 19}
    with pytest.raises(MetricError, match="pool must be >= 1"):
        M.KeyedRetrieval(data, pool=0)
    data.train_styles = None
    with pytest.raises(MetricError, match="no training styles"):
        M.KeyedRetrieval(data, by_style=True)


def test_evaluate_systems_returns_a_tidy_table_with_floors_and_ceiling(tiny_classifier) -> None:
    data = fake_eval_data()
    cfg = M.EvalConfig(samples_per_music=3, multimodality_clips=4)

    def noisy_copies(seed: int, sample: int, clips: list[int]) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, sample])
        return [data.dances[i] + rng.normal(scale=2.0, size=data.dances[i].shape) for i in clips]

    table = M.evaluate_systems(data, tiny_classifier, {"full": noisy_copies}, seeds=2, config=cfg)
    assert list(table.columns) == ["system", "metric", "seed", "clip", "value"]
    assert set(table["system"]) == {"dataset", "full", "retrieval", "random_units"}
    assert sorted(table.loc[table.system == "full", "seed"].unique()) == [0, 1]
    per_run = table[table["clip"].isna()].set_index(["system", "seed", "metric"])["value"]
    assert per_run["retrieval", 0, "multimodality"] == 0.0
    assert per_run["random_units", 0, "multimodality"] > per_run["full", 0, "multimodality"] > 0
    assert per_run["random_units", 0, "fid_k"] > per_run["dataset", 0, "fid_k"]
    assert "multimodality" not in set(table.loc[table.system == "dataset", "metric"])
    # per-clip metrics: one row per evaluated clip, per-run metrics: one row with no clip
    hits = table[(table.system == "full") & (table.metric == "beat_hit_rate") & (table.seed == 0)]
    assert sorted(hits["clip"]) == list(range(len(data.dances)))
    assert table.loc[table.metric == "fid", "clip"].isna().all()
    summary = M.summarise(table)
    row = summary[(summary.system == "full") & (summary.metric == "fid")].iloc[0]
    assert row["n"] == 2 and row["spread"] >= 0 and row["n_clips"] == 0
    style = summary[(summary.system == "dataset") & (summary.metric == "style_consistency")]
    assert style["mean"].iloc[0] >= 0.8 and style["n_clips"].iloc[0] == len(data.dances)


def test_retrieval_returns_the_dance_of_the_closest_music() -> None:
    data = fake_eval_data()
    out = M.retrieval_baseline(data)
    for dance, style in zip(out, data.styles, strict=True):
        matches = [i for i, t in enumerate(data.train_dances) if np.allclose(dance, t)]
        assert matches and all(np.arange(24)[i] % 3 == style for i in matches)


def test_chain_units_continues_where_the_previous_unit_ended() -> None:
    a, b = sinusoid_dances(2, frames=32, seed=4)
    chained = M.chain_units([a, b])
    assert chained.shape == (64, 14, 2)
    np.testing.assert_allclose(chained[32].mean(axis=0), a[-1].mean(axis=0), atol=1e-4)


def test_write_table_writes_csv_atomically(tmp_path) -> None:
    table = pd.DataFrame(
        [{"system": "dataset", "metric": "fid", "seed": 0, "clip": 3, "value": 1.5}]
    )
    path = M.write_table(table, tmp_path / "sub" / "table.csv")
    assert pd.read_csv(path).equals(table)
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]


def test_evaluate_rejects_a_system_that_returns_the_wrong_number_of_dances(
    tiny_classifier,
) -> None:
    data = fake_eval_data(n=6)
    cfg = M.EvalConfig(samples_per_music=2, multimodality_clips=2)

    def short(seed: int, sample: int, clips: list[int]) -> list[np.ndarray]:
        return [data.dances[i] for i in clips][:-1]

    with pytest.raises(MetricError, match="mismatched"):
        M.evaluate_systems(data, tiny_classifier, {"full": short}, seeds=1, config=cfg)


# --------------------------------------------------------------------------- synthetic world


@pytest.mark.parametrize("style", ["ballet", "zumba", "hiphop"])
def test_synthetic_dance_on_the_beat_beats_itself_shifted_by_half_a_beat(style: str) -> None:
    from d2mlib import synth

    clip = synth.style_clip(style, seed=3, seconds=8.0)
    half = int(round(30.0 / clip.tempo * FPS))  # half a beat, in frames
    on = M.beat_metrics([clip.poses], [clip.beat_times])
    off = M.beat_metrics([clip.poses[half:]], [clip.beat_times])  # the dance half a beat early
    assert on["beat_hit_rate"] > 0.8 > off["beat_hit_rate"] + 0.3
    assert on["bas_kinematic"] > off["bas_kinematic"] + 0.3
    assert on["bas_music"] > off["bas_music"] + 0.3


def test_synthetic_fid_k_is_low_between_real_sets_and_high_for_shuffled_frames() -> None:
    from d2mlib import synth

    def clips(seeds: range) -> list[np.ndarray]:
        return [synth.style_clip(s, i, seconds=4.0).poses for i in seeds for s in synth.STYLES]

    real, other = clips(range(0, 8)), clips(range(8, 16))
    rng = np.random.default_rng(0)
    shuffled = [d[rng.permutation(len(d))] for d in other]
    assert M.fid_k(real, real) == pytest.approx(0.0, abs=1e-6)
    assert M.fid_k(real, shuffled) > 10 * M.fid_k(real, other)


@pytest.mark.slow
def test_evaluate_command_scores_trained_runs_and_baselines_on_the_smoke_dataset(
    smoke_data, tmp_path
) -> None:
    from d2mlib import config, train

    runs = tmp_path / "runs"
    cfg = config.preset("smoke")
    for c in (cfg, config.ablation(cfg, "no_style_regressor"), config.bank_recipe(cfg)):
        train.train_stage("comp", c, smoke_data, runs, progress=False)
    assert set(M.find_systems(runs, smoke_data)) == {"full", "no_style_regressor", "bank"}
    out = tmp_path / "table.csv"
    argv = ["--run", str(runs), "--data", str(smoke_data), "--out", str(out), "--quiet"]
    argv += ["--seeds", "2", "--max-clips", "6", "--music-beats", "meta"]
    assert M.main(argv) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["system", "metric", "seed", "clip", "value"]
    systems = {"dataset", "unit_recon", "comp_recon", "full", "full_warped", "retrieval"}
    systems |= {"random_units"}
    systems |= {"no_style_regressor", "retrieval_warped", "random_units_warped"}
    systems |= {
        "bank",
        "bank_recon",
        "keyed_retrieval",
        "keyed_bank_pool",
        "bank_fitted",
    }  # the bank recipe matches music
    assert set(table["system"]) == systems
    assert set(table["metric"]) == set(M.METRIC_NAMES)
    assert table["value"].notna().all()
    assert sorted(table.loc[table.system == "full", "seed"].unique()) == [0, 1]
    assert any(runs.glob("dance-*/done"))
    # "full" is the model's own output: warping changes its dances, so its beat scores move
    hits = table[table.metric == "bas_kinematic"].groupby("system")["value"].mean()
    assert hits["full"] != hits["full_warped"]


def test_fid_against_scores_each_set_like_the_evaluation(tiny_classifier) -> None:
    from d2mlib.studies.training import fid_against

    styles = np.arange(60) % 3
    ref = list(styled_dances(styles, 64, seed=30))
    other = list(styled_dances(styles, 64, seed=31))
    damped = [d.mean(axis=0) + 0.2 * (d - d.mean(axis=0)) for d in other]
    fid = fid_against(tiny_classifier, ref, {"same": ref, "other": other, "damped": damped})
    assert list(fid.index) == ["same", "other", "damped"]
    assert fid["same"] == pytest.approx(0.0, abs=1e-3)
    assert fid["damped"] > 3 * fid["other"] > 0
    data = fake_eval_data()
    scored = M.score_fixed("other", other[: len(data.dances)], data, tiny_classifier)
    wanted = fid_against(tiny_classifier, data.reference, {"x": other[: len(data.dances)]})["x"]
    assert scored.set_index("metric").loc["fid", "value"] == pytest.approx(wanted)
