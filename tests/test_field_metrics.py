"""The field's metric variants against hand-computed values, and their properties."""

from __future__ import annotations

import numpy as np
import pytest

from d2mlib.errors import MetricError
from d2mlib.metrics import field_beats as B
from d2mlib.metrics import field_features as F
from d2mlib.metrics import field_fid as FF


def one_joint(xs: np.ndarray, ys: np.ndarray | None = None, joint: int = 3) -> np.ndarray:
    """A dance (T, 14, 2) where only `joint` moves (x = xs, y = ys), the rest stand at 0."""
    poses = np.zeros((len(xs), 14, 2))
    poses[:, joint, 0] = xs
    if ys is not None:
        poses[:, joint, 1] = ys
    return poses


def loop_kinetic(p: np.ndarray, fps: float, w: int, bug: bool) -> np.ndarray:
    """The AIST++ kinetic features written as literal loops over i and the window j."""
    t, dt = p.shape[0], 1.0 / fps
    out = []
    for jt in range(p.shape[1]):
        h = v = e = 0.0
        for i in range(1, t):
            vel, n = np.zeros(2), 0
            for j in range(-w, w + 1):
                if i + j - 1 >= 0 and i + j < t:
                    vel += p[i + j, jt] - p[i + j - 1, jt]
                    n += 1
            vel /= n * dt
            h, v = h + vel[0] ** 2, v + vel[1] ** 2
            acc, n = np.zeros(2), 0
            for j in range(-w, w + 1):
                if i + j - 1 >= 0 and i + j + 1 < t:
                    v2 = (p[i + j + 1, jt] - p[i + j, jt]) / dt
                    if bug:
                        v1 = p[i + j, jt] - p[i + j - 1, jt] / dt
                    else:
                        v1 = (p[i + j, jt] - p[i + j - 1, jt]) / dt
                    acc += (v2 - v1) / dt
                    n += 1
            e += np.linalg.norm(acc / n)
        out += [h / (t - 1), v / (t - 1), e / (t - 1)]
    return np.array(out)


# ---------------------------------------------------------------------------- kinetic


def test_kinetic_aist_constant_velocity_is_velocity_squared_with_no_half_and_no_acceleration() -> (
    None
):
    feats = F.kinetic_features_aist(one_joint(2.0 * np.arange(6)), fps=15).reshape(14, 3)
    assert feats[3] == pytest.approx([900.0, 0.0, 0.0])  # (2 px * 15 fps)^2, not half of it
    assert np.all(feats[np.arange(14) != 3] == 0.0)


def test_kinetic_aist_window_and_mean_absolute_acceleration_match_hand_values() -> None:
    # x = 0, 1, 3, 6, 10: displacements 1, 2, 3, 4, second differences all 1 px/frame^2
    feats = F.kinetic_features_aist(one_joint(np.array([0, 1, 3, 6, 10.0])), fps=15)
    h, v, e = feats.reshape(14, 3)[3]
    # windowed velocities (frames): mean(1,2,3)=2, mean(1..4)=2.5, 2.5, mean(2,3,4)=3
    assert h == pytest.approx(225 * np.mean([4, 6.25, 6.25, 9]))
    assert v == 0.0
    assert e == pytest.approx(225.0)  # |a| = 1 px/frame^2 = 225 px/s^2, not squared


def test_kinetic_aist_upstream_bug_turns_position_into_acceleration() -> None:
    still = one_joint(np.full(5, 3.0), np.full(5, 4.0), joint=0)  # |p| = 5 px, not moving
    assert F.kinetic_features_aist(still, fps=15)[2] == 0.0
    assert F.kinetic_features_aist(still, fps=15, upstream_bug=True)[2] == pytest.approx(
        15 * 14 * 5
    )
    assert F.kinetic_features_aist(still, fps=60, upstream_bug=True)[2] == pytest.approx(
        60 * 59 * 5
    )


def test_kinetic_aist_translation_changes_only_the_buggy_variant() -> None:
    rng = np.random.default_rng(0)
    dance = rng.normal(100, 10, size=(20, 14, 2))
    moved = dance + 50.0
    np.testing.assert_allclose(
        F.kinetic_features_aist(dance), F.kinetic_features_aist(moved), rtol=1e-5
    )
    buggy, buggy_moved = (F.kinetic_features_aist(d, upstream_bug=True) for d in (dance, moved))
    assert not np.allclose(buggy[2::3], buggy_moved[2::3], rtol=1e-3)
    np.testing.assert_allclose(buggy[0::3], buggy_moved[0::3], rtol=1e-5)  # velocities intact


