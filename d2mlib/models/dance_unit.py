"""Decomposition (stage 1): a dance unit of 32 frames = an initial pose + a movement.

The paper's dance-unit VAE has two parts (Lee et al. 2019, section 3.1):

- the initial-pose VAE: an MLP encoder/decoder between one pose (28 numbers) and ``z_init`` (10-d);
- the movement VAE: a bidirectional recurrent encoder from the whole unit to ``z_movement`` (512-d),
  and a recurrent decoder that unrolls ``(z_init, z_movement)`` into the 32 frames.

Training sees each unit twice, as two copies with different random translations. Besides the
reconstructions, copy 1's initial pose with copy 2's movement code must rebuild copy 1 (and vice versa),
and the two copies' movement codes are pulled together, so that ``z_movement`` keeps what moves and
``z_init`` where the body is.

Two implementations of the same step: ``naive=True`` keeps the original code's structure (four
separate decoder passes, the recurrent layers' own forward, a retained graph); the default batches the
four decoder passes into one call (and the initial-pose encoder and decoder calls likewise), and on CPU
runs the recurrences through `d2mlib.models.rnn.fast_rnn`, which computes the decoder's time-constant input projection
once instead of once per frame and whose backward pass accumulates the recurrent weight gradients in
one matrix product over all frames. Both compute the same losses (tests check it). On CUDA the batched
path keeps cuDNN's recurrent kernels.

Where the time goes at paper size (batch 64, forward + backward, about 360 GFLOP in the batched step
against about 440 in the original's): the bidirectional encoder's recurrences (2 x 64 units), the
decoder's recurrences (4 x 64 reconstructions) and the per-frame pose MLP; none of these can be
shared between the reconstructions without changing the model. With ``enc_input="relative"``
(the book's) they can: the two copies differ by a translation, which the encoder no longer sees,
so the step encodes copy 1 only, draws one z_movement for both copies (`shares_movement`), and
the cross reconstructions equal the self ones; half the encoder's and the decoder's work goes.

Why the decomposition's rebuilt units are damped, and the switches against it
(`DanceUnitConfig`; their defaults are the paper's model): the training copies are translated by
up to +-50 px, about 4 standard deviations of a coordinate, so absolute position dominates the
L1 reconstruction loss, and in short training z_movement learns where the body is rather than
how it moves (decoding a unit with another unit's z_movement barely changes its frame-to-frame
error); the recurrent decoder, fed the same z_movement every frame, learns motion from the
unit's first frame outward, so the last frames stay nearly still longest. ``enc_input="relative"``
(the encoder reads each frame minus the first), ``dec_output="offset"`` (the decoder's frames are
displacements added to the initial pose decoded from z_init), ``dec_time_code`` (a frame one-hot
beside z_movement in the decoder's input) and ``w_velocity`` (L1 on frame-to-frame differences)
move that learning earlier. Two more switches go to the cause. With ``dec_output="offset"`` a
unit starts at the pose decoded from z_init, a 10-d code under a KL term that rebuilds a pose only
roughly; ``dec_anchor="given"`` starts it at the real pose wherever that is known (a real unit's
first frame; the previous unit's last pose when dances are chained), so the initial-pose VAE is
left to what only it can do, drawing new initial poses. And the recurrent nets themselves learn
the unit <-> code map slowly: a linear code of the same size (the units' first 128 principal
components) rebuilds the book's dances almost exactly, where the recurrent VAE, after a few
thousand steps, still damps them. ``linear_path`` adds a linear map from the whole (relative)
unit to z_movement's posterior beside the encoder's recurrence, and one from z_movement to the
unit's frames beside the decoder's; the recurrent nets learn what the linear maps miss.
``latent_dropout`` (0.3, as the original code's option) is never
applied in the original's decomposition step: its trainer builds the dropout layer but does not
call it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2mlib.config import Config, DanceUnitConfig, resolve_device
from d2mlib.models.rnn import autocast_for, full, make_rnn, run_rnn
from d2mlib.models.schedule import lr_schedulers

# --------------------------------------------------------------------------------------------------
# Gaussian latents
# --------------------------------------------------------------------------------------------------


class Gaussian(NamedTuple):
    """A diagonal Gaussian posterior: mean and log-variance."""

    mu: Tensor
    logvar: Tensor

    def sample(self, eps: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """mu + sigma * eps (eps drawn from `generator` when not given)."""
        if eps is None:
            eps = torch.randn(
                self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype
            )
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def kl(self) -> Tensor:
        """KL to N(0, I): summed over the last axis, averaged over the rest."""
        return (-0.5 * (1 + self.logvar - self.mu.pow(2) - self.logvar.exp()).sum(-1)).mean()


def mlp(
    sizes: list[int], norm: bool = True, slope: float = 0.2, last_act: bool = False
) -> nn.Module:
    """Linear layers of `sizes`, each hidden one followed by LayerNorm and LeakyReLU(`slope`)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            if norm:
                layers.append(nn.LayerNorm(b))
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------------------


