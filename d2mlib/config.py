"""Configuration: frozen dataclasses whose defaults are the paper's values, presets, YAML in and out.

Four presets, built from the defaults with `dataclasses.replace`: ``paper`` (the sizes of the
paper and of the original code), ``improved`` (``paper`` with the improved style extractor:
hidden 512, 2 layers, a 512 -> 30 linear so the code stays 30-d, dropout 0.3 twice in the
classifier head, 6 s windows instead of 2 s), ``book`` (scaled down to train in minutes on 2
CPU cores) and ``smoke`` (tiny, for tests); side by side (each recurrent layer by ``rnn``):

============================================================  ==========  ==========  ========
field                                                         paper       book        smoke
============================================================  ==========  ==========  ========
style.hidden / num_layers / window / code_dim                 30/1/30/30  30/1/30/30  8/1/30/8
dance_unit.init_hidden / z_init                               64/10       64/10       16/4
dance_unit.enc_hidden (bidirectional) / dec_hidden            1024        256         16
dance_unit.disc_hidden                                        1024        256         16
dance_unit.z_movement, composer.z_dance                       512         128         8
composer.dance_enc_hidden / dance_dec_hidden / disc_hidden    1024        256         16
composer.style_enc_hidden / zdisc_hidden / regressor_hidden   64/512/512  64/128/128  8/8/8
train_decomp.batch_size, train_comp.batch_size                256         32/16       8
train_decomp.lr, train_comp.lr                                2e-4/2e-4   3e-3/1e-3   2e-4/2e-4
train_decomp.steps, train_comp.steps                          100k/100k   3000/6400   4/4
dance_unit.kl_movement, composer.w_kl                         1/0.01      0/0         1/0.01
composer.w_kl_dance / w_dance_mmd / dec_sd_init (0: sd 1)     0.01/0/0    0/10/0.002  0.01/0/0
dance_unit.linear_path, composer.linear_path                  no          yes         no
composer.music_input / w_rhythm                               stats/0     loudness/10 stats/0
composer.w_mov_recon / w_seq_recon                            1/10        3/30        1/10
============================================================  ==========  ==========  ========

Small batches (the decomposition 32, the composer 16: the README says why) buy a 2-core build
its steps. With the paper's settings and a few thousand steps, the decomposition's rebuilt units
were damped and the composer's autoencoder rebuilt codes no better than their mean: ``book``
turns on the decomposition's motion switches (``enc_input``, ``dec_output``, ``dec_anchor``,
``dec_time_code``, ``w_velocity``, ``linear_path``: `models.dance_unit`) and the composer's
linear path, drops the KL on z_movement and on the dance latent, starts the composer's code sd
near the decomposition's (``dec_sd_init``), adds a kernel two-sample loss on the dance latents
(``w_dance_mmd``: `models.composer`) and a rhythm term with each unit's loudness curve
(`models.rhythm`), weights the composer's two reconstructions 3 times the paper's (the README:
what that changed), and trains both at higher rates on a cosine, at precision ``auto``
(bfloat16 where native). A loss weight of 0 switches its term off (`ablation`); the composer's
other switches: `models.composer`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from d2mlib._checks import check_choice, check_fields, check_positive
from d2mlib._io import write_text
from d2mlib.errors import ConfigError

STYLES: tuple[str, ...] = ("ballet", "zumba", "hiphop")  # dance styles, in label order
STAGES: tuple[str, ...] = ("style", "decomp", "comp")  # training stages, in training order
RNN_TYPES = ("gru", "lstm")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16", "auto")  # auto: bf16 where the hardware multiplies it natively
LR_SCHEDULES = ("constant", "cosine")
DEC_OUTPUTS = ("pose", "offset")
DEC_ANCHORS = ("decoded", "given")  # an offset unit's first pose: decoded, or the real one
ENC_INPUTS = ("pose", "relative")
STYLE_SOURCES = ("extractor", "oracle")  # what the composer reads as the music's style code
MUSIC_INPUTS = ("stats", "frames", "loudness")  # what it reads of each unit's music
CODE_INPUTS = ("mean", "gaussian")  # what its dance encoder and discriminator read of a code
CODE_ORDERS = ("sequence", "sorted", "pooled")  # the order its dance encoder reads the codes in
DANCE_VIEWS = ("same", "shifted")  # which frames its dance encoder reads (models.composer)
PRIORS = ("learned", "music", "bank")  # where a composed latent comes from (models.prior)
BANK_MATCHES = ("style", "music", "fitted")  # how a bank run picks a latent (models.composer)
PRESETS = ("paper", "improved", "book", "smoke")
ABLATIONS = ("no_style_regressor", "no_movement_alignment", "no_dance_alignment")


@dataclass(frozen=True)
class StyleConfig:
    """Music style extractor: a recurrent net over audio feature windows, a classifier head."""

    rnn: str = "gru"
    feature_dim: int = 28
    window: int = 30  # audio frames per window (15 fps)
    hidden: int = 30
    num_layers: int = 1
    code_dim: int = 30  # the style code the composer consumes
    project: bool = False  # improved: a hidden -> code_dim linear after the GRU
    head_hidden: int = 30  # 2-layer classifier head: code -> head_hidden -> classes
    dropout: float = 0.0  # improved: dropout before each head layer
    num_classes: int = 3

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice(self, "rnn", RNN_TYPES)
        check_positive(self, "feature_dim", "window", "hidden", "num_layers", "code_dim")
        check_positive(self, "head_hidden", "num_classes")
        if not self.project and self.hidden != self.code_dim:
            raise ConfigError(
                f"StyleConfig.code_dim must equal hidden ({self.hidden}) when project is false, "
                f"got {self.code_dim}"
            )
        if self.dropout >= 1:
            raise ConfigError(f"StyleConfig.dropout must be below 1, got {self.dropout}")


@dataclass(frozen=True)
class DanceUnitConfig:
    """Decomposition: initial-pose VAE, movement VAE, unit discriminator, and their loss weights."""

    rnn: str = "gru"
    pose_dim: int = 28
    unit_frames: int = 32
    init_hidden: int = 64  # initial-pose MLP width (LayerNorm, LeakyReLU 0.2)
    z_init: int = 10
    enc_hidden: int = 1024  # bidirectional movement encoder
    enc_layers: int = 1
    z_movement: int = 512
    dec_hidden: int = 1024
    dec_layers: int = 1
    disc_hidden: int = 1024  # unit discriminator MLP: h, h/2, h/4, 1
    w_kl: float = 0.01  # KL on z_init and z_movement, times the sigmoid warm-up
    kl_movement: float = 1.0  # z_movement's KL at this multiple of w_kl (0: an autoencoder)
    kl_warmup_center: int = 15000  # iteration where the warm-up reaches half the weight
    kl_warmup_rate: float = 0.0005
    w_init_recon: float = 1.0
    n_single_frames: int = 4  # random single frames also reconstructed by the initial-pose VAE
    w_unit_recon: float = 1.0
    w_cross_recon: float = 1.0
    w_mov_dist: float = 1.0  # the two jittered copies' movement codes close (L1)
    w_gan: float = 0.0  # unit discriminator; the original decomposition trains without it
    latent_dropout: float = 0.3
    grad_clip: float = 0.5
    dec_time_code: bool = False  # decoder input: z_movement only (paper), or plus a frame one-hot
    dec_output: str = "pose"  # decoder frames: "pose" (paper) or "offset" from the initial pose
    dec_anchor: str = "decoded"  # offsets added to: the pose decoded from z_init, or the given one
    enc_input: str = "pose"  # movement encoder reads: "pose" (paper) or "relative" to frame 0
    w_velocity: float = 0.0  # L1 on frame-to-frame differences of the reconstructions
    linear_path: bool = False  # a linear map beside each recurrent net: unit <-> z_movement

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice(self, "rnn", RNN_TYPES)
        check_choice(self, "dec_output", DEC_OUTPUTS)
        check_choice(self, "dec_anchor", DEC_ANCHORS)
        check_choice(self, "enc_input", ENC_INPUTS)
        check_positive(self, "pose_dim", "unit_frames", "init_hidden", "z_init", "enc_hidden")
        check_positive(self, "enc_layers", "z_movement", "dec_hidden", "dec_layers", "disc_hidden")
        if self.n_single_frames >= self.unit_frames:
            raise ConfigError("DanceUnitConfig.n_single_frames must be below unit_frames")
        if self.latent_dropout >= 1:
            raise ConfigError(f"DanceUnitConfig.latent_dropout {self.latent_dropout} must be < 1")


@dataclass(frozen=True)
class ComposerConfig:
    """Composition: music style -> dance latent -> movement codes, encoders, discriminators, weights."""

    rnn: str = "gru"
    style_dim: int = 30  # the style extractor's code
    noise_dim: int = 30
    style_enc_hidden: int = 64  # MLP widths h, 2h (LayerNorm, LeakyReLU 0.2)
    z_dance: int = 512
    dance_enc_hidden: int = 1024
    dance_dec_hidden: int = 1024
    dec_layers: int = 1
    unit_audio_dim: int = 30  # per-unit music summary fed to the dance decoder and discriminator
    disc_hidden: int = 1024  # movement-sequence discriminator MLP: h, h/2, h/4
    zdisc_hidden: int = 512  # dance-latent discriminator MLP
    regressor_hidden: int = 512  # style regressor MLP: h, h/2, h/4 -> style_dim
    w_gan: float = 1.0  # LSGAN on movement-code sequences with music
    w_dance_gan: float = 1.0  # dance-latent alignment: LSGAN on dance latents
    w_kl: float = 0.01  # KL on generated movement codes
    w_kl_dance: float = 0.01  # KL on dance latents
    w_mov_recon: float = 1.0  # dance encoder -> decoder rebuilds the movement codes
    w_seq_recon: float = 10.0  # ... and through the frozen unit decoder, the units
    w_mov_dist: float = 1.0  # movement-latent alignment: music's codes close to its dance's codes
    w_style_reg: float = 1.0  # style regressor: dance latent -> the music's style code
    w_dance_mmd: float = 0.0  # dance-latent alignment by a kernel two-sample loss (not the paper's)
    w_prior_fit: float = 0.0  # the prior fitted to the dance encoder's latents (not the paper's)
    w_rhythm: float = 0.0  # music's dances move when their own dance moved (not the paper's)
    decoded_sequences: int = 0  # sequences of a batch seq_recon and rhythm decode (0: all)
    grad_clip: float = 0.5
    style_source: str = "extractor"  # or "oracle": the true style (models.style.oracle_codes)
    music_input: str = "stats"  # per unit: "stats" (mean, std), "frames" or "loudness" (phase)
    code_input: str = "mean"  # or "gaussian": mean and log-variance (saturates the encoder)
    dec_sd_init: float = 0.0  # > 0: the dance decoder's code posterior sd starts here; 0: as built
    linear_path: bool = False  # a linear map beside the dance encoder's and decoder's recurrences
    code_order: str = "sequence"  # "sorted"/"pooled": the dance latent cannot hold the timing
    dance_view: str = "same"  # or "shifted": the encoder reads the dance a random offset later
    prior: str = "learned"  # "music": it hears the window too; "bank": training dances' latents
    bank_size: int = 2048  # training-dance latents a "bank" run keeps
    bank_match: str = "style"  # or "music" (of the bank_topk best music matches) or "fitted"
    bank_topk: int = 8  # a "music" bank draws among this many best-matching latents
    prior_moments: bool = False  # draws moved onto the encoder's latents' moments (models.prior)

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice(self, "rnn", RNN_TYPES)
        check_choice(self, "style_source", STYLE_SOURCES)
        check_choice(self, "music_input", MUSIC_INPUTS)
        check_choice(self, "code_input", CODE_INPUTS)
        check_choice(self, "code_order", CODE_ORDERS)
        check_choice(self, "dance_view", DANCE_VIEWS)
        check_choice(self, "prior", PRIORS)
        if self.prior_moments and self.prior == "bank":
            raise ConfigError("prior_moments moves a learned prior's draws; a bank draws latents")
        check_choice(self, "bank_match", BANK_MATCHES)
        check_positive(self, "bank_size", "bank_topk")
        check_positive(self, "style_dim", "noise_dim", "style_enc_hidden", "z_dance")
        check_positive(self, "dance_enc_hidden", "dance_dec_hidden", "dec_layers")
        check_positive(self, "unit_audio_dim", "disc_hidden", "zdisc_hidden", "regressor_hidden")


@dataclass(frozen=True)
class TrainConfig:
    """One stage's optimisation: Adam, batch size, length, logging, seed, device."""

    batch_size: int = 256
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    steps: int = 100_000  # optimiser steps; used when epochs is 0
    epochs: int = 0  # 0: train for `steps`
    log_every: int = 100
    val_every: int = 1000
    checkpoint_every: int = 5000
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    precision: str = "fp32"  # bf16: forward passes under bfloat16 autocast; auto: bf16 if native
    lr_schedule: str = "constant"  # or "cosine": lr falls to 0 over `steps` (models.schedule)

    def __post_init__(self) -> None:
        check_fields(self)
        check_choice(self, "device", DEVICES)
        check_choice(self, "precision", PRECISIONS)
        check_choice(self, "lr_schedule", LR_SCHEDULES)
        if self.lr_schedule != "constant" and self.epochs:
            raise ConfigError("TrainConfig.lr_schedule 'cosine' needs a length in steps (epochs 0)")
        check_positive(self, "batch_size", "lr", "log_every", "val_every", "checkpoint_every")
        if self.steps == 0 and self.epochs == 0:
            raise ConfigError("TrainConfig.steps and TrainConfig.epochs cannot both be 0")


