"""Tests of d2mlib.ballroom: the Dance with Melody importer, on real clips and on written ones.

The real clips come from ../shared/data/tang2018 (or $D2M_BALLROOM); those tests skip with a
note where the data is absent. The original-form clips (skeletons.json, audio.mp3 with the
whole song) are written here: a standing dancer facing +z whose arms swing and whose body
bobs on every beat of a click track at 120 BPM.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from d2mlib import ballroom, skeleton
from d2mlib.cli import main as d2m_main
from d2mlib.data import (
    MARKER,
    FeatureStore,
    audio_loader,
    dataset_complete,
    dataset_counts,
    dataset_styles,
    read_dataset,
    sequence_loader,
)
from d2mlib.errors import AudioError, DataError

TANG = Path(os.environ.get("D2M_BALLROOM", Path(__file__).parents[1] / ".." / "shared" / "data"))
TANG = TANG if "D2M_BALLROOM" in os.environ else TANG / "tang2018"
REAL_CLIPS = ["DANCE_C_2", "DANCE_T_5", "DANCE_W_8"]  # one of each: short ones
needs_real = pytest.mark.skipif(
    not (TANG / "DANCE_W_8").is_dir(),
    reason=f"the ballroom dataset is absent ({TANG}); set D2M_BALLROOM to a clone of "
    "mhy12345/Music-to-Dance-Motion-Synthesis to run these tests",
)

BEAT_S = 0.5  # 120 BPM
SONG_SR = 44100
INTRO_S = 2.0  # the dance starts this far into the song
DANCE_S = 9.0  # 225 frames at 25 fps -> 135 at 15 fps -> 4 units
LENGTHS = {"upper arm": 30.0, "forearm": 25.0, "thigh": 45.0, "shin": 40.0}


# ----------------------------------------------------------------------------- written clips


def _dancer(seconds: float = DANCE_S, fps: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(skeletons (T, 23, 3) relative to the centre, centre (T, 3)) of a dancer facing +z.

    Its right side (points 3-11) is at -x. Arms swing rigidly out and in (in the camera's
    plane) with zero speed on each beat; the body bobs with the same phase; bones keep their
    lengths.
    """
    t = np.arange(int(seconds * fps)) / fps
    swing = 0.8 + 0.4 * np.cos(np.pi * t / BEAT_S)  # extremes (speed 0) on the beats
    pts = np.zeros((len(t), 23, 3))
    for side, sgn, first in (("right", -1.0, 3), ("left", 1.0, 12)):
        sh = np.array([sgn * 18.0, 55.0, 0.0])
        arm = np.stack([sgn * np.sin(swing), -np.cos(swing), np.zeros_like(t)], -1)
        elbow = sh + LENGTHS["upper arm"] * arm
        wrist = elbow + LENGTHS["forearm"] * arm
        pts[:, first] = sh
        pts[:, first + 1] = elbow
        pts[:, first + 2] = elbow + 13.0 * arm  # the nearer hand point
        pts[:, first + 3] = wrist
        hip = np.array([sgn * 10.0, 5.0, 0.0])
        knee = hip + [0.0, -LENGTHS["thigh"], 0.0]
        ankle = knee + [0.0, -LENGTHS["shin"], 0.0]
        leg = 7 if side == "right" else 16
        pts[:, leg], pts[:, leg + 1], pts[:, leg + 2] = hip, knee, ankle
        pts[:, leg + 3] = ankle + [0.0, -6.0, -6.0]  # heel
        pts[:, leg + 4] = ankle + [0.0, -7.0, 15.0]  # toe
    pts[:, 0] = [-7.0, 75.0, 1.0]  # the head's right point
    pts[:, 1] = [7.0, 75.0, 1.0]  # its left point
    pts[:, 2] = [0.0, 20.0, 0.0]
    pts[:, 21], pts[:, 22] = pts[:, 14], pts[:, 5]
    centre = np.stack([30 * t, 95 - 2 * np.cos(np.pi * t / BEAT_S), 0 * t], -1)
    return pts, centre


