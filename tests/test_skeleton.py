"""The skeleton: joint layout, mirror, normalisation, speed and kinematic beats."""

from __future__ import annotations

import numpy as np
import pytest

from d2mlib import beats, skeleton
from d2mlib.errors import DataError


def still_pose() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(50, 200, size=(skeleton.NUM_JOINTS, 2)).astype(np.float32)


def test_layout_matches_the_original_data() -> None:
    assert skeleton.NUM_JOINTS == 14 and skeleton.POSE_DIM == 28
    assert skeleton.FPS == 15 and skeleton.UNIT_FRAMES == 32
    assert skeleton.JOINT_NAMES[:2] == ("nose", "neck")
    assert all(0 <= a < 14 and 0 <= b < 14 for a, b in skeleton.BONES)
    # every joint is reached by a bone: the skeleton is one connected tree
    assert len(skeleton.BONES) == skeleton.NUM_JOINTS - 1
    assert {j for bone in skeleton.BONES for j in bone} == set(range(14))


def test_mirror_twice_is_identity_and_swaps_sides() -> None:
    pose = still_pose()
    once = skeleton.mirror(pose)
    np.testing.assert_allclose(skeleton.mirror(once), pose, atol=1e-4)
    right, left = skeleton.JOINT["r_wrist"], skeleton.JOINT["l_wrist"]
    assert once[right, 0] == pytest.approx(skeleton.CANVAS_WIDTH - pose[left, 0])
    assert once[right, 1] == pytest.approx(pose[left, 1])


def test_vector_round_trip_uses_x_y_interleaving() -> None:
    pose = still_pose()
    vec = skeleton.to_vector(pose)
    assert vec.shape == (28,)
    assert vec[0] == pose[0, 0] and vec[1] == pose[0, 1] and vec[2] == pose[1, 0]
    np.testing.assert_array_equal(skeleton.from_vector(vec), pose)


def test_normaliser_fits_zero_mean_unit_std_and_inverts() -> None:
    rng = np.random.default_rng(1)
    poses = rng.normal(100, 30, size=(500, 32, 14, 2)).astype(np.float32)
    norm = skeleton.Normaliser.fit(poses)
    z = norm.normalise(poses)
    assert z.shape == (500, 32, 28)
    np.testing.assert_allclose(z.reshape(-1, 28).mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(z.reshape(-1, 28).std(0), 1, atol=1e-3)
    np.testing.assert_allclose(norm.denormalise(z), poses, atol=1e-3)


@pytest.mark.parametrize(
    "mean, std",
    [(np.zeros(27), np.ones(27)), (np.zeros(28), np.zeros(28)), (np.full(28, np.nan), np.ones(28))],
)
def test_normaliser_rejects_bad_stats(mean: np.ndarray, std: np.ndarray) -> None:
    with pytest.raises(DataError):
        skeleton.Normaliser(mean, std)


def test_check_poses_names_the_file_on_nan_and_bad_shape() -> None:
    bad = np.zeros((32, 14, 2))
    bad[3, 4, 0] = np.nan
    with pytest.raises(DataError, match="unit_7.npy.*NaN"):
        skeleton.check_poses(bad, "unit_7.npy")
    with pytest.raises(DataError, match=r"u.npy.*\(32, 13, 2\)"):
        skeleton.check_poses(np.zeros((32, 13, 2)), "u.npy")


def test_joint_speed_of_a_translation_is_its_speed() -> None:
    t = np.arange(16, dtype=np.float32)
    poses = np.repeat(still_pose()[None], 16, axis=0)
    poses[..., 0] += 2.0 * t[:, None]  # 2 px per frame to the right
    speed = skeleton.joint_speed(poses, fps=15)
    np.testing.assert_allclose(speed, 30.0, rtol=1e-5)  # 2 px x 15 fps


def test_kinematic_beats_sit_at_the_pauses_of_an_eased_motion() -> None:
    # a wrist swinging with cosine easing: zero velocity every 8 frames (the pauses)
    frames = np.arange(64)
    pos = 40 * np.cos(np.pi * frames / 8)
    poses = np.repeat(still_pose()[None], 64, axis=0)
    poses[:, :, 0] += pos[:, None]
    found = beats.kinematic_beats(poses)
    assert list(found) == [8, 16, 24, 32, 40, 48, 56]


def test_a_still_dance_has_no_kinematic_beats() -> None:
    rng = np.random.default_rng(2)
    poses = np.repeat(still_pose()[None], 64, axis=0) + rng.normal(0, 0.01, (64, 14, 2))
    assert beats.kinematic_beats(poses).size == 0
    assert beats.kinematic_beats(poses[:2]).size == 0