@dataclass(frozen=True)
class DataConfig:
    """Where the data lives and how sequences are cut."""

    data_dir: str = ""  # empty: d2mlib.data.default_data_dir()
    synth_preset: str = "book"
    seq_units: tuple[int, ...] = (3, 4)  # units per composition sequence
    jitter: bool = True  # two randomly translated copies of each unit (decomposition)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.seq_units or any(n <= 0 for n in self.seq_units):
            raise ConfigError(f"DataConfig.seq_units must be positive, got {self.seq_units}")


@dataclass(frozen=True)
class Config:
    """Everything a run needs: the models, the three stages' training, the data."""

    preset: str = "paper"
    style: StyleConfig = field(default_factory=StyleConfig)
    dance_unit: DanceUnitConfig = field(default_factory=DanceUnitConfig)
    composer: ComposerConfig = field(default_factory=ComposerConfig)
    train_style: TrainConfig = field(default_factory=lambda: TrainConfig(steps=20_000))
    train_decomp: TrainConfig = field(default_factory=TrainConfig)
    train_comp: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.composer.style_dim != self.style.code_dim:
            raise ConfigError(
                f"composer.style_dim ({self.composer.style_dim}) must equal style.code_dim "
                f"({self.style.code_dim})"
            )

    def train_for(self, stage: str) -> TrainConfig:
        """The TrainConfig of stage "style", "decomp" or "comp"."""
        table = {"style": self.train_style, "decomp": self.train_decomp, "comp": self.train_comp}
        if stage not in table:
            raise ConfigError(f"unknown stage {stage!r}; expected one of {tuple(table)}")
        return table[stage]


