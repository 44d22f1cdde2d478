"""The dance style classifier whose embedding the paper's FID, Diversity, Multimodality and
Style consistency use: its config, model, training (cached by content) and embeddings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from d2mlib import skeleton
from d2mlib._io import file_lock, write_text
from d2mlib.errors import CheckpointError, ConfigError
from d2mlib.train.checkpoints import epoch_seed, load_checkpoint
from d2mlib.train.loop import LoopConfig, fit
from d2mlib.train.runs import DONE_MARKER
from d2mlib.validate import check_dance_set, check_same_length, metric_error


@dataclass(frozen=True)
class DanceClassifierConfig:
    """The dance style classifier whose embedding the paper's FID, diversity and multimodality use."""

    channels: int = 64  # temporal-conv width
    embed_dim: int = 64  # the penultimate layer: the embedding
    kernel: int = 5
    layers: int = 3  # conv layers, dilations 1, 2, 4, ...
    dropout: float = 0.1
    num_styles: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    steps: int = 600
    crop_min: int = 24  # random crop length range (frames) during training
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "channels",
            "embed_dim",
            "kernel",
            "layers",
            "num_styles",
            "batch_size",
            "steps",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"DanceClassifierConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 <= self.dropout < 1:
            raise ConfigError(
                f"DanceClassifierConfig.dropout must be in [0, 1), got {self.dropout}"
            )
        if self.crop_min < 4:
            raise ConfigError(f"DanceClassifierConfig.crop_min must be >= 4, got {self.crop_min}")