@pytest.mark.parametrize("bug", [False, True])
@pytest.mark.parametrize("window", [1, 2, 3])
def test_kinetic_aist_matches_the_literal_loop_definition(bug: bool, window: int) -> None:
    rng = np.random.default_rng(window)
    dance = rng.uniform(0, 200, size=(9, 14, 2)).astype(np.float32).astype(np.float64)
    got = F.kinetic_features_aist(dance, fps=15, window=window, upstream_bug=bug)
    np.testing.assert_allclose(got, loop_kinetic(dance, 15, window, bug), rtol=1e-10)


def test_kinetic_aist_rejects_short_or_bad_input() -> None:
    with pytest.raises(MetricError, match="at least 3 frames"):
        F.kinetic_features_aist(np.zeros((2, 14, 2)))
    with pytest.raises(MetricError, match="window"):
        F.kinetic_features_aist(np.zeros((5, 14, 2)), window=0)
    with pytest.raises(MetricError, match="fps"):
        F.kinetic_features_aist(np.zeros((5, 14, 2)), fps=0)


# ---------------------------------------------------------------------------- geometric


def standing(frames: int = 10) -> np.ndarray:
    """An upright figure (image y down) with arms and legs straight down; upper arm 20 px."""
    pose = np.zeros((14, 2))
    for name, (x, y) in {
        "nose": (100, 40), "neck": (100, 60), "r_shoulder": (85, 60), "l_shoulder": (115, 60),
        "r_elbow": (85, 80), "l_elbow": (115, 80), "r_wrist": (85, 100), "l_wrist": (115, 100),
        "r_hip": (92, 120), "l_hip": (108, 120), "r_knee": (92, 150), "l_knee": (108, 150),
        "r_ankle": (92, 180), "l_ankle": (108, 180),
    }.items():  # fmt: skip
        pose[F._J[name]] = (x, y)
    return np.repeat(pose[None], frames, axis=0)


def feature(values: np.ndarray, number: int) -> float:
    """The value of upstream feature `number` in a geometric feature vector."""
    return float(values[[f[0] for f in F.GEOM_FEATURES].index(number)])


def test_body_scale_uses_the_upper_arm_and_template_ratios() -> None:
    scale = F.body_scale(standing())
    assert scale["hl"] == pytest.approx(20.0)
    assert scale["sw"] == pytest.approx(20.0 * F.SW_OVER_HL)
    assert abs(F.SW_OVER_HL - 1.522) < 1e-3


def test_geometric_standing_still_has_no_motion_bent_joints_or_lying_torso() -> None:
    values = F.geometric_features_muller(standing())
    assert values.shape == (27,)
    for number in (5, 6, 7, 8, 10, 11, 12, 13, 14, 20, 21, 22, 23, 29, 32):
        assert feature(values, number) == 0.0, number
    assert feature(values, 3) == 0.0  # hands below the neck


def test_geometric_hand_above_head_and_lying_down_switch_their_features_on() -> None:
    dance = standing()
    dance[:, F._J["r_wrist"]] = (85, 20)  # right hand 40 px above the neck
    assert feature(F.geometric_features_muller(dance), 3) == 1.0
    lying = standing()[..., ::-1].copy()  # swap x and y: the body lies horizontally
    assert feature(F.geometric_features_muller(lying), 29) == 1.0


def test_geometric_speed_threshold_and_the_api_doubling() -> None:
    dance = standing(12)
    dance[:, F._J["r_wrist"], 0] += 3.0 * np.arange(12)  # 45 px/s at 15 fps; 2.5 hl = 50 px/s
    assert feature(F.geometric_features_muller(dance), 13) == 0.0
    assert feature(F.geometric_features_muller(dance, upstream="api"), 13) == 1.0


def test_geometric_fact_variant_sees_only_the_first_frames() -> None:
    dance = standing(61)  # range(1, 61, 30) has 2 steps: frames 1 and 2 only
    dance[10:, F._J["r_wrist"], 0] += 10.0 * np.arange(51)  # fast from frame 10 on
    assert feature(F.geometric_features_muller(dance), 13) == pytest.approx(50 / 60)
    assert feature(F.geometric_features_fact(dance), 13) == 0.0


def test_geometric_rejects_unknown_variant() -> None:
    with pytest.raises(MetricError, match="upstream variant"):
        F.geometric_features_muller(standing(), upstream="paper")


def test_variants_registry_names_every_variant_with_its_source() -> None:
    table = F.variants_table()
    assert list(table.columns) == ["name", "function", "source", "differs"]
    assert table["name"].is_unique
    assert {"kinetic_aist", "geometric_fact", "bas_fact", "bas_bailando", "fid_infinity"} <= set(
        table["name"]
    )
    assert (table["source"].str.len() > 10).all()


# ---------------------------------------------------------------------------- beats