def _improved_style() -> StyleConfig:
    """The improved music style extractor (hidden 512, 2 layers, 512 -> 30 linear, dropout, 6 s)."""
    return StyleConfig(
        hidden=512, num_layers=2, project=True, head_hidden=30, dropout=0.3, window=90
    )


def _book_preset(paper: Config) -> Config:
    """The paper's architecture scaled down to train in minutes on 2 cores (see the module doc)."""
    r = dataclasses.replace
    shared = TrainConfig(batch_size=32, val_every=200, log_every=25, precision="auto")
    return r(
        paper,
        preset="book",
        dance_unit=r(
            paper.dance_unit,
            enc_hidden=256,
            z_movement=128,
            dec_hidden=256,
            disc_hidden=256,
            kl_warmup_center=600,
            kl_warmup_rate=0.005,
            latent_dropout=0.0,
            enc_input="relative",
            dec_output="offset",
            dec_anchor="given",
            linear_path=True,
            dec_time_code=True,
            w_velocity=5.0,
            kl_movement=0.0,
        ),
        composer=r(
            paper.composer,
            w_kl=0.0,
            w_kl_dance=0.0,
            w_dance_mmd=10.0,
            dec_sd_init=0.002,
            linear_path=True,
            music_input="loudness",
            w_rhythm=10.0,
            decoded_sequences=16,
            z_dance=128,
            dance_enc_hidden=256,
            dance_dec_hidden=256,
            disc_hidden=256,
            zdisc_hidden=128,
            regressor_hidden=128,
            w_mov_recon=3.0,
            w_seq_recon=30.0,
        ),
        train_style=TrainConfig(batch_size=64, steps=2000, val_every=250, checkpoint_every=500),
        train_decomp=r(shared, lr=3e-3, steps=3000, checkpoint_every=1000, lr_schedule="cosine"),
        train_comp=r(shared, batch_size=16, lr=1e-3, steps=6400, lr_schedule="cosine"),
    )