def _song(seconds: float, first_click: float) -> np.ndarray:
    """A stereo click track at 44.1 kHz with clicks every BEAT_S from `first_click`."""
    y = np.zeros(int(seconds * SONG_SR), np.float32)
    click = np.sin(2 * np.pi * 1000 * np.arange(800) / SONG_SR) * np.hanning(800)
    for c in np.arange(first_click, seconds - 0.1, BEAT_S):
        i = int(c * SONG_SR)
        y[i : i + 800] += 0.8 * click.astype(np.float32)
    y += 0.003 * np.random.default_rng(0).normal(size=y.size).astype(np.float32)
    return np.stack([y, y], -1)


def write_original(folder: Path, start_error_frames: int = 0) -> Path:
    """Write one dance in the original form; its config is `start_error_frames` too early."""
    folder.mkdir(parents=True)
    pts, centre = _dancer()
    doc = {"length": len(pts), "center": centre.tolist(), "skeletons": pts.tolist()}
    (folder / "skeletons.json").write_text(json.dumps(doc))
    start = int(INTRO_S * 25) - start_error_frames
    cfg = {"start_position": start, "end_position": start + len(pts)}
    (folder / "config.json").write_text(json.dumps(cfg))
    song_s = INTRO_S + DANCE_S + 2.0
    sf.write(folder / "audio.mp3", _song(song_s, INTRO_S), SONG_SR, format="MP3")
    return folder


@pytest.fixture(scope="module")
def original_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven original-form dances: three cha-cha, three waltz, one tango."""
    root = tmp_path_factory.mktemp("tang_original")
    for name in ["DANCE_C_1", "DANCE_C_2", "DANCE_C_3", "DANCE_W_1", "DANCE_W_2", "DANCE_W_3"]:
        write_original(root / name)
    write_original(root / "DANCE_T_1")
    return root


@pytest.fixture(scope="module")
def original_out(original_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The written dances imported through the d2m command."""
    out = tmp_path_factory.mktemp("imported") / "ballroom"
    argv = ["data", "import-ballroom", str(original_src), "--out", str(out), "--quiet"]
    assert d2m_main(argv + ["--workers", "2"]) == 0
    return out


def test_joint_mapping_keeps_bone_lengths_and_finds_the_right_side() -> None:
    pts, centre = _dancer()
    absolute = pts + centre[:, None]
    assert ballroom.side_check(absolute) == 1.0
    joints = ballroom.joints_3d(absolute)
    bones = ballroom.bone_check(joints).set_index("bone")
    for name, length in LENGTHS.items():
        assert bones.loc[name, "right cm"] == pytest.approx(length, abs=1e-6)
        assert bones.loc[name, "right/left"] == pytest.approx(1.0, abs=1e-9)
        assert bones.loc[name, "cv right"] < 1e-9
    r, n, left = (skeleton.JOINT[k] for k in ("r_shoulder", "nose", "l_shoulder"))
    assert np.all(joints[:, r, 0] < joints[:, left, 0])  # the right side is at -x
    assert np.allclose(joints[:, n, 2], 1.0 + ballroom.pose.NOSE_FORWARD_CM)  # nose in front
    swapped = absolute[:, [0, 1, 2, *range(12, 21), *range(3, 12), 21, 22]]
    assert ballroom.side_check(swapped) == 0.0
    np.testing.assert_allclose(ballroom.joints_3d(swapped, a_is_right=False), joints)


def test_original_form_import_has_15fps_poses_on_the_canvas_and_aligned_audio(
    original_out: Path,
) -> None:
    meta = json.loads((original_out / "chacha/DANCE_C_1/000/meta.json").read_text())
    poses = np.load(original_out / "chacha/DANCE_C_1/000/poses.npy")
    feats = np.load(original_out / "chacha/DANCE_C_1/000/aud/c000_fps15.npy")
    frames = int((DANCE_S * 25 - 1) * 15 / 25) + 1
    assert poses.shape == (frames, 14, 2) and feats.shape == (frames, 28)
    assert meta["units"] == frames // 32 == 4
    assert sf.info(original_out / "chacha/DANCE_C_1/000/aud/c000.wav").frames == frames * 1470
    nose_to_ankle = poses[:, skeleton.JOINT["r_ankle"], 1] - poses[:, 0, 1]
    assert np.median(nose_to_ankle) == pytest.approx(ballroom.BODY_PIXELS, rel=1e-3)
    assert np.all((poses[..., 0] > 0) & (poses[..., 0] < 256))
    assert np.all((poses[..., 1] > 0) & (poses[..., 1] < 500))
    assert np.allclose(poses[:, 1, 0], 128.0, atol=1e-3)  # the camera pans with the root
    # the dancer faces the camera (+z), so its right shoulder is on the image's left
    assert np.all(poses[:, 2, 0] < poses[:, 5, 0])
    # the music's beats fall on the dance's beats: every 0.5 s from its first frame
    beats = np.asarray(meta["beat_times"])  # (librosa's and the mp3 coder's delays: < 0.07 s)
    assert np.abs((beats + 0.25) % BEAT_S - 0.25).max() < 0.07
    row = meta["row"]
    assert row["form"] == "original" and row["hit_rate"] > 0.8
    assert -0.04 <= row["best_offset_s"] <= 0.08 and row["shift_s"] == 0.0