def swing(zeros: np.ndarray, fps: float, seconds: float, amp: float = 30.0) -> np.ndarray:
    """A dance whose joints all swing in x with zero velocity exactly at the times `zeros`."""
    t = np.arange(int(round(seconds * fps))) / fps
    period = float(np.diff(zeros)[0]) * 2
    x = amp * np.cos(2 * np.pi * (t - zeros[0]) / period)
    poses = np.zeros((t.size, 14, 2)) + 100.0
    poses[..., 0] += x[:, None]
    return poses


def test_strict_minima_match_argrelextrema_by_hand() -> None:
    s = np.array([5, 4, 3, 4, 5, 1, 5.0])
    assert B.strict_minima(s, 1).tolist() == [2, 5]
    assert B.strict_minima(s, 2).tolist() == [2, 5]
    assert B.strict_minima(s, 3).tolist() == [5]


def test_fact_beats_sit_on_the_zero_velocity_times_and_upstream_lags_half_a_frame() -> None:
    fps = 60.0
    zeros = (30 * np.arange(4) + 15.5) / fps  # zero speed mid-interval: 0.258 s, 0.758 s, ...
    dance = swing(zeros, fps, 2.2)
    np.testing.assert_allclose(B.fact_kinematic_beats(dance, fps), zeros)
    np.testing.assert_allclose(B.fact_kinematic_beats(dance, fps, upstream=True), zeros + 0.5 / fps)


def test_fact_upstream_zero_speed_at_frame_zero_hides_early_beats() -> None:
    fps = 60.0
    zeros = (30 * np.arange(4) + 5.5) / fps  # first zero 5.5 frames in: inside the window
    dance = swing(zeros, fps, 2.0)
    assert B.fact_kinematic_beats(dance, fps)[0] == pytest.approx(zeros[0])
    assert B.fact_kinematic_beats(dance, fps, upstream=True)[0] == pytest.approx(
        zeros[1] + 0.5 / fps
    )


def test_bailando_beats_on_a_sinusoid_are_its_speed_minima() -> None:
    fps = 60.0
    zeros = (30 * np.arange(5) + 15.5) / fps
    beats = B.bailando_kinematic_beats(swing(zeros, fps, 2.8), fps)
    np.testing.assert_allclose(beats, zeros, atol=1e-9)


def test_bailando_upstream_stamps_each_speed_sample_on_its_first_frame() -> None:
    fps = 60.0
    zeros = (30 * np.arange(5) + 15.5) / fps
    dance = swing(zeros, fps, 2.8)
    corrected = B.bailando_kinematic_beats(dance, fps)
    np.testing.assert_allclose(
        B.bailando_kinematic_beats(dance, fps, upstream=True), corrected - 0.5 / fps
    )


def test_beat_functions_reject_nan_poses_and_bad_times() -> None:
    bad = swing(np.array([0.25, 0.75]), 15.0, 2.0)
    bad[3, 2, 0] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        B.fact_kinematic_beats(bad)
    with pytest.raises(MetricError, match="1-D"):
        B.fact_bas(np.zeros((2, 2)), [1.0])


def test_bas_gaussians_by_hand_and_both_denominators() -> None:
    sigma = B.FACT_SIGMA
    assert B.fact_bas([1.0, 2.0], [1.0, 2.0]) == pytest.approx(1.0)
    assert B.fact_bas([1.0 + sigma], [1.0]) == pytest.approx(np.exp(-0.5))
    assert B.fact_bas([1.0 + sigma], [1.0], denominator="sigma2") == pytest.approx(np.exp(-1.0))
    assert B.bailando_bas([1.0], [1.0 + sigma]) == pytest.approx(np.exp(-0.5))


def test_fact_averages_over_kinematic_beats_and_bailando_over_music_beats() -> None:
    kin, music = [1.0], [1.0, 2.0]  # one kinematic beat, on the first of two music beats
    assert B.fact_bas(kin, music) == pytest.approx(1.0)
    assert B.bailando_bas(kin, music) == pytest.approx(0.5)


def test_bas_edge_cases() -> None:
    assert B.fact_bas([], [1.0]) == 0.0
    assert B.bailando_bas([], [1.0]) == 0.0
    assert np.isnan(B.bailando_bas([1.0], []))
    with pytest.raises(MetricError, match="sigma"):
        B.fact_bas([1.0], [1.0], sigma=0.0)
    with pytest.raises(MetricError, match="denominator"):
        B.bailando_bas([1.0], [1.0], denominator="sigma")