class DanceClassifier(nn.Module):
    """Temporal-conv style classifier over pose sequences (B, T, 14, 2) in pixels.

    Input: the poses centred on their mean position over the whole sequence (translation
    invariant) and divided by a fitted scale, with the frame-to-frame velocities as extra
    channels. Dilated 1-D convolutions, mean pooling over time, a linear layer to the
    ``embed_dim`` embedding (the FID features) and a linear layer to the style logits.
    """

    def __init__(self, config: DanceClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or DanceClassifierConfig()
        c = self.config
        self.register_buffer("pos_scale", torch.tensor(1.0))
        self.register_buffer("vel_scale", torch.tensor(1.0))
        convs: list[nn.Module] = []
        width = 2 * skeleton.POSE_DIM
        for i in range(c.layers):
            dil = 2**i
            convs += [
                nn.Conv1d(width, c.channels, c.kernel, padding=dil * (c.kernel // 2), dilation=dil),
                nn.ReLU(),
            ]
            width = c.channels
        self.convs = nn.Sequential(*convs)
        self.embed = nn.Sequential(nn.Linear(c.channels, c.embed_dim), nn.ReLU())
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.embed_dim, c.num_styles)

    def set_scales(self, dances: np.ndarray) -> None:
        """Fit the position and velocity scales from training dances (N, T, 14, 2)."""
        x = np.asarray(dances, dtype=np.float64)
        centred = x - x.mean(axis=(1, 2), keepdims=True)
        self.pos_scale.fill_(float(max(centred.std(), 1e-3)))
        self.vel_scale.fill_(float(max(np.diff(x, axis=1).std(), 1e-3)))

    def inputs(self, poses: torch.Tensor) -> torch.Tensor:
        """Poses (B, T, 14, 2) -> network input (B, 56, T): centred positions and velocities."""
        b, t = poses.shape[:2]
        centred = poses - poses.mean(dim=(1, 2), keepdim=True)
        vel = torch.diff(poses, dim=1, prepend=poses[:, :1])
        x = torch.cat(
            [
                (centred / self.pos_scale).reshape(b, t, -1),
                (vel / self.vel_scale).reshape(b, t, -1),
            ],
            dim=-1,
        )
        return x.transpose(1, 2)

    def forward(self, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Poses (B, T, 14, 2) -> (embedding (B, embed_dim), style logits (B, num_styles))."""
        h = self.convs(self.inputs(poses)).mean(dim=-1)
        emb = self.embed(h)
        return emb, self.head(self.drop(emb))


class DanceClassifierStage:
    """Trainer stage (d2mlib.train.Stage) for the dance style classifier: cross-entropy on styles."""

    name = "dance"

    def __init__(self, model: DanceClassifier) -> None:
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=model.config.lr)

    def modules(self) -> dict[str, nn.Module]:
        """The trained module."""
        return {"classifier": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Its optimiser."""
        return {"classifier": self.opt}

    def _terms(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        poses, style = batch
        _, logits = self.model(poses)
        loss = F.cross_entropy(logits, style)
        acc = (logits.argmax(dim=-1) == style).float().mean()
        return loss, acc

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], step: int
    ) -> dict[str, torch.Tensor]:
        """One Adam step on a batch (poses (B, T, 14, 2), style (B,))."""
        loss, acc = self._terms(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()
        return {"loss": loss.detach(), "acc": acc.detach()}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss and accuracy on a batch, no gradient."""
        loss, acc = self._terms(batch)
        return {"loss": loss, "acc": acc}


def _training_batches(
    dances: np.ndarray, styles: np.ndarray, config: DanceClassifierConfig, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of augmented batches: random crop, scale (0.85-1.15) and left-right mirror."""
    rng = np.random.default_rng(seed)
    n, t = dances.shape[:2]
    order = rng.permutation(n)
    perm = skeleton.mirror_index()
    out = []
    for lo in range(0, n - config.batch_size + 1, config.batch_size):
        idx = order[lo : lo + config.batch_size]
        length = int(rng.integers(min(config.crop_min, t), t + 1))
        start = int(rng.integers(0, t - length + 1))
        x = dances[idx, start : start + length].astype(np.float32)
        x = x * rng.uniform(0.85, 1.15, size=(len(idx), 1, 1, 1)).astype(np.float32)
        flip = rng.random(len(idx)) < 0.5
        x[flip] = x[flip][:, :, perm]
        x[flip, ..., 0] *= -1
        out.append((torch.from_numpy(x), torch.from_numpy(styles[idx].astype(np.int64))))
    return out


def _eval_batches(
    dances: np.ndarray, styles: np.ndarray, batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (
            torch.from_numpy(dances[lo : lo + batch_size].astype(np.float32)),
            torch.from_numpy(styles[lo : lo + batch_size].astype(np.int64)),
        )
        for lo in range(0, len(dances), batch_size)
    ]


def _check_labelled(dances: np.ndarray, styles: np.ndarray, name: str, num_styles: int) -> None:
    arr = np.asarray(dances)
    if arr.ndim != 4 or arr.shape[0] == 0 or arr.shape[2:] != (skeleton.NUM_JOINTS, 2):
        raise metric_error(f"{name}: expected dances (N > 0, T, 14, 2), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise metric_error(f"{name}: dances hold NaN or infinite values")
    st = np.asarray(styles)
    check_same_length(arr, st, f"{name} dances", f"{name} styles")
    if st.size and (st.min() < 0 or st.max() >= num_styles):
        raise metric_error(
            f"{name}: style indices must lie in [0, {num_styles}), got {st.min()}..{st.max()}"
        )


def _content_hash(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


def train_dance_classifier(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    runs_dir: str | Path,
    config: DanceClassifierConfig | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> tuple[DanceClassifier, Path]:
    """Train (or load, when cached) a dance classifier on (dances (N, T, 14, 2), styles (N,)).

    The run lives in ``runs_dir/dance-<hash8>/``, the hash covering the config and the
    training and validation data, with the trainer's checkpoints, metrics.csv and config.yaml;
    a finished run is loaded instead of retrained.
    """
    config = config or DanceClassifierConfig()
    tr_x, tr_y = np.asarray(train[0], dtype=np.float32), np.asarray(train[1]).astype(np.int64)
    va_x, va_y = np.asarray(val[0], dtype=np.float32), np.asarray(val[1]).astype(np.int64)
    _check_labelled(tr_x, tr_y, "training", config.num_styles)
    _check_labelled(va_x, va_y, "validation", config.num_styles)
    if tr_x.shape[0] < config.batch_size:
        raise metric_error(
            f"training: {tr_x.shape[0]} dances is fewer than one batch ({config.batch_size})"
        )
    cfg = dataclasses.asdict(config)
    run_dir = Path(runs_dir) / f"dance-{_content_hash(cfg, tr_x, tr_y, va_x, va_y)[:8]}"
    with file_lock(run_dir):  # a chapter executed alongside may be training it: wait for it
        if not (run_dir / DONE_MARKER).is_file():
            _fit_classifier(config, cfg, tr_x, tr_y, va_x, va_y, run_dir, progress, device)
    return load_dance_classifier(run_dir), run_dir


def _fit_classifier(
    config: DanceClassifierConfig,
    cfg: dict[str, Any],
    tr_x: np.ndarray,
    tr_y: np.ndarray,
    va_x: np.ndarray,
    va_y: np.ndarray,
    run_dir: Path,
    progress: bool,
    device: str,
) -> None:
    """Train a dance classifier into `run_dir` and mark it done."""
    done = run_dir / DONE_MARKER
    with torch.random.fork_rng(devices=[]):  # initial weights from the config's seed alone
        torch.manual_seed(config.seed)
        model = DanceClassifier(config)
    model.set_scales(tr_x)
    stage = DanceClassifierStage(model)
    per_epoch = tr_x.shape[0] // config.batch_size
    epochs = max(1, -(-config.steps // per_epoch))
    loop = LoopConfig(
        epochs=epochs, max_steps=config.steps, log_every=25, monitor="loss",
        progress=progress,
    )  # fmt: skip
    write_text(run_dir / "config.yaml", yaml.safe_dump({"dance_classifier": cfg}, sort_keys=True))
    result = fit(
        stage,
        lambda epoch: _training_batches(tr_x, tr_y, config, epoch_seed(config.seed, epoch)),
        lambda: _eval_batches(va_x, va_y, 256),
        run_dir,
        loop,
        seed=config.seed,
        config={"dance_classifier": cfg},
        device=device,
    )
    marker = {"step": result.step, "best_val_loss": result.best_value, "seconds": result.seconds}
    write_text(done, json.dumps(marker, sort_keys=True) + "\n")


def load_dance_classifier(run_dir: str | Path) -> DanceClassifier:
    """Rebuild a trained dance classifier from its run (best.pt, else last.pt) in eval mode."""
    run_dir = Path(run_dir)
    path = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "last.pt"
    ckpt = load_checkpoint(path)
    raw = ckpt["config"].get("dance_classifier") if isinstance(ckpt["config"], dict) else None
    if not isinstance(raw, dict):
        raise CheckpointError("not a dance classifier run (no dance_classifier config)", path)
    model = DanceClassifier(DanceClassifierConfig(**raw))
    try:
        model.load_state_dict(ckpt["modules"]["classifier"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"dance classifier weights do not match: {exc}", path) from exc
    return model.eval()


@dataclass(frozen=True)
class DanceEmbedding:
    """What the classifier says about a set of dances."""

    features: np.ndarray  # (N, embed_dim) penultimate-layer embedding
    probs: np.ndarray  # (N, num_styles) softmax
    predicted: np.ndarray  # (N,) style index


@torch.no_grad()
def embed_dances(
    model: DanceClassifier, dances: np.ndarray | Sequence[np.ndarray], batch_size: int = 256
) -> DanceEmbedding:
    """Embed and classify a set of dances (any lengths >= 2 frames) with a trained classifier."""
    items = check_dance_set(dances, "classifier dances", min_frames=2)
    model.eval()
    feats: list[np.ndarray | None] = [None] * len(items)
    probs: list[np.ndarray | None] = [None] * len(items)
    by_len: dict[int, list[int]] = {}
    for i, d in enumerate(items):
        by_len.setdefault(d.shape[0], []).append(i)
    for idx in by_len.values():
        for lo in range(0, len(idx), batch_size):
            chunk = idx[lo : lo + batch_size]
            x = torch.from_numpy(np.stack([items[i] for i in chunk]).astype(np.float32))
            emb, logits = model(x)
            p = torch.softmax(logits, dim=-1).numpy()
            for j, i in enumerate(chunk):
                feats[i], probs[i] = emb[j].numpy().astype(np.float64), p[j]
    f = np.stack(feats)
    pr = np.stack(probs)
    return DanceEmbedding(features=f, probs=pr, predicted=pr.argmax(axis=1))
