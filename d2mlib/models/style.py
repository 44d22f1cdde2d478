"""The music style extractor (stage 0): audio feature windows -> a 30-d style code and a style class.

The paper's extractor is a GRU (hidden 30, 1 layer) over 30 frames (2 s) of the 28 audio features,
whose last hidden state is the style code the composer consumes, followed by a 2-layer classifier
head trained on the three style labels. The ``improved`` preset widens it (hidden 512, 2 layers) and
maps the last hidden state back to 30-d with a linear layer, so that the composer's input is
unchanged; its head has two dropout layers and it reads longer windows (90 frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2mlib.config import Config, StyleConfig, resolve_device
from d2mlib.errors import ConfigError
from d2mlib.models.rnn import autocast_for, full, make_rnn, run_rnn
from d2mlib.models.schedule import lr_schedulers


class StyleExtractor(nn.Module):
    """Audio features (B, W, 28) -> (style code (B, 30), class logits (B, 3))."""

    def __init__(self, cfg: StyleConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.window = cfg.window
        self.rnn = make_rnn(cfg.rnn, cfg.feature_dim, cfg.hidden, cfg.num_layers)
        self.h0 = nn.Parameter(0.1 * torch.randn(cfg.num_layers, 1, cfg.hidden))
        self.project = nn.Linear(cfg.hidden, cfg.code_dim) if cfg.project else nn.Identity()
        head: list[nn.Module] = []
        if cfg.dropout > 0:
            head.append(nn.Dropout(cfg.dropout))
        head += [nn.Linear(cfg.code_dim, cfg.head_hidden), nn.ReLU()]
        if cfg.dropout > 0:
            head.append(nn.Dropout(cfg.dropout))
        head.append(nn.Linear(cfg.head_hidden, cfg.num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """(code, logits) of each sequence, read at its last frame (any length)."""
        h0 = self.h0.expand(-1, audio.shape[0], -1).contiguous()
        out = run_rnn(self.rnn, audio, h0, naive=False)
        code = self.project(out[:, -1])
        return code, self.head(code)

    def _windows(self, audio: Tensor) -> tuple[Tensor, int]:
        """Tile (B, T, 28) into (B*k, window, 28) non-overlapping windows (k >= 1)."""
        b, t, d = audio.shape
        k = t // self.window
        if k <= 1:
            return (audio[:, : self.window] if k == 1 else audio), 1
        return audio[:, : k * self.window].reshape(b * k, self.window, d), k

    def code(self, audio: Tensor) -> Tensor:
        """The style code (B, code_dim): averaged over the whole windows that tile the audio."""
        windows, k = self._windows(audio)
        code, _ = self(windows)
        return code.view(audio.shape[0], k, -1).mean(1)

    def logits(self, audio: Tensor) -> Tensor:
        """Class logits (B, classes), averaged over the whole windows that tile the audio."""
        windows, k = self._windows(audio)
        _, logits = self(windows)
        return logits.view(audio.shape[0], k, -1).mean(1)

    @torch.no_grad()
    def predict(self, audio: Tensor) -> Tensor:
        """The predicted style index (B,) of each clip (index into d2mlib.config.STYLES)."""
        return self.logits(audio).argmax(-1)


def oracle_codes(labels: Tensor, style_dim: int, num_classes: int) -> Tensor:
    """The oracle's style codes (B, style_dim) for true style labels (B,): style k's code is
    one in dimension k and zero elsewhere (a perfect, music-blind style understanding)."""
    if num_classes > style_dim:
        raise ConfigError(f"oracle_codes: {num_classes} styles do not fit a {style_dim}-d code")
    labels = labels.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ConfigError(f"oracle_codes: style labels must lie in [0, {num_classes})")
    return F.one_hot(labels, style_dim).float()


class StyleStage:
    """Training stage "style" (trainer protocol): cross-entropy on (audio (B, W, 28), style (B,))."""

    name = "style"

    def __init__(self, cfg: Config, device: str | None = None) -> None:
        self.cfg = cfg
        tcfg = cfg.train_style
        self.device = torch.device(device or resolve_device(tcfg.device))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            self.model = StyleExtractor(cfg.style).to(self.device)
        self._opts = {
            "style": torch.optim.Adam(
                self.model.parameters(), lr=tcfg.lr, betas=(tcfg.beta1, tcfg.beta2)
            )
        }
        self._scheds = lr_schedulers(self._opts, cfg.train_style)

    def modules(self) -> dict[str, nn.Module]:
        """The trained modules by checkpoint key."""
        return {"style": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by checkpoint key."""
        return self._opts

    def schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        """The learning-rate schedulers by checkpoint key (none at a constant rate)."""
        return self._scheds

    def _terms(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        audio = batch[0].to(self.device, non_blocking=True)
        style = batch[1].to(self.device, non_blocking=True)
        with autocast_for(self.device, self.cfg.train_style.precision):
            _, logits = self.model(audio)
        logits = full(logits)
        loss = F.cross_entropy(logits, style)
        acc = (logits.argmax(-1) == style).float().mean()
        return {"loss": loss, "accuracy": acc}

    def training_step(self, batch: tuple[Tensor, Tensor], step: int) -> dict[str, Tensor]:
        """One optimiser step; returns the detached loss and batch accuracy."""
        self.model.train()
        terms = self._terms(batch)
        opt = self._opts["style"]
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def validation_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """Loss and accuracy without dropout."""
        self.model.eval()
        return self._terms(batch)
