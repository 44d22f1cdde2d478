"""Tests of d2mlib.data: a tiny dataset written by hand in the original layout, read back."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from d2mlib.config import STYLES
from d2mlib.data import (
    JITTER_PIXELS,
    FeatureStore,
    audio_loader,
    default_data_dir,
    ensure_dataset,
    naive_unit_loader,
    read_dataset,
    sequence_loader,
    split_by_video,
    unit_loader,
    write_dataset,
)
from d2mlib.errors import DataError

VIDEOS = 4
CLIPS = 2
UNITS = 4
EXTRA_AUDIO = 5  # the original audio may run a little longer than the dance


def _clip_id(style: str, video: int, clip: int) -> float:
    return 100.0 * STYLES.index(style) + 10.0 * video + clip


def write_tiny_dataset(root: Path, videos: int = VIDEOS) -> Path:
    """Write a small dataset in the original layout, "data/"-prefixed list paths and all."""
    rng = np.random.default_rng(0)
    (root / "unitList").mkdir(parents=True)
    all_units, all_audio = [], []
    for style in STYLES:
        lists: dict[str, list[str]] = {"unit": [], "unitseq3": [], "unitseq4": []}
        for v in range(videos):
            for c in range(CLIPS):
                video, clip = f"vid{v:02d}", f"{c:03d}"
                base = root / style / video / clip
                t = np.arange(UNITS * 32, dtype=np.float32)
                body = rng.uniform([60, 80], [200, 420], size=(14, 2)).astype(np.float32)
                wobble = 15 * np.sin(t[:, None, None] / (3 + STYLES.index(style)) + body / 40)
                poses = (body[None] + wobble).astype(np.float32)  # (T, 14, 2)
                units = poses.reshape(UNITS, 32, 14, 2)
                for k in range(UNITS):
                    _save(base / "unit" / f"{k}.npy", units[k])
                    lists["unit"].append(f"data/{style}/{video}/{clip}/unit/{k}.npy")
                for n in (3, 4):
                    for k in range(UNITS - n + 1):
                        _save(base / f"seq{n}" / f"{k}.npy", units[k : k + n])
                        lists[f"unitseq{n}"].append(f"data/{style}/{video}/{clip}/seq{n}/{k}.npy")
                frames = UNITS * 32 + EXTRA_AUDIO
                aud = rng.normal(size=(frames, 28)).astype(np.float32)
                aud[:, 0] = np.arange(frames)  # feature 0 = frame number, feature 1 = clip id
                aud[:, 1] = _clip_id(style, v, c)
                _save(base / "aud" / f"c{clip}_fps15.npy", aud)
                all_units.append(units.reshape(-1, 28))
                all_audio.append(aud)
        for kind, rows in lists.items():
            (root / "unitList" / f"{style}_{kind}.txt").write_text("\n".join(rows) + "\n")
    pose, aud = np.concatenate(all_units), np.concatenate(all_audio)
    stats = {
        "all_onbeat_mean": pose.mean(0),
        "all_onbeat_std": pose.std(0),
        "all_aud_mean": aud.mean(0),
        "all_aud_std": aud.std(0),
    }
    for name, value in stats.items():
        _save(root / "stats" / f"{name}.npy", value.astype(np.float32))
    return root


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="module")
def store(tiny: Path) -> FeatureStore:
    return FeatureStore.open(tiny)


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    return write_tiny_dataset(tmp_path / "data")


# ---------------------------------------------------------------- reader


def test_read_dataset_counts_styles_and_strips_data_prefix(tiny: Path) -> None:
    index = read_dataset(tiny)
    per_style = VIDEOS * CLIPS
    assert len(index.units) == 3 * per_style * UNITS
    assert index.units["style"].value_counts().to_dict() == {s: per_style * UNITS for s in STYLES}
    assert (index.sequences["n"] == 3).sum() == 3 * per_style * (UNITS - 2)
    assert (index.sequences["n"] == 4).sum() == 3 * per_style * (UNITS - 3)
    assert len(index.clips) == 3 * per_style
    assert set(index.clips["frames"]) == {UNITS * 32 + EXTRA_AUDIO}
    first = Path(index.units["path"].iloc[0])
    assert first == tiny / "ballet" / "vid00" / "000" / "unit" / "0.npy"
    assert "data/data" not in str(first)
    assert set(index.units["k"]) == set(range(UNITS))


def test_splits_are_by_video_disjoint_and_cover_each_split(tiny: Path) -> None:
    index = read_dataset(tiny)
    for table in (index.units, index.sequences, index.clips):
        videos = {
            sp: set(zip(g["style"], g["video"], strict=True)) for sp, g in table.groupby("split")
        }
        assert set(videos) == {"train", "val", "test"}
        assert not videos["train"] & videos["test"]
        assert not videos["train"] & videos["val"]
        assert not videos["val"] & videos["test"]
    for style in STYLES:
        clips = index.clips[index.clips["style"] == style]
        assert set(clips["split"]) == {"train", "val", "test"}


def test_split_by_video_is_deterministic_and_roughly_80_10_10() -> None:
    import pandas as pd

    rows = [(s, f"v{i}") for s in STYLES for i in range(20)]
    df = pd.DataFrame(rows, columns=["style", "video"])
    a, b = split_by_video(df, seed=3), split_by_video(df, seed=3)
    assert a.tolist() == b.tolist()
    assert split_by_video(df, seed=4).tolist() != a.tolist()
    counts = a[df["style"] == "zumba"].value_counts().to_dict()
    assert counts == {"train": 16, "val": 2, "test": 2}
    small = pd.DataFrame([("ballet", "a"), ("ballet", "b"), ("ballet", "c")], columns=df.columns)
    assert sorted(split_by_video(small)) == ["test", "train", "val"]


def test_stats_are_loaded_into_the_normalisers(tiny: Path) -> None:
    index = read_dataset(tiny)
    mean = np.load(tiny / "stats" / "all_onbeat_mean.npy")
    np.testing.assert_array_equal(index.pose_normaliser.mean, mean)
    np.testing.assert_array_equal(index.audio_std, np.load(tiny / "stats" / "all_aud_std.npy"))


# ---------------------------------------------------------------- bad data


def _break(root: Path, case: str) -> Path:
    """Damage the tiny dataset one way; return the file the error must name."""
    unit = root / "zumba" / "vid01" / "001" / "unit" / "2.npy"
    aud = root / "hiphop" / "vid02" / "000" / "aud" / "c000_fps15.npy"
    if case == "missing list":
        path = root / "unitList" / "hiphop_unitseq3.txt"
        path.unlink()
    elif case == "empty list":
        path = root / "unitList" / "zumba_unit.txt"
        path.write_text("\n")
    elif case == "listed path missing":
        path = unit
        path.unlink()
    elif case == "unit wrong shape":
        path = unit
        np.save(path, np.zeros((31, 14, 2), np.float32))
    elif case == "nan keypoints":
        path = unit
        bad = np.load(path)
        bad[5, 3, 1] = np.nan
        np.save(path, bad)
    elif case == "stats wrong count":
        path = root / "stats" / "all_aud_mean.npy"
        np.save(path, np.zeros(27, np.float32))
    elif case == "stats missing":
        path = root / "stats" / "all_onbeat_std.npy"
        path.unlink()
    elif case == "audio wrong width":
        path = aud
        np.save(path, np.zeros((133, 20), np.float32))
    elif case == "audio nan":
        path = aud
        bad = np.load(path)
        bad[7, 2] = np.nan
        np.save(path, bad)
    elif case == "audio missing":
        path = aud
        path.unlink()
    else:
        raise AssertionError(case)
    return path


BAD_CASES = [
    "missing list",
    "empty list",
    "listed path missing",
    "unit wrong shape",
    "nan keypoints",
    "stats wrong count",
    "stats missing",
    "audio wrong width",
    "audio nan",
    "audio missing",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_data_raises_data_error_naming_the_file(fresh: Path, case: str) -> None:
    path = _break(fresh, case)
    with pytest.raises(DataError) as err:
        read_dataset(fresh)
    assert str(path) in str(err.value)
    assert err.value.path == path


@pytest.mark.parametrize("case", ["unit wrong shape", "nan keypoints", "audio nan"])
def test_feature_store_refuses_bad_arrays_naming_the_file(fresh: Path, case: str) -> None:
    path = _break(fresh, case)
    with pytest.raises(DataError) as err:
        FeatureStore.open(fresh)
    assert err.value.path == path


# ---------------------------------------------------------------- feature store


def test_feature_store_packs_units_sequences_and_audio(tiny: Path, store: FeatureStore) -> None:
    index = read_dataset(tiny)
    assert store.pool.shape == (len(index.units), 32, 14, 2)  # every sequence reuses units
    assert isinstance(store.pool, np.memmap) and isinstance(store.audio, np.memmap)
    assert store.pool.dtype == np.float32 and store.audio.shape[1] == 28
    i = 13
    np.testing.assert_array_equal(store.pool[i], np.load(index.units["path"].iloc[i]))
    j = 7
    seq = np.load(index.sequences["path"].iloc[j])
    n = int(index.sequences["n"].iloc[j])
    np.testing.assert_array_equal(store.pool[store.seq_rows[j, :n]], seq)
    c = 5
    np.testing.assert_array_equal(store.clip_audio(c), np.load(index.clips["audio"].iloc[c]))
    manifest = json.loads((tiny / ".d2m_store" / "manifest.json").read_text())
    assert manifest["arrays"]["pool"]["shape"] == list(store.pool.shape)
    assert store.units("test").shape[0] == (store.units_table["split"] == "test").sum()


def test_feature_store_is_reused_when_nothing_changed(tiny: Path, store: FeatureStore) -> None:
    before = (store.store_dir / "pool.npy").stat().st_mtime_ns
    again = FeatureStore.open(tiny)
    assert (again.store_dir / "pool.npy").stat().st_mtime_ns == before


def test_feature_store_is_the_same_from_a_relative_path(
    tiny: Path, store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny.parent)
    again = FeatureStore.open("data")
    assert again.manifest["fingerprint"] == store.manifest["fingerprint"]


def test_feature_store_survives_pickling_for_worker_processes(store: FeatureStore) -> None:
    copy = pickle.loads(pickle.dumps(store))
    assert isinstance(copy.pool, np.memmap)
    np.testing.assert_array_equal(copy.pool[:3], store.pool[:3])
    np.testing.assert_array_equal(copy.audio[-2:], store.audio[-2:])


def test_feature_store_rebuilds_when_source_changes(fresh: Path) -> None:
    first = FeatureStore.open(fresh)
    fp = first.manifest["fingerprint"]
    index = read_dataset(fresh)
    path = index.units["path"].iloc[3]
    changed = np.load(path) + 1.0
    np.save(path, changed)
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    second = FeatureStore.open(fresh)
    assert second.manifest["fingerprint"] != fp
    np.testing.assert_array_equal(second.pool[3], changed)


def test_feature_store_keeps_its_own_copy_of_a_sequence_that_is_not_made_of_units(
    fresh: Path,
) -> None:
    index = read_dataset(fresh)
    j = int(np.flatnonzero(index.sequences["n"] == 4)[0])
    seq = np.load(index.sequences["path"].iloc[j]) + 2.0
    np.save(index.sequences["path"].iloc[j], seq)
    st = FeatureStore.open(fresh)
    assert st.pool.shape[0] == len(index.units) + 4
    np.testing.assert_array_equal(st.pool[st.seq_rows[j]], seq)


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_truncated_or_damaged_store_is_detected_and_rebuilt(fresh: Path, damage: str) -> None:
    first = FeatureStore.open(fresh)
    want = np.asarray(first.pool).copy()
    target = first.store_dir / "pool.npy"
    del first
    if damage == "truncate":
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        target.unlink()
    else:
        (target.parent / "manifest.json").write_text("{not json")
    again = FeatureStore.open(fresh)
    np.testing.assert_array_equal(again.pool, want)
    assert target.stat().st_size == again.manifest["arrays"]["pool"]["bytes"]


def test_feature_store_can_live_elsewhere(tiny: Path, tmp_path: Path) -> None:
    st = FeatureStore.open(tiny, store_dir=tmp_path / "packed")
    assert st.store_dir == tmp_path / "packed" and not (tiny / "packed").exists()
    assert (tmp_path / "packed" / "manifest.json").is_file()
    assert not any(p.name.startswith(".packed") for p in tmp_path.iterdir())  # no temp left


# ---------------------------------------------------------------- loaders


def test_unit_loader_shapes_dtypes_and_all_styles(store: FeatureStore) -> None:
    loader = unit_loader(store, "train", batch_size=8, seed=0)
    batches = list(loader)
    n_train = (store.units_table["split"] == "train").sum()
    assert len(batches) == n_train // 8 == len(loader)
    x1, x2, style = batches[0]
    assert x1.shape == x2.shape == (8, 32, 28)
    assert x1.dtype == torch.float32 and style.dtype == torch.int64
    seen = torch.cat([b[2] for b in batches])
    assert set(seen.tolist()) == {0, 1, 2}


def test_unit_loader_unnormalises_to_jittered_pixels_differing_by_a_translation(
    store: FeatureStore,
) -> None:
    loader = unit_loader(store, "val", batch_size=6, seed=1, shuffle=False)
    x1, x2, style = next(iter(loader))
    raw = store.units("val")[:6]
    norm = store.pose_normaliser
    p1, p2 = norm.denormalise(x1.numpy()), norm.denormalise(x2.numpy())  # (B, 32, 14, 2)
    for p in (p1, p2):
        shift = p - raw
        # one translation per sample: the same for every frame and joint
        np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1], shift.shape), atol=1e-3)
        assert np.all(np.abs(shift[..., 0]) <= JITTER_PIXELS[0] + 1e-3)
        assert np.all(np.abs(shift[..., 1]) <= JITTER_PIXELS[1] + 1e-3)
    between = p1 - p2
    np.testing.assert_allclose(
        between, np.broadcast_to(between[:, :1, :1], between.shape), atol=1e-3
    )
    assert np.all(np.abs(between[:, 0, 0, 0]) > 1e-6)  # independent jitters
    np.testing.assert_array_equal(style.numpy(), store.unit_styles("val")[:6])


def test_unit_loader_without_jitter_gives_the_normalised_units(store: FeatureStore) -> None:
    x1, x2, _ = next(iter(unit_loader(store, "test", 4, seed=0, jitter=False, shuffle=False)))
    want = store.pose_normaliser.normalise(store.units("test")[:4])
    np.testing.assert_allclose(x1.numpy(), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x1, x2)


def _flat(loader) -> list[np.ndarray]:
    return [t.numpy() for batch in loader for t in batch]


def test_loaders_are_deterministic_given_a_seed(store: FeatureStore) -> None:
    for make in (
        lambda s: unit_loader(store, "train", 8, seed=s),
        lambda s: sequence_loader(store, "train", 4, seed=s),
        lambda s: audio_loader(store, "train", 8, seed=s),
    ):
        a, b, c = _flat(make(5)), _flat(make(5)), _flat(make(6))
        assert len(a) == len(b)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=False))


def test_loader_reshuffles_each_epoch_and_set_epoch_replays(store: FeatureStore) -> None:
    loader = unit_loader(store, "train", 8, seed=0)
    first, second = _flat(loader), _flat(loader)
    assert not all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))
    loader.set_epoch(0)
    again = _flat(loader)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_worker_processes_give_the_same_batches(store: FeatureStore) -> None:
    single = _flat(sequence_loader(store, "train", 4, seed=2, num_workers=0))
    multi = _flat(sequence_loader(store, "train", 4, seed=2, num_workers=2))
    assert len(single) == len(multi)
    assert all(np.array_equal(x, y) for x, y in zip(single, multi, strict=True))


def test_a_split_smaller_than_a_batch_still_gives_one_batch(store: FeatureStore) -> None:
    n_val = len(store.unit_indices("val"))
    batches = list(unit_loader(store, "val", n_val + 10, seed=0))
    assert len(batches) == 1 and batches[0][0].shape[0] == n_val


def test_balanced_unit_loader_sees_each_style_equally(store: FeatureStore) -> None:
    batches = list(unit_loader(store, "train", 9, seed=0, balanced=True))
    styles = torch.cat([b[2] for b in batches])
    assert torch.bincount(styles, minlength=3).tolist() == [len(styles) // 3] * 3


def test_sequence_loader_audio_is_the_audio_of_those_frames(store: FeatureStore) -> None:
    loader = sequence_loader(store, "train", 4, seed=0, drop_last=False)
    sizes = set()
    for units, aud, style in loader:
        b, n = units.shape[:2]
        sizes.add(n)
        assert units.shape == (b, n, 32, 28) and aud.shape == (b, n * 32, 28)
        assert units.dtype == aud.dtype == torch.float32 and style.dtype == torch.int64
        raw = aud.numpy() * store.audio_std + store.audio_mean
        frame, clip_id = raw[..., 0], raw[..., 1]
        # each window is consecutive frames of one clip, starting at a unit boundary
        np.testing.assert_allclose(np.diff(frame, axis=1), 1.0, atol=1e-3)
        start = np.round(frame[:, 0]).astype(int)
        assert np.all(start % 32 == 0) and np.all(start + n * 32 <= UNITS * 32)
        np.testing.assert_allclose(
            clip_id, np.broadcast_to(clip_id[:, :1], clip_id.shape), atol=1e-3
        )
        # the style of the clip the audio came from is the batch's style
        np.testing.assert_array_equal(np.round(clip_id[:, 0]).astype(int) // 100, style.numpy())
    assert sizes == {3, 4}


def test_sequence_units_match_the_sequence_files(tiny: Path, store: FeatureStore) -> None:
    units, _, _ = next(iter(sequence_loader(store, "val", 2, seed=0, n_units=(4,), shuffle=False)))
    rows = store.sequence_indices(4, "val")[:2]
    want = np.stack([np.load(store.sequences_table["path"].iloc[r]) for r in rows])
    np.testing.assert_allclose(
        store.pose_normaliser.denormalise(units.numpy()), want, rtol=1e-5, atol=1e-3
    )


def test_audio_loader_random_offsets_in_train_and_tiling_in_test(store: FeatureStore) -> None:
    batches = list(audio_loader(store, "train", 8, seed=0, window=30))
    aud, style = batches[0]
    assert aud.shape == (8, 30, 28) and style.dtype == torch.int64
    starts = np.concatenate(
        [np.round((a.numpy() * store.audio_std + store.audio_mean)[:, 0, 0]) for a, _ in batches]
    )
    assert np.any(starts % 30 != 0)  # random offsets
    assert set(torch.cat([s for _, s in batches]).tolist()) == {0, 1, 2}
    tiles = list(audio_loader(store, "test", 5, seed=0, window=30, shuffle=False))
    raw = np.concatenate([(a.numpy() * store.audio_std + store.audio_mean) for a, _ in tiles])
    n_test = (store.clips_table["split"] == "test").sum()
    per_clip = (UNITS * 32 + EXTRA_AUDIO) // 30
    assert raw.shape[0] == n_test * per_clip
    np.testing.assert_allclose(raw[:per_clip, 0, 0], np.arange(per_clip) * 30, atol=1e-3)


def test_naive_loader_gives_the_same_format_and_values(tiny: Path, store: FeatureStore) -> None:
    naive = naive_unit_loader(tiny, "val", 5, seed=0, jitter=False, shuffle=False)
    x1, x2, style = next(iter(naive))
    y1, _, ystyle = next(iter(unit_loader(store, "val", 5, seed=0, jitter=False, shuffle=False)))
    assert x1.shape == (5, 32, 28) and x1.dtype == torch.float32 and style.dtype == torch.int64
    torch.testing.assert_close(x1, y1)
    torch.testing.assert_close(x1, x2)
    torch.testing.assert_close(style, ystyle)


def test_loaders_never_mix_splits(store: FeatureStore) -> None:
    test_units = store.units("test").reshape(len(store.unit_indices("test")), -1)
    train = next(iter(unit_loader(store, "train", 8, seed=0, jitter=False)))[0].numpy()
    train_px = store.pose_normaliser.denormalise(train).reshape(8, -1)
    dist = np.abs(train_px[:, None] - test_units[None]).max(-1)
    assert dist.min() > 1.0


# ---------------------------------------------------------------- writer

HAVE_WRITER = all(importlib.util.find_spec(m) is not None for m in ("d2mlib.synth", "d2mlib.audio"))
needs_writer = pytest.mark.skipif(not HAVE_WRITER, reason="d2mlib.synth / d2mlib.audio missing")


def test_default_data_dir_reads_d2m_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("D2M_DATA", raising=False)
    assert default_data_dir("smoke") == Path("data") / "smoke"
    monkeypatch.setenv("D2M_DATA", str(tmp_path))
    assert default_data_dir("smoke") == tmp_path


def test_writer_refuses_a_foreign_dataset(tiny: Path) -> None:
    with pytest.raises(DataError) as err:
        write_dataset(tiny, preset="smoke", seed=0, progress=False)
    assert err.value.path == tiny / "unitList"
    assert ensure_dataset(tiny, "smoke", 0, progress=False) == tiny  # used as it is


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".d2m_store" not in p.parts
    }


@needs_writer
@pytest.mark.slow
def test_write_dataset_round_trips_and_is_byte_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    summary = write_dataset(a, preset="smoke", seed=0, progress=False)
    index = read_dataset(a)
    assert len(index.units) == sum(summary["units"].values())
    assert set(index.units["style"]) == set(STYLES)
    for style in STYLES:
        assert summary["units"][style] == (index.units["style"] == style).sum()
        assert summary["clips"][style] == (index.clips["style"] == style).sum()
    assert set(index.clips["frames"]) == {32 * UNITS}
    tree = _tree(a)
    from d2mlib import audio

    clip = index.clips.iloc[5]
    wav = Path(clip["audio"]).with_name(f"c{clip['clip']}.wav")
    # the writer computes features for a batch of clips, this for one: BLAS may block the two
    # matrix products differently (seen here: 4e-6 apart on values of order 1-50)
    np.testing.assert_allclose(
        np.load(clip["audio"]), audio.features(audio.load_audio(wav)), rtol=1e-5, atol=1e-4
    )
    assert any(k.endswith(".wav") for k in tree) and any(k.endswith("meta.json") for k in tree)
    write_dataset(b, preset="smoke", seed=0, progress=False, workers=1)  # a had 2 workers
    assert _tree(b) == tree
    write_dataset(a, preset="smoke", seed=0, progress=False)  # rewrite in place: same bytes
    assert _tree(a) == tree
    with pytest.raises(DataError):
        write_dataset(a, preset="smoke", seed=1, progress=False)
    with pytest.raises(DataError):
        ensure_dataset(a, "smoke", 1, progress=False)
    marker = a / ".d2m_complete.json"
    before = marker.stat().st_mtime_ns
    assert ensure_dataset(a, "smoke", 0, progress=False) == a
    assert marker.stat().st_mtime_ns == before  # complete: not written again
    store = FeatureStore.open(a)
    x1, _, _ = next(iter(unit_loader(store, "train", 4, seed=0)))
    assert x1.shape == (4, 32, 28) and torch.isfinite(x1).all()
    pool = store.pose_normaliser.normalise(store.pool[:])
    assert abs(float(pool.mean())) < 0.05 and abs(float(pool.std()) - 1) < 0.05
