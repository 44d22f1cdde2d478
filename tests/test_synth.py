"""Tests of d2mlib.synth: the synthetic dance world."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

from d2mlib import beats, config, skeleton, synth
from d2mlib.errors import ConfigError
from d2mlib.synth import body, dance, music

SMOKE = synth.synth_preset("smoke")


def _all_clips(config: synth.SynthConfig) -> list[synth.Clip]:
    return [clip for batch in synth.generate_clips(config) for clip in batch]


@pytest.fixture(scope="module")
def smoke_clips() -> list[synth.Clip]:
    return _all_clips(SMOKE)


def _hit_rate(kinematic: np.ndarray, beat_frames: np.ndarray, tolerance: float) -> float:
    """Fraction of kinematic beats (frames) within `tolerance` frames of some beat."""
    if len(kinematic) == 0 or len(beat_frames) == 0:
        return 0.0
    gaps = np.abs(np.asarray(kinematic, float)[:, None] - np.asarray(beat_frames)[None, :])
    return float(np.mean(gaps.min(axis=1) <= tolerance))


def _speed_and_spread(clip: synth.Clip) -> tuple[float, float]:
    """Mean joint speed and mean per-joint spread, in dancer heights (per second)."""
    height = clip.meta["dancer"]["height"]
    speed = skeleton.joint_speed(clip.poses).mean() / height
    spread = clip.poses.std(axis=0).mean() / height
    return float(speed), float(spread)


# ----------------------------------------------------------------------------- config


def test_presets_have_the_documented_sizes() -> None:
    smoke, book, large = (synth.synth_preset(n) for n in ("smoke", "book", "large"))
    assert 12 <= smoke.clips_per_style * len(synth.STYLES) <= 60
    assert book.clips_per_style >= 600
    assert large.clips_per_style >= 3 * book.clips_per_style
    assert book.units_per_clip == 4 and book.frames_per_clip == 128
    assert book.samples_per_clip == 128 * 1470
    assert 0 < book.ambiguity < 0.5


def test_unknown_preset_and_bad_fields_raise_config_errors_naming_them() -> None:
    with pytest.raises(ConfigError, match="nope"):
        synth.synth_preset("nope")
    with pytest.raises(ConfigError, match="ambiguity"):
        synth.SynthConfig(ambiguity=1.5)
    with pytest.raises(ConfigError, match="clips_per_video"):
        synth.SynthConfig(clips_per_video=0)
    with pytest.raises(ConfigError, match="style"):
        synth.style_clip("tango", 0)


def test_styles_match_the_data_module_order() -> None:

    assert synth.STYLES == config.STYLES == ("ballet", "zumba", "hiphop")


# ----------------------------------------------------------------------------- clips


def test_smoke_clips_have_the_right_shapes_dtypes_and_names(smoke_clips) -> None:
    assert len(smoke_clips) == SMOKE.clips_per_style * len(synth.STYLES)
    frames = SMOKE.frames_per_clip
    for clip in smoke_clips:
        assert clip.poses.shape == (frames, 14, 2) and clip.poses.dtype == np.float32
        assert clip.wav.shape == (frames * 1470,) and clip.wav.dtype == np.float32
        assert re.fullmatch(rf"{clip.style}_v\d{{4}}", clip.video)
        assert clip.clip.isdigit()
        bt = np.asarray(clip.beat_times)
        assert np.all(np.diff(bt) > 0) and bt[0] >= 0 and bt[-1] < frames / 15
        assert np.allclose(np.diff(bt), 60.0 / clip.tempo)
        json.dumps(clip.meta)  # serialisable as is
        assert clip.meta["world_version"] == synth.WORLD_VERSION
        for truth in ("energy", "section", "amplitude"):
            assert len(clip.meta[truth]) == frames, truth
        assert set(clip.sections) <= set(synth.SECTIONS)
        assert np.all((clip.energy > 0) & (clip.energy <= 1))
        downbeats = np.asarray(clip.meta["downbeat_times"])
        assert np.abs(downbeats[:, None] - bt[None, :]).min(axis=1).max() < 1e-5  # on beats
        assert clip.meta["style"] == clip.style and clip.meta["clip"] == clip.clip
    counts = {s: sum(c.style == s for c in smoke_clips) for s in synth.STYLES}
    assert counts == {s: SMOKE.clips_per_style for s in synth.STYLES}


def test_clips_of_a_video_are_consecutive_pieces_with_one_dancer(smoke_clips) -> None:
    clips = [c for c in smoke_clips if c.video == smoke_clips[0].video]
    assert [c.clip for c in clips] == [str(i) for i in range(SMOKE.clips_per_video)]
    seconds = SMOKE.frames_per_clip / 15
    for a, b in zip(clips[:-1], clips[1:], strict=True):
        assert a.meta["dancer"] == b.meta["dancer"] and a.meta["key"] == b.meta["key"]
        assert b.meta["start_seconds"] == pytest.approx(a.meta["start_seconds"] + seconds)
        # the beat grid runs on across the cut (at the tempo of the clip before it)
        step = b.beat_times[0] + seconds - a.beat_times[-1]
        assert step == pytest.approx(60.0 / a.tempo)
        # the dance runs on too: the jump across the cut is like a jump within a clip
        across = np.abs(b.poses[0] - a.poses[-1]).max()
        within = np.abs(np.diff(a.poses, axis=0)).max()
        assert across <= within + 1.0


def test_generation_is_deterministic_and_does_not_depend_on_batching(smoke_clips) -> None:
    other = _all_clips(dataclasses.replace(SMOKE, videos_per_batch=1))
    assert len(other) == len(smoke_clips)
    for a, b in zip(smoke_clips, other, strict=True):
        assert (a.style, a.video, a.clip) == (b.style, b.video, b.clip)
        assert np.array_equal(a.poses, b.poses) and np.array_equal(a.wav, b.wav)
        assert np.array_equal(a.beat_times, b.beat_times) and a.meta == b.meta
    one = synth.style_clip("hiphop", 5, seconds=3.0)
    again = synth.style_clip("hiphop", 5, seconds=3.0)
    assert np.array_equal(one.poses, again.poses) and np.array_equal(one.wav, again.wav)


def test_different_seeds_give_different_clips(smoke_clips) -> None:
    other = _all_clips(dataclasses.replace(SMOKE, seed=1, clips_per_style=3))
    first = next(
        c for c in smoke_clips if (c.style, c.video, c.clip) == ("ballet", "ballet_v0000", "0")
    )
    assert (other[0].style, other[0].video, other[0].clip) == ("ballet", "ballet_v0000", "0")
    assert not np.allclose(first.poses, other[0].poses)
    assert not np.allclose(first.wav, other[0].wav)
    a, b = synth.style_clip("zumba", 1), synth.style_clip("zumba", 2)
    assert a.tempo != b.tempo and not np.allclose(a.wav, b.wav)


def test_poses_are_finite_and_on_the_canvas(smoke_clips) -> None:
    margin = 48.0
    for clip in smoke_clips:
        skeleton.check_poses(clip.poses)  # raises on NaN or a bad shape
        x, y = clip.poses[..., 0], clip.poses[..., 1]
        assert x.min() > -margin and x.max() < skeleton.CANVAS_WIDTH + margin
        assert y.min() > -margin and y.max() < skeleton.CANVAS_HEIGHT + margin
        # an upright dancer: the nose is above the neck, the neck above the ankles
        assert np.all(clip.poses[:, 0, 1] < clip.poses[:, 1, 1])
        assert np.all(clip.poses[:, 1, 1] < clip.poses[:, [10, 13], 1].max(axis=1))


def test_music_is_finite_bounded_and_audible(smoke_clips) -> None:
    for clip in smoke_clips:
        assert np.all(np.isfinite(clip.wav)) and np.abs(clip.wav).max() <= 1.0
        rms = float(np.sqrt(np.mean(clip.wav.astype(np.float64) ** 2)))
        assert 0.01 < rms < 0.5


def test_style_clip_makes_a_clip_of_any_length_with_the_asked_traits() -> None:
    clip = synth.style_clip("ballet", 3, seconds=3.0, tempo=100.0)
    assert clip.poses.shape == (45, 14, 2) and clip.wav.shape == (45 * 1470,)
    assert clip.tempo == 100.0 and np.allclose(np.diff(clip.beat_times), 0.6)
    short = synth.style_clip("zumba", 0, seconds=0.2)
    assert short.poses.shape == (3, 14, 2) and short.wav.shape == (3 * 1470,)
    mixed = synth.style_clip("ballet", 3, borrow={"rhythm": "hiphop", "instruments": "hiphop"})
    assert mixed.meta["borrowed"] == {"rhythm": "hiphop", "instruments": "hiphop"}
    assert mixed.meta["traits_from"] == {
        "tempo": "ballet",
        "rhythm": "hiphop",
        "instruments": "hiphop",
    }
    assert mixed.meta["swing"] > 0.5  # hip-hop swings
    with pytest.raises(ConfigError, match="borrow"):
        synth.style_clip("ballet", 3, borrow={"melody": "zumba"})


# ----------------------------------------------------------------------------- music traits


def test_tempo_comes_from_the_range_of_the_style_it_was_drawn_from() -> None:
    config = dataclasses.replace(
        SMOKE, clips_per_style=15, clips_per_video=1, units_per_clip=1, ambiguity=0.5
    )
    clips = _all_clips(config)
    for clip in clips:
        source = clip.meta["traits_from"]["tempo"]
        lo, hi = synth.TEMPO_RANGES[source]
        assert lo <= clip.tempo <= hi
        assert (source == clip.style) == ("tempo" not in clip.meta["borrowed"])
    own = [c.tempo for c in clips if c.style == "zumba" and "tempo" not in c.meta["borrowed"]]
    assert own and min(own) >= synth.TEMPO_RANGES["zumba"][0]
    meters = {c.meta["meter"] for c in clips if c.meta["traits_from"]["rhythm"] == "ballet"}
    assert meters <= {3, 4}


def test_ambiguity_sets_the_fraction_of_clips_that_borrow() -> None:
    def borrowing(ambiguity: float, **dials: object) -> list[dict[str, str]]:
        config = dataclasses.replace(
            SMOKE, clips_per_style=12, units_per_clip=1, ambiguity=ambiguity, **dials
        )
        return [c.meta["borrowed"] for c in _all_clips(config)]

    none, half, every = borrowing(0.0), borrowing(0.5), borrowing(1.0)
    assert not any(none)
    assert all(every)
    assert sum(bool(b) for b in half) == 3 * 6  # exactly half of each style's 12 clips
    for borrowed in every:
        assert 1 <= len(borrowed) <= 2 and set(borrowed) <= set(synth.TRAITS)
        assert len(set(borrowed.values())) == 1  # from one other style
    styles = [s for s in synth.STYLES for _ in range(12)]
    assert all(s not in b.values() for s, b in zip(styles, every, strict=True))
    # the borrowable dial: only rhythm may be borrowed
    assert all(set(b) == {"rhythm"} for b in borrowing(1.0, borrowable=("rhythm",)))
    with pytest.raises(ConfigError, match="borrowable"):
        synth.SynthConfig(borrowable=("melody",))


def test_clips_of_one_video_differ_in_ambiguity_and_splits_hold_comparable_shares() -> None:
    from d2mlib.data import split_by_video

    config = dataclasses.replace(SMOKE, clips_per_style=100, clips_per_video=5, units_per_clip=1)
    clips = _all_clips(config)
    table = pd.DataFrame(
        {
            "style": [c.style for c in clips],
            "video": [c.video for c in clips],
            "ambiguous": [bool(c.meta["borrowed"]) for c in clips],
        }
    )
    per_video = table.groupby(["style", "video"])["ambiguous"].sum()
    # 0.25 of 5 clips: every video holds one or two borrowing clips, never all or none
    assert set(per_video) == {1, 2}
    table["split"] = split_by_video(table)
    share = table.groupby("split")["ambiguous"].mean()
    # so any split's share lies between 1/5 and 2/5 (the first world's ranged from 0 to 1)
    assert np.all((share >= 0.2) & (share <= 0.4)), share


# ----------------------------------------------------------------------------- dance


def test_each_style_has_at_least_six_distinct_movements() -> None:
    rng = np.random.default_rng(0)
    for style in synth.STYLES:
        names = synth.movement_names(style)
        assert len(names) >= 6 and len(set(names)) == len(names)
        for move in synth.MOVEMENTS[style]:
            keys = move.keys(8, rng, synth.base_pose(style), 1.0)
            assert keys.shape == (8, 15) and np.all(np.isfinite(keys))
            assert np.abs(np.diff(keys, axis=0)).max() > 0.1  # it moves
            assert move.ease[0] > 1 and move.ease[1] > 1  # velocity zero at keyframes


def test_zumba_moves_faster_than_hiphop_and_hiphop_faster_than_ballet() -> None:
    stats = {
        style: np.array([_speed_and_spread(synth.style_clip(style, seed)) for seed in range(8)])
        for style in synth.STYLES
    }
    speed = {s: v[:, 0].mean() for s, v in stats.items()}
    spread = {s: v[:, 1].mean() for s, v in stats.items()}
    assert speed["zumba"] > 1.5 * speed["hiphop"]
    assert speed["hiphop"] > speed["ballet"]
    # amplitude is drawn alike for every style: the spreads overlap (within 25% of each other)
    assert max(spread.values()) < 1.25 * min(spread.values()), spread
    names = {s: set() for s in synth.STYLES}
    for style in synth.STYLES:
        for seed in range(8):
            names[style] |= set(synth.style_clip(style, seed, seconds=2.0).meta["movements"])
    for style in synth.STYLES:
        assert names[style] <= set(synth.movement_names(style)) and len(names[style]) >= 4


def test_kinematic_beats_fall_on_the_music_beats(smoke_clips) -> None:
    for style in synth.STYLES:
        hits, counts = [], []
        for clip in (c for c in smoke_clips if c.style == style):
            kin = beats.kinematic_beats(clip.poses)
            hits.append(_hit_rate(kin, clip.beat_frames, 1.0))
            counts.append(len(kin) / len(clip.beat_times))
        assert np.mean(hits) >= 0.8, (style, hits)
        # zumba moves on every beat; ballet glides and hip-hop freezes over some
        assert np.mean(counts) >= {"ballet": 0.45, "zumba": 0.85, "hiphop": 0.7}[style]


def test_a_dance_off_its_music_misses_the_beats() -> None:
    clip = synth.style_clip("hiphop", 11)
    kin = beats.kinematic_beats(clip.poses)
    period = 15 * 60 / clip.tempo
    assert _hit_rate(kin, clip.beat_frames, 1.0) >= 0.8
    assert _hit_rate(kin, clip.beat_frames + period / 2, 1.0) < 0.4


@pytest.mark.slow
def test_librosa_beats_of_the_music_match_its_own_dance_better_than_another() -> None:
    from d2mlib import audio

    book = synth.synth_preset("book")
    clips = [
        c for c in _all_clips(dataclasses.replace(book, clips_per_style=10)) if c.clip in ("1", "3")
    ]
    assert len(clips) == 12
    kin = [beats.kinematic_beats(c.poses) for c in clips]
    tracked = [audio.beats(c.wav).times * 15 for c in clips]
    true = np.mean([_hit_rate(k, b, 2.0) for k, b in zip(kin, tracked, strict=True)])
    n = len(clips)
    mismatched = np.mean([_hit_rate(kin[i], tracked[(i + 5) % n], 2.0) for i in range(n)])
    assert true >= 0.75
    assert true >= mismatched + 0.2, (true, mismatched)


# ----------------------------------------------------------------------------- music shapes the dance


def test_sections_select_the_movement_family() -> None:
    rng = np.random.default_rng(0)
    tl = music.build_timeline([100.0] * 4, [4] * 4, 128 / 15, 0.1, rng)
    dancer = body.draw_dancer(rng)
    tempo_of = np.full(len(tl.beats), 100.0)
    for style in synth.STYLES:
        done = dance.render_dance(style, tl, tempo_of, dancer, 4 * 128, rng, 0.0)
        family = {m.name: m.family for m in synth.MOVEMENTS[style]}
        sections = []
        for start, _, name in done.segments:
            section = synth.SECTIONS[tl.bar_section[tl.bar_at(np.array([start + 1e-6]))[0]]]
            assert family[name] == ("big" if section == "chorus" else "groove"), (style, name)
            sections.append(section)
        assert set(sections) == set(synth.SECTIONS)


def test_energy_sets_the_dance_speed_and_the_music_loudness_within_a_clip(smoke_clips) -> None:
    from d2mlib import audio

    faster, louder = [], []
    for clip in smoke_clips:
        sections = np.array(clip.sections)
        chorus, brk = sections == "chorus", sections == "break"
        if chorus.sum() < 8 or brk.sum() < 8:
            continue
        speed = skeleton.joint_speed(clip.poses)
        faster.append(speed[chorus].mean() > speed[brk].mean())
        energy = audio.features(clip.wav)[:, 13]  # log frame energy
        louder.append(energy[chorus].mean() > energy[brk].mean())
    assert len(faster) >= 10
    assert np.mean(faster) >= 0.9 and np.mean(louder) >= 0.9, (faster, louder)


@pytest.fixture(scope="module")
def mid_world() -> list:
    """A 600-clip world (40 videos a style) as the card sees it: units, features, true beats."""
    from d2mlib import audio
    from d2mlib.card import CardClip
    from d2mlib.data import split_by_video

    config = dataclasses.replace(synth.synth_preset("book"), clips_per_style=200)
    clips = _all_clips(config)
    videos = pd.DataFrame({"style": [c.style for c in clips], "video": [c.video for c in clips]})
    splits = split_by_video(videos).to_numpy()
    feats = audio.features(np.stack([c.wav for c in clips])).astype(np.float64)
    return [
        CardClip(
            c.style,
            c.video,
            split,
            np.arange(4),
            c.poses.reshape(4, 32, 14, 2).astype(np.float64),
            f,
            dict(c.meta, beat_times=list(c.beat_times)),
        )
        for c, f, split in zip(clips, feats, splits, strict=True)
    ]


def test_posture_alone_is_near_chance_while_the_music_drives_the_movement(mid_world) -> None:
    from d2mlib.card import describe_clips

    card = describe_clips(mid_world).set_index(["quantity", "style"])["value"]
    # chance is 1/3; the first world's book data scored 0.87 here
    assert card[("posture_style_accuracy", "all")] <= 0.45
    for style in (*synth.STYLES, "all"):
        same = card[("music_movement_dependence", style)]
        shuffled = card[("music_movement_dependence_shuffled", style)]
        assert same >= shuffled + 0.3 and abs(shuffled) < 0.1, (style, same, shuffled)
    assert card[("beat_hit_rate", "all")] >= 0.9  # against the world's true beats


# ----------------------------------------------------------------------------- the dataset's world


def _tree(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_dataset_written_by_an_older_world_is_regenerated_not_skipped(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from d2mlib import cli, data

    out = tmp_path / "smoke"
    assert cli.main(["data", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    marker = out / data.MARKER
    assert json.loads(marker.read_text())["world"] == synth.WORLD_VERSION
    assert data.dataset_complete(out) is not None
    capsys.readouterr()
    assert cli.main(["data", "--preset", "smoke", "--out", str(out), "--if-missing"]) == 0
    assert "nothing to do" in capsys.readouterr().out  # the current world: skipped
    first = _tree(out)
    marker.write_text(json.dumps({"preset": "smoke", "seed": 0}))  # as the first world wrote it
    assert data.dataset_complete(out) is None
    assert (
        cli.main(["data", "--preset", "smoke", "--out", str(out), "--if-missing", "--quiet"]) == 0
    )
    assert json.loads(marker.read_text())["world"] == synth.WORLD_VERSION  # written again
    assert _tree(out) == first  # same seed, same bytes
    marker.write_text(json.dumps({"preset": "smoke", "seed": 0}))
    assert data.ensure_dataset(out, "smoke", 0, progress=False) == out
    assert json.loads(marker.read_text())["world"] == synth.WORLD_VERSION
