"""Composing a dance for a piece of music, and beat warping.

`DanceGenerator.compose` (or `compose_dance`) takes music (an audio file, a
waveform, or a `Music` holding precomputed features and beats), a trained
composition run and a seed; it extracts features and
beats, predicts the music's style, samples an initial pose (or takes one),
composes dance units in windows of 3 and chains the windows (each starts
from the last pose of the previous one), and can warp the timing so that the
dance's kinematic beats land on the music's beats.

Two bugs of the original demo are avoided here and tested: it passed beat
times in seconds to a warper that expects frame indices, and it composed a
dance about three times longer than the song. Here beats are converted to
frames at 15 fps before warping, and the dance is trimmed to the music.

`warp_to_beats` (explicit beat pairs) and `align_to_beats` (find the
kinematic beats, pair them with the music's, warp) are pure numpy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from d2mlib import skeleton
from d2mlib.errors import ConfigError, DataError
from d2mlib.skeleton import FPS, UNIT_FRAMES

WINDOW_UNITS = 3  # units composed together, as in the original demo
DEFAULT_MAX_SHIFT = 4  # frames a kinematic beat may move when warping (0.27 s at 15 fps)


# --------------------------------------------------------------------------- beat warping


def seconds_to_frames(times: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Beat times in seconds -> nearest frame indices at `fps` (the unit the warper expects)."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(times)):
        raise DataError("beat times hold NaN or infinite values")
    return np.rint(times * fps).astype(np.int64)


def _pairs_to_anchors(
    source: np.ndarray, target: np.ndarray, n_src: int, n_out: int
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor lists (output frame -> source frame), strictly increasing, with both ends pinned."""
    source = np.asarray(source, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if source.shape != target.shape:
        raise DataError(f"need as many source as target beats, got {source.size} and {target.size}")
    keep = (source > 0) & (source < n_src - 1) & (target > 0) & (target < n_out - 1)
    source, target = source[keep], target[keep]
    order = np.argsort(target, kind="stable")
    source, target = source[order], target[order]
    anchors_out, anchors_src = [0.0], [0.0]
    for s, t in zip(source, target, strict=True):
        if t > anchors_out[-1] and s > anchors_src[-1]:
            anchors_out.append(float(t))
            anchors_src.append(float(s))
    anchors_out.append(float(n_out - 1))
    anchors_src.append(float(n_src - 1))
    return np.asarray(anchors_out), np.asarray(anchors_src)


def warp_to_beats(
    poses: np.ndarray,
    source_frames: np.ndarray,
    target_frames: np.ndarray,
    n_frames: int | None = None,
) -> np.ndarray:
    """Time-warp poses (T, 14, 2) so frame source_frames[i] moves to target_frames[i].

    The map from output time to source time is piecewise linear through the
    pairs, with the first and last frames pinned; pairs that would make it
    non-monotone (or sit on an end) are dropped. Poses between frames are
    interpolated linearly. Returns `n_frames` (default T) poses.
    """
    poses = skeleton.check_poses(poses)
    if poses.ndim != 3:
        raise DataError(f"warp_to_beats takes one dance (T, 14, 2), got {poses.shape}")
    n_src = poses.shape[0]
    n_out = n_src if n_frames is None else int(n_frames)
    if n_src < 2 or n_out < 2:
        return poses[np.linspace(0, n_src - 1, max(n_out, 0)).round().astype(int)]
    out_t, src_t = _pairs_to_anchors(source_frames, target_frames, n_src, n_out)
    u = np.interp(np.arange(n_out, dtype=np.float64), out_t, src_t)
    lo = np.clip(np.floor(u).astype(np.int64), 0, n_src - 1)
    hi = np.minimum(lo + 1, n_src - 1)
    a = (u - lo).astype(np.float32)[:, None, None]
    return (poses[lo] * (1 - a) + poses[hi] * a).astype(np.float32)


def match_beats(
    kinematic: np.ndarray, music: np.ndarray, max_shift: float = DEFAULT_MAX_SHIFT
) -> tuple[np.ndarray, np.ndarray]:
    """Pair kinematic beats with music beats (frames) at most `max_shift` apart, one-to-one, in order.

    Closest pairs are taken first; pairs that cross an earlier pair are dropped.
    Returns (source frames, target frames), sorted.
    """
    kin = np.asarray(kinematic, dtype=np.float64).reshape(-1)
    mus = np.asarray(music, dtype=np.float64).reshape(-1)
    if kin.size == 0 or mus.size == 0:
        return np.zeros(0), np.zeros(0)
    dist = np.abs(kin[:, None] - mus[None, :])
    cand = np.argwhere(dist <= max_shift)
    cand = cand[np.argsort(dist[cand[:, 0], cand[:, 1]], kind="stable")]
    used_k: set[int] = set()
    used_m: set[int] = set()
    pairs: list[tuple[float, float]] = []
    for i, j in cand:
        if i in used_k or j in used_m:
            continue
        if any((kin[i] - s) * (mus[j] - t) <= 0 for s, t in pairs):
            continue
        used_k.add(int(i))
        used_m.add(int(j))
        pairs.append((kin[i], mus[j]))
    pairs.sort()
    if not pairs:
        return np.zeros(0), np.zeros(0)
    src, tgt = np.asarray(pairs).T
    return src, tgt


def align_to_beats(
    poses: np.ndarray,
    beat_frames: np.ndarray,
    max_shift: float = DEFAULT_MAX_SHIFT,
    min_motion: float = 5.0,
) -> np.ndarray:
    """Beat warping: move the dance's kinematic beats onto the music's beats (frame indices).

    Kinematic beats are `skeleton.kinematic_beats`; each is paired with a
    music beat at most `max_shift` frames away (`match_beats`), and the dance
    is warped through the pairs (`warp_to_beats`). Length is unchanged.
    """
    poses = skeleton.check_poses(poses)
    beat_frames = np.asarray(beat_frames)
    if (
        beat_frames.size
        and not np.issubdtype(beat_frames.dtype, np.integer)
        and np.any(np.abs(beat_frames - np.rint(beat_frames)) > 1e-6)
    ):
        raise DataError(
            "beat_frames must be frame indices; convert seconds with seconds_to_frames()"
        )
    kin = skeleton.kinematic_beats(poses, FPS, min_motion=min_motion)
    src, tgt = match_beats(kin, beat_frames, max_shift)
    return warp_to_beats(poses, src, tgt)


# --------------------------------------------------------------------------- the dance


@dataclass(frozen=True, eq=False)
class Dance:
    """A composed dance: poses (frames, 14, 2) pixels at 15 fps, trimmed to the music."""

    poses: np.ndarray = field(repr=False)
    beat_times: np.ndarray = field(repr=False)  # the music's beats, seconds
    style_probs: np.ndarray  # (3,) probabilities over data.STYLES
    style: str  # the predicted style
    seed: int
    duration: float  # seconds of music
    warped: bool = False
    seconds: float = 0.0  # compute time spent composing (audio features and beats excluded)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.poses.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write the dance as .npz (poses, beat_times, style, style_probs, seed) atomically."""
        import io

        from d2mlib._io import write_bytes

        buf = io.BytesIO()
        np.savez(
            buf,
            poses=self.poses.astype(np.float32),
            beat_times=np.asarray(self.beat_times, dtype=np.float64),
            style=np.asarray(self.style),
            style_probs=np.asarray(self.style_probs, dtype=np.float32),
            seed=np.asarray(self.seed, dtype=np.int64),
        )
        path = Path(path)
        write_bytes(path, buf.getvalue())
        return path


def _check_seconds(value: float, name: str) -> float:
    if not np.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def n_frames_for(duration: float, fps: float = FPS) -> int:
    """Frames of a dance covering `duration` seconds of music at `fps`."""
    return int(np.floor(_check_seconds(duration, "duration") * fps + 1e-6))


def n_units_for(n_frames: int, window: int = WINDOW_UNITS) -> int:
    """Units to compose for `n_frames` frames: a whole number of windows, at least one."""
    units = max(1, -(-n_frames // UNIT_FRAMES))
    return window * -(-units // window)


# --------------------------------------------------------------------------- the generator


@dataclass(frozen=True, eq=False)
class Music:
    """Music ready for composing: audio features at 15 fps and beat times (s)."""

    features: np.ndarray = field(repr=False)  # (frames, 28) as audio.features gives them
    beat_times: np.ndarray = field(repr=False)
    duration: float
    source: str = ""


def load_music(
    music: str | Path | np.ndarray | Music, beat_times: np.ndarray | None = None
) -> Music:
    """Audio file path or mono waveform (22050 Hz) -> Music (features and beats).

    `beat_times` (seconds) replaces the tracked beats (e.g. a synthetic clip's true beats).
    """
    from d2mlib import audio

    if isinstance(music, Music):
        if beat_times is None:
            return music
        return Music(
            music.features, np.asarray(beat_times, np.float64), music.duration, music.source
        )
    if isinstance(music, str | Path):
        y = audio.load_audio(music)
        source = str(music)
    else:
        y = np.asarray(music, dtype=np.float32)
        if y.ndim != 1:
            raise DataError(f"a waveform must have shape (N,), got {y.shape}")
        source = "waveform"
    feats = audio.features(y)
    if len(feats) == 0:
        raise DataError(f"music too short: {len(y)} samples give no feature frame", source)
    beats = audio.beats(y).times if beat_times is None else beat_times
    return Music(
        feats,
        np.asarray(beats, np.float64),
        float(len(feats) / audio.FPS),
        source,
    )


class DanceGenerator:
    """A trained style extractor, composer and dance-unit VAE, ready to compose dances."""

    def __init__(
        self,
        style: Any,
        composer: Any,
        dance_unit: Any,
        stats: dict[str, Any],
        cfg: Any = None,
        device: str = "cpu",
        description: str = "",
    ) -> None:
        from d2mlib.train import resolve_device

        self.device = resolve_device(device)
        self.style = style.to(self.device).eval()
        self.composer = composer.to(self.device).eval()
        self.dance_unit = dance_unit.to(self.device).eval()
        self.pose_normaliser = skeleton.Normaliser(
            np.asarray(stats["pose_mean"]), np.asarray(stats["pose_std"])
        )
        self.audio_mean = np.asarray(stats["audio_mean"], np.float32)
        self.audio_std = np.asarray(stats["audio_std"], np.float32)
        self.cfg = cfg
        self.description = description

    @classmethod
    def from_run(cls, path: str | Path, device: str = "auto") -> DanceGenerator:
        """Load a finished composition run (and the style and decomp runs beside it)."""
        from d2mlib import train

        modules, cfg = train.load_run(path, device=device)
        if "composer" not in modules:
            raise ConfigError(f"not a composition run (modules: {sorted(modules)})", path)
        stats = {k: v.numpy() for k, v in modules["stats"].items()}
        return cls(
            modules["style"],
            modules["composer"],
            modules["dance_unit"],
            stats,
            cfg,
            device,
            description=str(Path(path)),
        )

    @classmethod
    def from_runs(cls, runs_dir: str | Path, device: str = "auto") -> DanceGenerator:
        """Load the newest finished composition run under `runs_dir`."""
        from d2mlib import train
        from d2mlib.errors import CheckpointError

        runs_dir = Path(runs_dir)
        if not runs_dir.is_dir():
            raise CheckpointError("runs directory not found", runs_dir)
        run = train.find_run(runs_dir, "comp")
        if run is None:
            raise CheckpointError(
                "no finished composition run here; train one with `d2m train comp`", runs_dir
            )
        return cls.from_run(run.path, device)

    def describe(self) -> str:
        """Where the models came from."""
        return self.description or "untrained models"

    def initial_pose(
        self, seed: int, spread: float = 1.0, pose: np.ndarray | None = None
    ) -> np.ndarray:
        """The initial pose (14, 2) in pixels: `pose` itself, or decoded from z_init ~ N(0, spread^2)."""
        import torch

        if pose is not None:
            return skeleton.check_poses(np.asarray(pose, np.float32).reshape(14, 2), "initial pose")
        pose_seed = int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])
        gen = torch.Generator(device=self.device).manual_seed(pose_seed)
        with torch.no_grad():
            vec = self.dance_unit.sample_initial_pose(1, _check_seconds(spread, "spread"), gen)
        return self.pose_normaliser.denormalise(vec.cpu().numpy()[0])

    def compose(
        self,
        music: str | Path | np.ndarray | Music,
        seed: int = 0,
        init_pose: np.ndarray | None = None,
        init_spread: float = 1.0,
        warp: bool = True,
        beat_times: np.ndarray | None = None,
        max_shift: float = DEFAULT_MAX_SHIFT,
        threads: int | None = None,
    ) -> Dance:
        """Compose a dance as long as the music (see the module docstring).

        `init_pose` (14, 2) pixels fixes the first pose; otherwise it is decoded
        from z_init ~ N(0, init_spread^2). `beat_times` (s) replaces the music's
        tracked beats; `warp` moves kinematic beats onto them (at most
        `max_shift` frames). `threads` sets torch's CPU threads for this call
        only (1 is fastest for these small sequential models on a busy CPU).
        """
        import torch

        if threads is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(int(threads))
            try:
                return self.compose(
                    music, seed, init_pose, init_spread, warp, beat_times, max_shift, None
                )
            finally:
                torch.set_num_threads(before)

        from d2mlib.data import STYLES

        music = load_music(music, beat_times)
        t0 = time.perf_counter()
        n_frames = len(music.features)
        n_units = n_units_for(n_frames)
        total = n_units * UNIT_FRAMES
        feats = (np.asarray(music.features, np.float32) - self.audio_mean) / self.audio_std
        padded = np.pad(feats, ((0, total - n_frames), (0, 0)), mode="edge")
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        pose0 = self.initial_pose(seed, init_spread, init_pose)
        with torch.no_grad():
            song = torch.from_numpy(padded).to(self.device)
            windows = song.view(n_units // WINDOW_UNITS, WINDOW_UNITS * UNIT_FRAMES, -1)
            probs = torch.softmax(self.style.logits(song[None, :n_frames]), -1)[0]
            codes = self.style.code(windows)  # one style code per window of 3 units
            z_mov = self.composer.generate(codes, windows, WINDOW_UNITS, generator=gen)
            z_mov = z_mov.reshape(n_units, -1)
            pose = torch.from_numpy(self.pose_normaliser.normalise(pose0)).to(self.device)[None]
            units = []
            for k in range(n_units):  # each unit starts from the last pose of the previous
                z_init = self.dance_unit.init_enc(pose).mu
                unit = self.dance_unit.decode(z_init, z_mov[k : k + 1])
                units.append(unit)
                pose = unit[:, -1]
            vectors = torch.cat(units, dim=1)[0, :n_frames].cpu().numpy()
        poses = self.pose_normaliser.denormalise(vectors)
        if warp and len(music.beat_times):
            poses = align_to_beats(poses, seconds_to_frames(music.beat_times), max_shift)
        probs_np = probs.cpu().numpy().astype(np.float32)
        return Dance(
            poses=poses.astype(np.float32),
            beat_times=np.asarray(music.beat_times, np.float64),
            style_probs=probs_np,
            style=STYLES[int(np.argmax(probs_np))],
            seed=int(seed),
            duration=music.duration,
            warped=bool(warp and len(music.beat_times)),
            seconds=time.perf_counter() - t0,
            meta={"units": n_units, "initial_pose": pose0, "source": music.source},
        )


def compose_dance(
    music: str | Path | np.ndarray | Music,
    run: str | Path,
    seed: int = 0,
    **kwargs: Any,
) -> Dance:
    """Compose a dance for `music` with the composition run at `run` (see DanceGenerator.compose)."""
    return DanceGenerator.from_run(run).compose(music, seed=seed, **kwargs)


# --------------------------------------------------------------------------- chapters: reconstructions, held-out music


def reconstruct_units(
    dance_unit: Any, normaliser: skeleton.Normaliser, units: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Units (N, 32, 14, 2) pixels -> their reconstructions through the dance-unit VAE (posterior means)."""
    import torch

    units = skeleton.check_poses(units)
    if units.ndim != 4:
        raise DataError(f"reconstruct_units takes units (N, T, 14, 2), got {units.shape}")
    device = next(dance_unit.parameters()).device
    x = normaliser.normalise(units).astype(np.float32)
    out = []
    dance_unit.eval()
    with torch.no_grad():
        for lo in range(0, len(x), batch_size):
            chunk = torch.from_numpy(x[lo : lo + batch_size]).to(device)
            q_init, q_mov = dance_unit.encode(chunk)
            out.append(dance_unit.decode(q_init.mu, q_mov.mu).cpu().numpy())
    recon = np.concatenate(out) if out else x
    return normaliser.denormalise(recon).reshape(units.shape).astype(np.float32)


def split_clip_numbers(index: Any, style: str, split: str = "test") -> np.ndarray:
    """Numbers (within `style`, as widgets.clip_material counts them) of the clips in `split`."""
    clips = index.clips[index.clips["style"] == style].reset_index(drop=True)
    numbers = np.flatnonzero(clips["split"].to_numpy() == split)
    if numbers.size == 0:
        raise DataError(f"no {style} clip in the {split} split", getattr(index, "data_dir", None))
    return numbers


@dataclass(frozen=True, eq=False)
class HeldOutClip:
    """A clip of a held-out split: its real dance, its music and the music's true beats."""

    style: str
    name: str
    poses: np.ndarray = field(repr=False)  # (T, 14, 2) pixels, the real dance
    wav: np.ndarray | None = field(repr=False)  # mono waveform at 22050 Hz (None: no audio)
    beat_times: np.ndarray = field(repr=False)  # seconds

    def music(self) -> Music:
        """The clip's music (features and its true beats), ready for DanceGenerator.compose."""
        if self.wav is None:
            raise DataError(f"clip {self.name} has no audio file")
        return load_music(self.wav, self.beat_times)


def held_out_clips(
    index: Any, per_style: int, split: str = "test", styles: tuple[str, ...] | None = None
) -> list[HeldOutClip]:
    """The first `per_style` clips of each style in `split` (data.read_dataset's index)."""
    from d2mlib.data import STYLES
    from d2mlib.widgets import clip_material

    out = []
    for style in styles or STYLES:
        for number in split_clip_numbers(index, style, split)[: int(per_style)]:
            poses, wav, beats, name = clip_material(index, style, int(number))
            out.append(HeldOutClip(style, name, poses, wav, beats))
    return out