def _smoke_preset(paper: Config) -> Config:
    """Tiny sizes and a few steps: for tests, seconds."""
    r = dataclasses.replace
    small = TrainConfig(batch_size=8, steps=4, log_every=1, val_every=2, checkpoint_every=2)
    return r(
        paper,
        preset="smoke",
        style=StyleConfig(hidden=8, code_dim=8, head_hidden=8),
        dance_unit=r(
            paper.dance_unit,
            init_hidden=16,
            z_init=4,
            enc_hidden=16,
            z_movement=8,
            dec_hidden=16,
            disc_hidden=16,
            kl_warmup_center=10,
            kl_warmup_rate=0.5,
        ),
        composer=r(
            paper.composer,
            style_dim=8,
            noise_dim=8,
            style_enc_hidden=8,
            z_dance=8,
            dance_enc_hidden=16,
            dance_dec_hidden=16,
            unit_audio_dim=8,
            disc_hidden=16,
            zdisc_hidden=8,
            regressor_hidden=8,
        ),
        train_style=small,
        train_decomp=small,
        train_comp=small,
        data=r(paper.data, synth_preset="smoke"),
    )


def preset(name: str) -> Config:
    """The named preset: "paper", "improved", "book" or "smoke"."""
    paper = Config()
    if name == "paper":
        return paper
    if name == "improved":
        return dataclasses.replace(paper, preset="improved", style=_improved_style())
    if name == "book":
        return _book_preset(paper)
    if name == "smoke":
        return _smoke_preset(paper)
    raise ConfigError(f"unknown preset {name!r}; expected one of {PRESETS}")