@pytest.mark.parametrize("fps", [15.0, 30.0, 60.0])
def test_a_dance_on_the_beats_scores_higher_than_the_same_dance_shifted_off(fps: float) -> None:
    music = 0.26 + 0.5 * np.arange(12)  # not on a frame at 60 fps: a tie has no strict minimum
    on, off = swing(music, fps, 6.0), swing(music + 0.25, fps, 6.0)
    for score in (B.fact_beat_align_score, B.bailando_beat_align_score):
        good, bad = score(on, music, fps), score(off, music, fps)
        assert good > 0.8 > 0.2 > bad, (score.__name__, good, bad)


def test_field_beat_scores_returns_the_four_variants() -> None:
    music = 0.25 + 0.5 * np.arange(8)
    scores = B.field_beat_scores([swing(music, 15.0, 4.0)] * 2, [music] * 2, fps=15.0)
    assert set(scores) == {"bas_fact", "bas_fact_upstream", "bas_bailando", "bas_bailando_upstream"}
    assert scores["bas_fact"] > 0.8
    with pytest.raises(MetricError, match="mismatched"):
        B.field_beat_scores([swing(music, 15.0, 4.0)], [music] * 2)


# ---------------------------------------------------------------------------- FID and N


def gaussians(seed: int = 0, d: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three 4000-row populations: a, b (scaled and shifted) and c (same law as a)."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d) * np.linspace(2, 0.2, d)
    a, b, c = (rng.normal(size=(4000, d)) @ mix.T for _ in range(3))
    return a, 1.1 * b + 0.3, c


def test_fid_against_n_is_a_tidy_table_and_identical_sets_give_zero() -> None:
    a = np.random.default_rng(1).normal(size=(30, 5))
    table = FF.fid_against_n(a, a.copy(), ns=[30], repeats=3)
    assert list(table.columns) == ["n", "repeat", "fid", "dim"]
    assert len(table) == 3
    assert table["fid"].max() < 1e-6
    halves = FF.fid_against_n(a, None, ns=[5, 15], repeats=4)
    assert sorted(halves["n"].unique()) == [5, 15] and len(halves) == 8
    with pytest.raises(MetricError, match="ns must lie"):
        FF.fid_against_n(a, None, ns=[16])


def test_plain_fid_of_a_set_against_itself_falls_with_n() -> None:
    a, _, _ = gaussians()
    means = FF.fid_against_n(a, None, ns=[22, 200], repeats=5).groupby("n")["fid"].mean()
    assert means[22] > 5 * means[200] > 0  # rank-deficient at 22 rows in 64-d


def test_extrapolation_recovers_a_line_in_one_over_n() -> None:
    import pandas as pd

    table = pd.DataFrame({"n": [10, 20, 40], "fid": [3.0 + 50 / 10, 3.0 + 50 / 20, 3.0 + 50 / 40]})
    assert FF.extrapolate(table) == pytest.approx((3.0, 50.0))


def test_fid_protocol_is_stable_in_n_while_plain_fid_drifts() -> None:
    a, b, c = gaussians()
    truth = np.mean(
        [FF._fid(*FF.project(a, b, FF.FID_PROTOCOL_DIM, p)) for p in range(8)]
    )  # population value of the protocol's quantity
    results = {}
    for n in (45, 400):
        values, plains, nulls = [], [], []
        for s in range(8):
            rows = np.random.default_rng(s).permutation(4000)
            x, y, z = a[rows[:n]], b[rows[n : 2 * n]], c[rows[2 * n : 3 * n]]
            est = FF.fid_protocol(x, y, repeats=20, seed=s)
            values.append(est.value)
            plains.append(est.plain_at_n_max)
            nulls.append(FF.fid_protocol(x, z, repeats=20, seed=s).value)
        results[n] = (np.mean(values), np.mean(plains), np.mean(nulls))
    (v45, p45, z45), (v400, p400, z400) = results[45], results[400]
    assert p45 > 1.5 * p400  # plain FID at N = 45 reads much worse than at 400
    assert abs(v45 - truth) < 0.35 * truth and abs(v400 - truth) < 0.25 * truth
    assert abs(z45) < 0.2 * truth and abs(z400) < 0.1 * truth  # same law: about 0


def test_fid_protocol_compares_a_set_with_itself_through_disjoint_halves() -> None:
    a, _, _ = gaussians(seed=3)
    est = FF.fid_protocol(a[:200], repeats=10)
    assert est.n_max == 100
    assert sorted(est.table["projection"].unique()) == list(range(FF.FID_PROTOCOL_PROJECTIONS))
    assert abs(est.value) < 0.2 * est.plain_at_n_max  # the 1/N bias removed, not the signal


def test_fid_protocol_rejects_too_few_rows() -> None:
    with pytest.raises(MetricError, match="too few rows"):
        FF.fid_protocol(np.random.default_rng(0).normal(size=(10, 8)))
