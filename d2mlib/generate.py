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

import copy
import dataclasses
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from d2mlib import audio, skeleton
from d2mlib._io import write_bytes
from d2mlib.beats import DEFAULT_MAX_SHIFT, align_to_beats, seconds_to_frames
from d2mlib.config import STYLES, resolve_device
from d2mlib.errors import CheckpointError, ConfigError, DataError
from d2mlib.models.composer import WINDOW_UNITS
from d2mlib.models.style import oracle_codes
from d2mlib.skeleton import FPS, UNIT_FRAMES
from d2mlib.train.runs import find_run, load_run


@dataclass(frozen=True, eq=False)
class Dance:
    """A composed dance: poses (frames, 14, 2) pixels at 15 fps, trimmed to the music."""

    poses: np.ndarray = field(repr=False)
    beat_times: np.ndarray = field(repr=False)  # the music's beats, seconds
    style_probs: np.ndarray  # (classes,) probabilities over the run's dataset styles
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


def _run_styles(path: str | Path) -> tuple[str, ...]:
    """The dataset styles a run recorded in run.json (runs from before that: config.STYLES)."""
    try:
        info = json.loads((Path(path) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return STYLES
    names = info.get("dataset_styles") if isinstance(info, dict) else None
    return tuple(str(n) for n in names) if isinstance(names, list) and names else STYLES


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
        styles: tuple[str, ...] = STYLES,
    ) -> None:

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
        self.styles = tuple(styles)  # the style classifier's labels, in order

    @property
    def needs_style(self) -> bool:
        """Whether the composer reads the true style (an oracle run) instead of the music's."""
        return self.composer.cfg.style_source == "oracle"

    @classmethod
    def from_run(cls, path: str | Path, device: str = "auto") -> DanceGenerator:
        """Load a finished composition run (and the style and decomp runs beside it)."""

        modules, cfg = load_run(path, device=device)
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
            styles=_run_styles(path),
        )

    @classmethod
    def from_runs(cls, runs_dir: str | Path, device: str = "auto") -> DanceGenerator:
        """Load the newest finished composition run under `runs_dir`."""

        runs_dir = Path(runs_dir)
        if not runs_dir.is_dir():
            raise CheckpointError("runs directory not found", runs_dir)
        run = find_run(runs_dir, "comp")
        if run is None:
            raise CheckpointError(
                "no finished composition run here; train one with `d2m train comp`", runs_dir
            )
        return cls.from_run(run.path, device)

    def drawing_by(self, match: str) -> DanceGenerator:
        """This generator, sharing its models, with its bank composer drawing latents by `match`
        ("style": the music's style alone; "music": also each window's loudness curve; "fitted":
        from Gaussians fitted to the bank, moved by the loudness curve)."""
        cfg = self.composer.cfg
        if cfg.prior != "bank":
            raise ConfigError(f"{self.describe()}: only a bank composer draws latents by a match")
        drawn = dataclasses.replace(cfg, bank_match=match)  # refuses an unknown match
        if match != "style" and not hasattr(self.composer, "bank_key"):
            raise CheckpointError("this bank keeps no music keys to match", self.description)
        other = copy.copy(self)
        other.composer = copy.copy(self.composer)
        other.composer.cfg = drawn
        return other

    def style_name(self, label: int) -> str:
        """The name of style label `label` (the dataset's styles; "style <label>" past them)."""
        return self.styles[label] if 0 <= label < len(self.styles) else f"style {label}"

    def describe(self) -> str:
        """Where the models came from."""
        return self.description or "untrained models"

    def initial_pose(
        self, seed: int, spread: float = 1.0, pose: np.ndarray | None = None
    ) -> np.ndarray:
        """The initial pose (14, 2) in pixels: `pose` itself, or decoded from z_init ~ N(0, spread^2)."""

        if pose is not None:
            return skeleton.check_poses(np.asarray(pose, np.float32).reshape(14, 2), "initial pose")
        pose_seed = int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])
        gen = torch.Generator(device=self.device).manual_seed(pose_seed)
        with torch.no_grad():
            vec = self.dance_unit.sample_initial_pose(1, _check_seconds(spread, "spread"), gen)
        return self.pose_normaliser.denormalise(vec.cpu().numpy()[0])

    def _padded_song(self, features: np.ndarray) -> tuple[torch.Tensor, int]:
        """Audio features (frames, 28) -> normalised, edge-padded to whole windows of units
        (n_units * 32, 28) on the device, and n_units."""
        n_frames = len(features)
        n_units = n_units_for(n_frames)
        feats = (np.asarray(features, np.float32) - self.audio_mean) / self.audio_std
        padded = np.pad(feats, ((0, n_units * UNIT_FRAMES - n_frames), (0, 0)), mode="edge")
        return torch.from_numpy(padded).to(self.device), n_units

    def _decode_units(self, z_mov: torch.Tensor, pose0: np.ndarray, n_frames: int) -> np.ndarray:
        """Movement codes (n_units, z_m) -> poses (n_frames, 14, 2) pixels: each unit decoded
        from the last pose of the previous one, the first from `pose0` (pixels)."""
        pose = torch.from_numpy(self.pose_normaliser.normalise(pose0)).to(self.device)[None]
        units = []
        with torch.no_grad():
            for k in range(len(z_mov)):  # each unit starts from the last pose of the previous
                z_init = self.dance_unit.init_enc(pose).mu
                unit = self.dance_unit.decode(z_init, z_mov[k : k + 1], pose0=pose)
                units.append(unit)
                pose = unit[:, -1]
        vectors = torch.cat(units, dim=1)[0, :n_frames].cpu().numpy()
        return self.pose_normaliser.denormalise(vectors)

    def rebuild(self, poses: np.ndarray, features: np.ndarray, name: str = "dance") -> np.ndarray:
        """A real dance (frames, 14, 2) pixels with its music's features (frames, 28), rebuilt
        through the composer's own autoencoder: each window's true movement codes -> dance
        encoder -> dance latent (its mean) -> dance decoder, with the window's music -> codes,
        decoded from the dance's first pose as `compose` decodes. What the composer would reach
        if its music path found each window's own dance latent: the composer's ceiling."""

        poses = skeleton.check_poses(np.asarray(poses, np.float32), name)
        if poses.ndim != 3 or len(features) == 0:
            raise DataError(f"{name}: rebuild takes poses (frames, 14, 2) and their music")
        n_frames = min(len(poses), len(features))
        song, n_units = self._padded_song(features[:n_frames])
        total = n_units * UNIT_FRAMES
        real = np.pad(poses[:n_frames], ((0, total - n_frames), (0, 0), (0, 0)), mode="edge")
        x = torch.from_numpy(self.pose_normaliser.normalise(real).astype(np.float32))
        with torch.no_grad():
            _, q_mov = self.dance_unit.encode(x.to(self.device).view(n_units, UNIT_FRAMES, -1))
            windows = song.view(n_units // WINDOW_UNITS, WINDOW_UNITS * UNIT_FRAMES, -1)
            z_mov = self.composer.rebuild(q_mov, windows, WINDOW_UNITS).reshape(n_units, -1)
        return self._decode_units(z_mov, poses[0], n_frames)

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
        style: int | None = None,
    ) -> Dance:
        """Compose a dance as long as the music (see the module docstring).

        `init_pose` (14, 2) pixels fixes the first pose; otherwise it is decoded
        from z_init ~ N(0, init_spread^2). `beat_times` (s) replaces the music's
        tracked beats; `warp` moves kinematic beats onto them (at most
        `max_shift` frames). `threads` sets torch's CPU threads for this call
        only (1 is fastest for these small sequential models on a busy CPU). `style`
        (a label index) is the true style an oracle run composes to (`needs_style`); other
        runs hear the style in the music and ignore it.
        """

        if threads is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(int(threads))
            try:
                return self.compose(
                    music, seed, init_pose, init_spread, warp, beat_times, max_shift, None, style
                )
            finally:
                torch.set_num_threads(before)

        if self.needs_style and style is None:
            raise ConfigError(f"{self.description}: an oracle run composes to a given style=")
        music = load_music(music, beat_times)
        t0 = time.perf_counter()
        n_frames = len(music.features)
        song, n_units = self._padded_song(music.features)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        pose0 = self.initial_pose(seed, init_spread, init_pose)
        with torch.no_grad():
            windows = song.view(n_units // WINDOW_UNITS, WINDOW_UNITS * UNIT_FRAMES, -1)
            probs = torch.softmax(self.style.logits(song[None, :n_frames]), -1)[0]
            if self.needs_style:  # one style code per window of 3 units
                labels = torch.full((len(windows),), int(style), device=self.device)
                n_classes = self.style.cfg.num_classes
                codes = oracle_codes(labels, self.composer.cfg.style_dim, n_classes)
            else:  # a bank run draws latents of the style the whole song sounds like
                codes = self.style.code(windows)
                labels = probs.argmax().expand(len(windows))
            z_mov = self.composer.generate(codes, windows, WINDOW_UNITS, gen, labels)
            poses = self._decode_units(z_mov.reshape(n_units, -1), pose0, n_frames)
        if warp and len(music.beat_times):
            poses = align_to_beats(poses, seconds_to_frames(music.beat_times), max_shift)
        probs_np = probs.cpu().numpy().astype(np.float32)
        return Dance(
            poses=poses.astype(np.float32),
            beat_times=np.asarray(music.beat_times, np.float64),
            style_probs=probs_np,
            style=self.style_name(int(np.argmax(probs_np))),
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


def reconstruct_units(
    dance_unit: Any, normaliser: skeleton.Normaliser, units: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Units (N, 32, 14, 2) pixels -> their reconstructions through the dance-unit VAE (posterior means)."""

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
            out.append(dance_unit.decode(q_init.mu, q_mov.mu, pose0=chunk[:, 0]).cpu().numpy())
    recon = np.concatenate(out) if out else x
    return normaliser.denormalise(recon).reshape(units.shape).astype(np.float32)