_preset = preset  # make_config's `preset` argument shadows the function


BANK_STEPS = {"book": 800, "smoke": 8}  # `bank_recipe` steps by preset (else the cfg's)
BANK_Z_DANCE = {"book": 512}  # `bank_recipe` dance latent sizes by preset (else the cfg's)
BANK_BATCH = {"book": 32}  # `bank_recipe` batch sizes by preset (else the cfg's)


def bank_recipe(cfg: Config) -> Config:
    """`cfg`'s composer trained as an autoencoder (`w_mov_recon`, `w_seq_recon` only; music as each
    unit's mean and sd) that composes each window from a bank of training windows' latents of the
    music's style (`prior="bank"`), among the 8 whose loudness curve best matches (`bank_match`).
    Rate 1e-3 on a cosine, z_dance `BANK_Z_DANCE`, decoder code sd near the decomposition's (5e-5),
    `BANK_STEPS` steps of `BANK_BATCH`. Not the paper's recipe: chosen by measuring."""
    weights = {f.name for f in dataclasses.fields(cfg.composer) if f.name.startswith("w_")}
    c = dataclasses.replace(
        cfg.composer,
        **dict.fromkeys(weights - {"w_mov_recon", "w_seq_recon"}, 0.0),
        music_input="stats",
        decoded_sequences=0,
        prior_moments=False,
        z_dance=BANK_Z_DANCE.get(cfg.preset, cfg.composer.z_dance),
        dec_sd_init=7.5e-5,
        prior="bank",
        bank_match="music",
    )
    steps = BANK_STEPS.get(cfg.preset, cfg.train_comp.steps)
    t = dataclasses.replace(cfg.train_comp, lr=1e-3, lr_schedule="cosine", steps=steps)
    t = dataclasses.replace(t, batch_size=BANK_BATCH.get(cfg.preset, t.batch_size))
    return dataclasses.replace(cfg, composer=c, train_comp=t)