def test_original_form_import_reads_back_split_by_dance(original_out: Path) -> None:
    index = read_dataset(original_out)
    assert index.styles == ("chacha", "waltz", "tango")
    assert dataset_complete(original_out)["preset"] == "ballroom"
    for table in (index.units, index.sequences):
        assert table.groupby("video")["split"].nunique().max() == 1  # whole dances
    splits = index.clips.set_index("video")["split"]
    assert sorted(splits[["DANCE_C_1", "DANCE_C_2", "DANCE_C_3"]]) == ["test", "train", "val"]
    assert splits["DANCE_T_1"] == "train"
    counts = dataset_counts(index)
    assert list(counts.index) == ["chacha", "waltz", "tango", "all"]
    assert counts.loc["all", "units"] == 7 * 4
    store = FeatureStore.open(original_out)
    assert store.styles == index.styles
    assert sorted(set(store.unit_style)) == [0, 1, 2]
    units, aud, style = next(iter(sequence_loader(store, "train", batch_size=2, n_units=[4])))
    assert units.shape == (2, 4, 32, 28) and aud.shape == (2, 128, 28)
    assert set(style.tolist()) <= {0, 1, 2}
    windows, _ = next(iter(audio_loader(store, "test", batch_size=2)))
    assert windows.shape == (2, 30, 28) and np.isfinite(windows.numpy()).all()


def test_style_list_names_the_labels_and_a_bad_one_names_its_file(tmp_path: Path) -> None:
    assert dataset_styles(tmp_path) == ("ballet", "zumba", "hiphop")  # no styles.txt
    (tmp_path / "styles.txt").write_text("waltz\nrumba\n\n")
    assert dataset_styles(tmp_path) == ("waltz", "rumba")
    (tmp_path / "styles.txt").write_text("waltz\nwaltz\n")
    with pytest.raises(DataError, match="styles.txt"):
        dataset_styles(tmp_path)


def test_alignment_check_finds_a_misconfigured_start_and_shifts_only_when_asked(
    tmp_path: Path,
) -> None:
    # 0.12 s too early (offsets are known modulo a beat: stay well inside half of one)
    write_original(tmp_path / "src" / "DANCE_W_1", start_error_frames=3)
    out = tmp_path / "out"
    row = ballroom.import_ballroom(tmp_path / "src", out, workers=1, progress=False)["clips"][0]
    assert 0.08 <= row["best_offset_s"] <= 0.2
    assert row["best_hit_rate"] > 0.8 and row["best_bas"] > row["bas"] + 0.3
    assert row["shift_s"] == 0.0
    row = ballroom.import_ballroom(
        tmp_path / "src", out, shift_to_beats=True, workers=1, progress=False
    )["clips"][0]
    assert 0.08 <= row["shift_s"] <= 0.2
    beats = np.asarray(
        json.loads((out / "waltz/DANCE_W_1/000/meta.json").read_text())["beat_times"]
    )
    assert np.abs((beats + 0.25) % BEAT_S - 0.25).max() < 0.06  # back on the dance's beats