class InitPoseEncoder(nn.Module):
    """One pose (B, 28) -> Gaussian over z_init (10-d): MLP 64, 64 with LayerNorm and LeakyReLU 0.2."""

    def __init__(self, cfg: DanceUnitConfig) -> None:
        super().__init__()
        self.body = mlp([cfg.pose_dim, cfg.init_hidden, cfg.init_hidden], last_act=True)
        self.head = nn.Linear(cfg.init_hidden, 2 * cfg.z_init)

    def forward(self, pose: Tensor) -> Gaussian:
        """Posterior of z_init for each pose."""
        mu, logvar = full(self.head(self.body(pose))).chunk(2, dim=-1)
        return Gaussian(mu, logvar)


class InitPoseDecoder(nn.Module):
    """z_init (B, 10) -> one pose (B, 28): MLP 64, 64 with LayerNorm and LeakyReLU 0.2."""

    def __init__(self, cfg: DanceUnitConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.z_init, cfg.init_hidden, cfg.init_hidden, cfg.pose_dim])

    def forward(self, z_init: Tensor) -> Tensor:
        """The pose of each z_init."""
        return self.net(z_init)


class MovementEncoder(nn.Module):
    """A unit (B, 32, 28) -> Gaussian over z_movement (512-d): bidirectional GRU/LSTM, hidden 1024."""

    def __init__(self, cfg: DanceUnitConfig) -> None:
        super().__init__()
        self.hidden = cfg.enc_hidden
        self.rnn = make_rnn(
            cfg.rnn, cfg.pose_dim, cfg.enc_hidden, cfg.enc_layers, bidirectional=True
        )
        self.h0 = nn.Parameter(0.1 * torch.randn(2 * cfg.enc_layers, 1, cfg.enc_hidden))
        self.head = nn.Linear(2 * cfg.enc_hidden, 2 * cfg.z_movement)
        flat = cfg.unit_frames * cfg.pose_dim
        self.linear = nn.Linear(flat, 2 * cfg.z_movement) if cfg.linear_path else None

    def forward(self, units: Tensor, naive: bool = False) -> Gaussian:
        """Posterior of z_movement: from the forward pass's last and the backward pass's first
        frame (plus, with ``cfg.linear_path``, a linear map of the whole unit)."""
        h0 = self.h0.expand(-1, units.shape[0], -1).contiguous()
        out = run_rnn(self.rnn, units, h0, naive)
        feat = torch.cat([out[:, -1, : self.hidden], out[:, 0, self.hidden :]], dim=1)
        params = self.head(feat)
        if self.linear is not None:
            params = params + self.linear(units.flatten(1))
        mu, logvar = full(params).chunk(2, dim=-1)
        return Gaussian(mu, logvar)