def ablation(cfg: Config, name: str) -> Config:
    """`cfg` with one composer loss switched off: "no_style_regressor", "no_movement_alignment",
    "no_dance_alignment" (the dance-latent discriminator) or "none"."""
    weights = {
        "none": {},
        "no_style_regressor": {"w_style_reg": 0.0},
        "no_movement_alignment": {"w_mov_dist": 0.0},
        "no_dance_alignment": {"w_dance_gan": 0.0, "w_dance_mmd": 0.0},
    }
    if name not in weights:
        raise ConfigError(f"unknown ablation {name!r}; expected one of {('none', *ABLATIONS)}")
    return dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, **weights[name]))


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (lists, not tuples) of a config dataclass, nested dataclasses included."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))  # JSON has lists, not tuples


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys (named by their dotted path)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key {where + '.' if where else ''}{unknown[0]}")
    kwargs = {}
    for k, v in data.items():
        tp = hints[k]
        key = f"{where}.{k}" if where else k
        kwargs[k] = _build(tp, v, key) if dataclasses.is_dataclass(tp) else v
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> Config:
    """A Config from a (possibly partial) dict; missing fields keep the paper defaults."""
    return _build(Config, data, "")


def to_yaml(cfg: Config, path: str | Path | None = None) -> str:
    """The YAML text of `cfg`; also written atomically to `path` when given."""
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    if path is not None:
        write_text(path, text)
    return text


def from_yaml(source: str | Path) -> Config:
    """A Config from a YAML file path or YAML text; ConfigError names the file on bad content."""
    path: Path | None = None
    text = str(source)
    if isinstance(source, Path) or (
        "\n" not in text and text.endswith((".yaml", ".yml")) and Path(text).exists()
    ):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config: {exc}", path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path) from exc
    if data is None:
        data = {}
    try:
        return from_dict(data)
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(exc.problem, path) from exc


HASH_SKIP_DEFAULTS = {
    "precision": "fp32",
    "lr_schedule": "constant",
    "dec_time_code": False,
    "dec_output": "pose",
    "dec_anchor": "decoded",
    "linear_path": False,
    "enc_input": "pose",
    "w_velocity": 0.0,
    "style_source": "extractor",
    "music_input": "stats",
    "w_dance_mmd": 0.0,
    "w_prior_fit": 0.0,
    "w_rhythm": 0.0,
    "decoded_sequences": 0,
    "kl_movement": 1.0,
    "dec_sd_init": 0.0,
    "code_order": "sequence",
    "dance_view": "same",
    "prior": "learned",
    "bank_size": 2048,
    "bank_match": "style",
    "bank_topk": 8,
    "prior_moments": False,
}
"""Fields added after runs were first cached: left out of the hash while at these defaults, so that
adding them did not invalidate every cached run."""


def hashable(d: Any) -> Any:
    """A config dict (`to_dict`) without the HASH_SKIP_DEFAULTS fields that are at their defaults."""
    if not isinstance(d, dict):
        return d
    return {k: hashable(v) for k, v in d.items() if HASH_SKIP_DEFAULTS.get(k, ...) != v}


def config_hash(cfg: Any, length: int = 10) -> str:
    """A stable short hex hash of a config's content (keys sorted), used to key cached runs."""
    blob = json.dumps(hashable(to_dict(cfg)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device for a TrainConfig.device value or a device name ("auto": CUDA if present)."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return device


def make_config(
    preset: str = "book", path: str | Path | None = None, seed: int | None = None
) -> Any:
    """A Config from a preset, or from a YAML file (which wins), with every stage's seed overridden."""
    cfg = from_yaml(Path(path)) if path is not None else _preset(preset)
    return cfg if seed is None else _every_stage(cfg, seed=seed)


def _every_stage(cfg: Any, **changes: Any) -> Any:
    """`cfg` with `changes` made to each stage's training config."""
    r = dataclasses.replace
    return r(cfg, **{f"train_{s}": r(getattr(cfg, f"train_{s}"), **changes) for s in STAGES})


def with_steps(cfg: Any, steps: int | None) -> Any:
    """`cfg` with every stage's step count set to `steps` (None: `cfg` unchanged)."""
    if steps is None:
        return cfg
    if isinstance(steps, bool) or int(steps) < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    return _every_stage(cfg, steps=int(steps), epochs=0)


def with_rnn(cfg: Config, rnn: str) -> Config:
    """`cfg` with every recurrent layer (style extractor, dance unit, composer) of type `rnn`."""
    r = dataclasses.replace
    return r(
        cfg,
        style=r(cfg.style, rnn=rnn),
        dance_unit=r(cfg.dance_unit, rnn=rnn),
        composer=r(cfg.composer, rnn=rnn),
    )


def with_precision(cfg: Config, precision: str) -> Config:
    """`cfg` with all three stages trained at `precision` ("fp32" or "bf16")."""
    return _every_stage(cfg, precision=precision)