def _break(folder: Path, what: str) -> str:
    """Damage one dance folder; return the name of the file the error must name."""
    skel = folder / "skeletons.json"
    doc = json.loads(skel.read_text())
    if what == "truncated json":
        skel.write_text(skel.read_text()[:1000])
    elif what == "wrong shape":
        doc["skeletons"] = np.asarray(doc["skeletons"])[:, :14].tolist()
        skel.write_text(json.dumps(doc))
    elif what == "nan":
        doc["center"][3][1] = float("nan")
        skel.write_text(json.dumps(doc))
    elif what == "no config":
        (folder / "config.json").unlink()
        return "config.json"
    elif what == "no audio":
        (folder / "audio.mp3").unlink()
        return "audio.mp3"
    elif what == "bad audio":
        (folder / "audio.mp3").write_bytes(b"not an mp3 at all" * 100)
        return "audio.mp3"
    elif what == "short audio":
        cfg = {"start_position": 400, "end_position": 625}  # 16 s into a 13 s song
        (folder / "config.json").write_text(json.dumps(cfg))
        return "audio.mp3"
    elif what == "truncated gzip":
        data = gzip.compress(skel.read_bytes())
        skel.unlink()
        (folder / "skeletons.json.gz").write_bytes(data[: len(data) // 2])
        return "skeletons.json.gz"
    return "skeletons.json"


@pytest.mark.parametrize(
    "what",
    [
        "truncated json",
        "truncated gzip",
        "wrong shape",
        "nan",
        "no config",
        "no audio",
        "bad audio",
        "short audio",
    ],
)
def test_malformed_input_fails_with_one_line_naming_the_file(tmp_path: Path, what: str) -> None:
    folder = write_original(tmp_path / "src" / "DANCE_R_1")
    name = _break(folder, what)
    with pytest.raises((DataError, AudioError)) as err:
        ballroom.import_ballroom(tmp_path / "src", tmp_path / "out", workers=1, progress=False)
    message = str(err.value)
    assert "\n" not in message and name in message, message
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no temporary folder left


def test_interrupted_import_keeps_the_previous_dataset(
    original_src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    ballroom.import_ballroom(original_src, out, clips=["DANCE_C_1"], workers=1, progress=False)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    calls = []

    def failing(folder, dest, shift):  # the second dance fails half-way
        calls.append(folder)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(folder, dest, shift)

    real = ballroom.importer.import_clip
    monkeypatch.setattr(ballroom.importer, "import_clip", failing)
    with pytest.raises(KeyboardInterrupt):
        ballroom.import_ballroom(original_src, out, workers=1, progress=False)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / MARKER).is_file() and [p.name for p in tmp_path.iterdir()] == ["out"]
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="refusing"):
        ballroom.import_ballroom(original_src, tmp_path / "foreign", progress=False)


@needs_real
def test_real_clips_import_with_plausible_bones_canvas_and_alignment(tmp_path: Path) -> None:
    out = tmp_path / "ballroom"
    summary = ballroom.import_ballroom(TANG, out, clips=REAL_CLIPS, workers=2, progress=False)
    rows = {r["clip"]: r for r in summary["clips"]}
    assert summary["styles"] == ["chacha", "waltz", "tango"]
    for name, row in rows.items():
        length = json.loads(gzip.decompress((TANG / name / "skeletons.json.gz").read_bytes()))[
            "length"
        ]
        frames = (length - 1) * 15 // 25 + 1
        assert row["form"] == "packed" and row["frames"] == frames
        poses = np.load(out / row["style"] / name / "000" / "poses.npy")
        assert poses.shape == (frames, 14, 2)
        assert np.load(out / row["style"] / name / "000/aud/c000_fps15.npy").shape == (frames, 28)
        assert row["canvas_inside"] > 0.99  # x in [0, 256], y in [0, 500]
        assert row["side_a_right"] > 0.95  # points 3-11: the right side, nearly always
        assert row["max_bone_cv"] < 0.2 and row["max_lr_asymmetry"] < np.log(1.2)
        assert 0.1 < row["hit_rate"] <= row["best_hit_rate"] <= 1.0
        assert row["split"] == "train"  # one dance per style here
    index = read_dataset(out)
    assert index.styles == ("chacha", "waltz", "tango")
    store = FeatureStore.open(out)
    assert len(store.units_table) == sum(r["units"] for r in rows.values())
    assert store.units().shape[1:] == (32, 14, 2)