class MovementDecoder(nn.Module):
    """(z_init, z_movement) -> a unit (B, 32, 28): GRU/LSTM hidden 1024 fed z_movement every frame,
    its initial state a linear map of both latents, then a per-frame MLP to the pose.

    With ``cfg.dec_time_code`` each frame's input also holds a one-hot code of the frame's index;
    without it (the paper's decoder) every frame gets the same input, and the recurrence settles
    towards a fixed point along the unit.
    """

    def __init__(self, cfg: DanceUnitConfig) -> None:
        super().__init__()
        self.frames, self.layers, self.hidden = cfg.unit_frames, cfg.dec_layers, cfg.dec_hidden
        self.time_code = cfg.dec_time_code
        self.to_h0 = nn.Linear(cfg.z_init + cfg.z_movement, cfg.dec_layers * cfg.dec_hidden)
        n_in = cfg.z_movement + (cfg.unit_frames if self.time_code else 0)
        self.rnn = make_rnn(cfg.rnn, n_in, cfg.dec_hidden, cfg.dec_layers)
        self.to_pose = nn.Sequential(
            nn.Linear(cfg.dec_hidden, cfg.dec_hidden),
            nn.LayerNorm(cfg.dec_hidden),
            nn.ReLU(),
            nn.Linear(cfg.dec_hidden, cfg.pose_dim),
        )
        flat = cfg.unit_frames * cfg.pose_dim
        self.linear = nn.Linear(cfg.z_movement, flat) if cfg.linear_path else None

    def forward(self, z_init: Tensor, z_movement: Tensor, naive: bool = False) -> Tensor:
        """The unit of each latent pair; `naive` feeds the repeated z_movement to the module."""
        batch = z_init.shape[0]
        h0 = self.to_h0(torch.cat([z_init, z_movement], dim=1))
        h0 = h0.view(batch, self.layers, self.hidden).transpose(0, 1).contiguous()
        x = z_movement
        if self.time_code:
            eye = torch.eye(self.frames, device=x.device, dtype=x.dtype).expand(batch, -1, -1)
            x = torch.cat([x.unsqueeze(1).expand(-1, self.frames, -1), eye], dim=2)
        out = self.to_pose(run_rnn(self.rnn, x, h0, naive, steps=self.frames))
        if self.linear is not None:
            out = out + self.linear(z_movement).view(batch, self.frames, -1)
        return out


class UnitDiscriminator(nn.Module):
    """A whole unit (B, 32, 28) -> a realness score (B,): MLP 1024, 512, 256 (LayerNorm, LeakyReLU)."""

    def __init__(self, cfg: DanceUnitConfig) -> None:
        super().__init__()
        h = cfg.disc_hidden
        sizes = [cfg.unit_frames * cfg.pose_dim, h, max(h // 2, 1), max(h // 4, 1), 1]
        self.net = mlp(sizes)

    def forward(self, units: Tensor) -> Tensor:
        """Score of each unit."""
        return self.net(units.flatten(1)).squeeze(1)


class DanceUnit(nn.Module):
    """The decomposition networks: initial-pose VAE and movement VAE."""

    def __init__(self, cfg: DanceUnitConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.init_enc = InitPoseEncoder(cfg)
        self.init_dec = InitPoseDecoder(cfg)
        self.mov_enc = MovementEncoder(cfg)
        self.mov_dec = MovementDecoder(cfg)

    def encode(self, units: Tensor, naive: bool = False) -> tuple[Gaussian, Gaussian]:
        """Units (B, 32, 28) -> (posterior of z_init from the first frame, posterior of z_movement)."""
        return self.init_enc(units[:, 0]), self.encode_movement(units, naive=naive)

    def encode_movement(self, units: Tensor, naive: bool = False) -> Gaussian:
        """Units (B, 32, 28) -> posterior of z_movement; with ``cfg.enc_input == "relative"`` the
        encoder reads each frame minus the unit's first frame (so translations cannot reach it)."""
        if self.cfg.enc_input == "relative":
            units = units - units[:, :1]
        return self.mov_enc(units, naive=naive)

    def decode(
        self, z_init: Tensor, z_movement: Tensor, naive: bool = False, pose0: Tensor | None = None
    ) -> Tensor:
        """(z_init (B, 10), z_movement (B, 512)) -> units (B, 32, 28).

        With ``cfg.dec_output == "offset"`` the movement decoder's frames are displacements: the
        unit is its first pose plus each frame's output minus frame 0's. The first pose is the
        one decoded from z_init, or, with ``cfg.dec_anchor == "given"``, `pose0` (B, 28) where the
        caller knows it (a real unit's first frame; the previous unit's last pose when chaining).
        """
        out = self.mov_dec(z_init, z_movement, naive=naive)
        if self.cfg.dec_output == "offset":
            given = self.cfg.dec_anchor == "given" and pose0 is not None
            start = pose0.to(out.dtype) if given else self.init_dec(z_init)
            out = start.unsqueeze(1) + (out - out[:, :1])
        return out

    @torch.no_grad()
    def sample_initial_pose(
        self, n: int, spread: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """`n` poses (n, 28) decoded from z_init ~ N(0, spread^2 I)."""
        p = next(self.parameters())
        z = torch.randn(n, self.cfg.z_init, generator=generator, device=p.device, dtype=p.dtype)
        return self.init_dec(spread * z)


# --------------------------------------------------------------------------------------------------
# The decomposition losses, naive and batched
# --------------------------------------------------------------------------------------------------


class DecompNoise(NamedTuple):
    """All the randomness of one decomposition step, drawn up front so both paths can share it."""

    eps_init: Tensor  # (2B, z_init): copies 1 and 2's first frames
    eps_single: Tensor  # (S*B, z_init): the random single frames
    eps_movement: Tensor  # (2B, z_movement)
    keep: Tensor | None  # (2B, z_movement) latent dropout mask, scaled; None = no dropout
    frames: Tensor  # (S,) indices of the single frames


def draw_noise(
    cfg: DanceUnitConfig, batch: int, generator: torch.Generator, device: torch.device | str
) -> DecompNoise:
    """The random numbers of one training step, from `generator`."""

    def randn(*shape: int) -> Tensor:
        return torch.randn(shape, generator=generator, device=device)

    s = cfg.n_single_frames
    reps = 2 if shares_movement(cfg) else 1  # one movement draw serves both copies
    keep = None
    if cfg.latent_dropout > 0:
        p = cfg.latent_dropout
        u = torch.rand((2 // reps * batch, cfg.z_movement), generator=generator, device=device)
        keep = ((u >= p).float() / (1 - p)).repeat(reps, 1)
    frames = torch.randperm(cfg.unit_frames - 1, generator=generator, device=device)[:s] + 1
    return DecompNoise(
        randn(2 * batch, cfg.z_init),
        randn(s * batch, cfg.z_init),
        randn(2 // reps * batch, cfg.z_movement).repeat(reps, 1),
        keep,
        frames,
    )


def shares_movement(cfg: DanceUnitConfig) -> bool:
    """Whether the two jittered copies of a unit get one movement code: with ``enc_input ==
    "relative"`` the encoder reads each frame minus the first, so the copies (which differ by a
    translation) look the same to it, and the training step draws z_movement once for both."""
    return cfg.enc_input == "relative"


def zero_noise(cfg: DanceUnitConfig, batch: int, device: torch.device | str) -> DecompNoise:
    """Noise for evaluation: posterior means, no dropout, evenly spaced single frames."""
    s = cfg.n_single_frames
    frames = torch.linspace(1, cfg.unit_frames - 1, s, device=device).long()
    return DecompNoise(
        torch.zeros(2 * batch, cfg.z_init, device=device),
        torch.zeros(s * batch, cfg.z_init, device=device),
        torch.zeros(2 * batch, cfg.z_movement, device=device),
        None,
        frames,
    )


def kl_warmup(cfg: DanceUnitConfig, step: int) -> float:
    """The KL weight at iteration `step`: w_kl times a sigmoid centred on kl_warmup_center."""
    return cfg.w_kl / (1 + math.exp(-cfg.kl_warmup_rate * (step - cfg.kl_warmup_center)))


def decomposition_losses(
    model: DanceUnit,
    x1: Tensor,
    x2: Tensor,
    noise: DecompNoise,
    kl_weight: float,
    naive: bool = False,
) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Weighted loss terms of one step on the two jittered copies (B, 32, 28), with their sum under
    "total"; also returns the four reconstructions (4B, 32, 28: self 1, self 2, cross 1, cross 2)
    and the matching targets. Terms with weight 0 are absent. Long because the naive and the
    batched paths build the same terms side by side, so that one can be read against the other."""
    cfg = model.cfg
    b = x1.shape[0]
    singles = x1[:, noise.frames].transpose(0, 1).reshape(-1, x1.shape[-1])  # (S*B, 28)
    poses0 = torch.cat([x1[:, 0], x2[:, 0]])
    if naive:  # the original's order: each encoder and decoder call on its own
        q_init = model.init_enc(poses0)
        q_single = model.init_enc(singles)
    else:
        q_both = model.init_enc(torch.cat([poses0, singles]))
        q_init = Gaussian(q_both.mu[: 2 * b], q_both.logvar[: 2 * b])
        q_single = Gaussian(q_both.mu[2 * b :], q_both.logvar[2 * b :])
    z_init = q_init.sample(noise.eps_init)
    z_single = q_single.sample(noise.eps_single)
    shared = shares_movement(cfg) and not naive  # copy 2's code is copy 1's: encode once
    if shared:
        q_one = model.encode_movement(x1)
        q_mov = Gaussian(q_one.mu.repeat(2, 1), q_one.logvar.repeat(2, 1))
    else:
        q_mov = model.encode_movement(torch.cat([x1, x2]), naive=naive)
    z_mov = q_mov.sample(noise.eps_movement)
    z_dec = z_mov * noise.keep if noise.keep is not None else z_mov
    zi1, zi2 = z_init[:b], z_init[b:]
    zm1, zm2 = z_dec[:b], z_dec[b:]
    p1, p2 = x1[:, 0], x2[:, 0]  # the anchors of `dec_anchor="given"`: each copy's first pose
    if shared:  # zm1 == zm2, so the cross reconstructions are the self ones: decode once
        recon = model.decode(torch.cat([zi1, zi2]), torch.cat([zm1, zm1]), pose0=poses0)
        recon = recon.repeat(2, 1, 1)
    elif naive:
        recon = torch.cat(
            [
                model.decode(zi1, zm1, naive=True, pose0=p1),
                model.decode(zi2, zm2, naive=True, pose0=p2),
                model.decode(zi1, zm2, naive=True, pose0=p1),
                model.decode(zi2, zm1, naive=True, pose0=p2),
            ]
        )
    else:
        recon = model.decode(
            torch.cat([zi1, zi2, zi1, zi2]),
            torch.cat([zm1, zm2, zm2, zm1]),
            pose0=torch.cat([p1, p2, p1, p2]),
        )
    if naive:
        pose_hat = torch.cat([model.init_dec(z_init), model.init_dec(z_single)])
    else:
        pose_hat = model.init_dec(torch.cat([z_init, z_single]))
    recon, pose_hat = full(recon), full(pose_hat)  # losses in float32 under autocast
    target = torch.cat([x1, x2, x1, x2])

    terms: dict[str, Tensor] = {}
    if kl_weight > 0:
        terms["kl_init"] = kl_weight * q_init.kl()
        if cfg.kl_movement > 0:
            terms["kl_movement"] = kl_weight * cfg.kl_movement * q_mov.kl()
    if cfg.w_init_recon > 0:
        n0 = 2 * b
        terms["init_recon"] = cfg.w_init_recon * (
            F.l1_loss(pose_hat[:n0], poses0) + F.l1_loss(pose_hat[n0:], singles)
        )
    if cfg.w_unit_recon > 0:
        terms["unit_recon"] = cfg.w_unit_recon * (
            F.l1_loss(recon[:b], x1) + F.l1_loss(recon[b : 2 * b], x2)
        )
    if cfg.w_cross_recon > 0:
        terms["cross_recon"] = cfg.w_cross_recon * (
            F.l1_loss(recon[2 * b : 3 * b], x1) + F.l1_loss(recon[3 * b :], x2)
        )
    if cfg.w_velocity > 0:  # all four reconstructions' frame-to-frame differences
        terms["velocity"] = cfg.w_velocity * F.l1_loss(recon.diff(dim=1), target.diff(dim=1))
    if cfg.w_mov_dist > 0:
        terms["mov_dist"] = cfg.w_mov_dist * F.l1_loss(z_mov[:b], z_mov[b:])
    terms["total"] = torch.stack(list(terms.values())).sum() if terms else x1.new_zeros(())
    return terms, recon, target


class DecompStage:
    """Training stage "decomp" (trainer protocol): the dance-unit VAE on jittered unit pairs.

    Batches are (x1, x2, style) with x1, x2 (B, 32, 28) normalised. `naive=True` runs the original
    code's structure (for the timing chapter); both paths compute the same losses.
    """

    name = "decomp"

    def __init__(self, cfg: Config, naive: bool = False, device: str | None = None) -> None:
        self.cfg = cfg
        self.naive = naive
        tcfg = cfg.train_decomp
        self.device = torch.device(device or resolve_device(tcfg.device))
        with torch.random.fork_rng(devices=[]):  # initial weights from the run's seed only
            torch.manual_seed(tcfg.seed)
            self.model = DanceUnit(cfg.dance_unit).to(self.device)
            self.disc = UnitDiscriminator(cfg.dance_unit).to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(tcfg.seed + 1)
        betas = (tcfg.beta1, tcfg.beta2)
        self._opts = {
            "dance_unit": torch.optim.Adam(self.model.parameters(), lr=tcfg.lr, betas=betas),
            "unit_disc": torch.optim.Adam(self.disc.parameters(), lr=tcfg.lr, betas=betas),
        }
        trained = {k: o for k, o in self._opts.items() if k != "unit_disc" or cfg.dance_unit.w_gan}
        self._scheds = lr_schedulers(trained, cfg.train_decomp)  # the unused disc's has no steps

    def modules(self) -> dict[str, nn.Module]:
        """The trained modules by checkpoint key."""
        return {"dance_unit": self.model, "unit_disc": self.disc}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by checkpoint key."""
        return self._opts

    def schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        """The learning-rate schedulers by checkpoint key (none at a constant rate)."""
        return self._scheds

    def _batch(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        x1, x2 = batch[0], batch[1]
        return x1.to(self.device, non_blocking=True), x2.to(self.device, non_blocking=True)

    def training_step(self, batch: tuple[Tensor, ...], step: int) -> dict[str, Tensor]:
        """One optimiser step on (x1, x2, style); returns the detached loss terms."""
        cfg = self.cfg.dance_unit
        x1, x2 = self._batch(batch)
        self.model.train()
        amp = self.cfg.train_decomp.precision
        noise = draw_noise(cfg, x1.shape[0], self.generator, self.device)
        with autocast_for(self.device, amp):
            terms, recon, _ = decomposition_losses(
                self.model, x1, x2, noise, kl_warmup(cfg, step), naive=self.naive
            )
        loss = terms["total"]
        out: dict[str, Tensor] = {}
        if cfg.w_gan > 0:  # LSGAN: real units -> 1, reconstructions -> 0
            opt_d = self._opts["unit_disc"]
            opt_d.zero_grad(set_to_none=True)
            real = torch.cat([x1, x2])
            with autocast_for(self.device, amp):
                d_real, d_fake = full(self.disc(real)), full(self.disc(recon.detach()))
            d_loss = 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())
            d_loss.backward()
            opt_d.step()
            with autocast_for(self.device, amp):
                g = cfg.w_gan * (full(self.disc(recon)) - 1).pow(2).mean()
            loss = loss + g
            out["gan"], out["disc"] = g.detach(), d_loss.detach()
            out["total"] = loss.detach()
        opt = self._opts["dance_unit"]
        opt.zero_grad(set_to_none=True)
        if loss.requires_grad:  # False only when every weight is 0
            loss.backward(retain_graph=self.naive)  # the original retained its graph
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.mov_enc.parameters(), cfg.grad_clip)
            nn.utils.clip_grad_norm_(self.model.mov_dec.parameters(), cfg.grad_clip)
        opt.step()
        return {k: v.detach() for k, v in terms.items()} | out

    @torch.no_grad()
    def validation_step(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        """Loss terms on posterior means (no sampling, no dropout), full KL weight."""
        cfg = self.cfg.dance_unit
        x1, x2 = self._batch(batch)
        self.model.eval()
        noise = zero_noise(cfg, x1.shape[0], self.device)
        terms, _, _ = decomposition_losses(self.model, x1, x2, noise, cfg.w_kl, naive=self.naive)
        return {k: v.detach() for k, v in terms.items()}
