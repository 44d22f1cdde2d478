"""Composition (stage 2): from music to a sequence of movement codes.

The music-to-movement generator (Lee et al. 2019, section 3.2): the frozen style extractor turns the
music into a 30-d style code; a VAE-style music-style encoder maps (style code, 30-d noise) to a dance
latent (512-d); a recurrent dance decoder unrolls the dance latent, with a summary of each unit's
music, into one movement code per unit (3 or 4). The frozen decomposition decoder turns the codes into
units. For training, a dance encoder maps the real units' movement codes to a dance latent (so the
dance decoder also learns to rebuild real sequences), a style regressor reads the music's style code
back from a dance latent, and two discriminators judge movement-code sequences (with their music) and
dance latents.

The GAN losses are least-squares (LSGAN: real -> 1, fake -> 0; the generator pushes fakes to 1),
which stays stable with the small discriminators used here. Terms and their config weights:

===================  =============  ==========================================================
term                 weight         what
===================  =============  ==========================================================
gan                  w_gan          movement-code sequences from music look real, given music
dance_gan            w_dance_gan    dance-latent alignment: music's dance latents look like
                                    dance-derived ones (ablation "no_dance_alignment")
kl                   w_kl           KL of the decoded movement codes (real and from music)
kl_dance             w_kl_dance     KL of the dance latents (real and from music)
mov_recon            w_mov_recon    dance encoder -> decoder rebuilds the real movement codes
seq_recon            w_seq_recon    ... and, through the frozen unit decoder, the real units
mov_dist             w_mov_dist     movement-latent alignment: the music's codes near its dance's
                                    codes (L1 on means; ablation "no_movement_alignment")
style_reg            w_style_reg    style regressor reads the style code from both dance latents
                                    (ablation "no_style_regressor")
dance_mmd            w_dance_mmd    dance-latent alignment by a kernel two-sample loss (MMD) on
                                    (latent, style code): not the paper's; off by default
prior_fit            w_prior_fit    the prior fitted to the dance encoder's latents
                                    (`models.prior`): not the paper's; off by default
rhythm               w_rhythm       the dance composed from music speeds up and slows down where
                                    its real dance did (`models.rhythm`): not the paper's
===================  =============  ==========================================================

What the dance encoder and the movement discriminator read of each movement code is set by
``code_input``: its posterior mean (``"mean"``, the default) or, as first built, its mean and
log-variance (``"gaussian"``). The log-variances are a near-constant input: from a decomposition
without the z_movement KL they sit far below zero on every dimension (-10 to -19 in the ones
measured), which saturates the encoder's GRU (measured once, 500 steps of the reconstruction terms
alone: the dance latents of 64 different test dances ended up differing by a standard deviation
of 1e-7). The dance encoder's log-variance head starts at `LOGVAR_INIT` (a posterior sd of
0.05), so that the sampled dance latent carries the dance, not the sampling noise, from the
first step. ``dec_sd_init`` (0: off) does the same for the dance decoder's codes: the
decomposition's own codes are nearly deterministic (a posterior sd of about 5e-5 in the book's),
so a decoder that starts at sd 1 samples codes that are mostly noise, and ``seq_recon`` (units
decoded from them) learns from noise until the log-variance has come down. ``code_order`` lets
the dance encoder read the codes sorted per dimension or pooled, so that the dance latent cannot
carry when each movement happens and the decoder must take the timing from the music; neither
is in the book's preset.

Where a composed dance's latent comes from is ``prior``: "learned" (the paper's: the music-style
encoder, from the style code and noise), "music" (it hears the window's audio as well:
`models.prior`) or "bank" (`config.bank_recipe`): a ring of the dance
latents the encoder gave the last `bank_size` training sequences of `WINDOW_UNITS` units (the
latents are kept as buffers, so checkpoints carry them), drawn at random among those of the
music's style. A learned prior that never saw where the decoder's latents lie composes from
places the decoder was never trained on; the bank composes from where it was. The latent holds
when the dance's movements happen (a decoder handed another dance's latent places its beats
where that dance had them), so ``bank_match="music"`` draws, among the kept latents of the
style, one of the ``bank_topk`` whose training music had the loudness curve most like the
composed window's (`music_keys`: the correlation of log energy and its change, frame by frame,
over the window). The bank stores those keys beside the latents; ``bank_match="fitted"`` draws
from Gaussians fitted to them instead (`models.bank`). ``dance_view="shifted"`` (off by default)
has the dance encoder read the units from 1..31 frames later, hiding where the beats fall.

``linear_path`` (not the paper's; in the book's preset) adds a linear map beside each autoencoder
recurrence: codes (zero-padded to `LINEAR_UNITS` units) -> dance latent -> each unit's code.

The book's preset drops the dance latent's KL (``w_kl_dance``): at the paper's weight its
latents carried more sampling noise than dance and the autoencoder rebuilt codes no better than
their mean. Its dance-latent discriminator won throughout, so ``w_dance_mmd`` (10) works beside
it (1 December 2026, one seed: FID 84 at weight 10, 69 at 30, 108 at 100; random real units
52). Its prior draws latents 0.5-0.9 times as spread as the encoder's; ``prior_moments`` moves each
draw onto the encoder's moments (`models.prior.PriorMoments`; off in every preset; it says why).

The book's preset also gives the dance decoder each unit's loudness curve (``music_input``) and
the rhythm term (``w_rhythm``: `models.rhythm`), decoding 16 sequences a batch for both that and
``seq_recon`` (``decoded_sequences``; `models.rhythm` has its timings). ``style_source="oracle"``
replaces the style code with a fixed code of the clip's true style (`models.style.oracle_codes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d2mlib.config import ComposerConfig, Config, resolve_device
from d2mlib.errors import CheckpointError, ConfigError
from d2mlib.models.bank import (
    KEY_CHANNELS,
    LatentGaussian,
    draw_latents,
    fit_latent_gaussians,
    music_keys,
)
from d2mlib.models.composer_inputs import (
    LINEAR_UNITS,
    code_feature_dim,
    code_features,
    linear_units,
    ordered_codes,
    unit_audio_summary,
    unit_music_dim,
)
from d2mlib.models.dance_unit import DanceUnit, Gaussian, mlp
from d2mlib.models.prior import MusicStyleEncoder, PriorMoments, gaussian_nll, lsgan, mmd, moved
from d2mlib.models.rhythm import composed_rhythm, decode_sequences
from d2mlib.models.rnn import autocast_for, full, make_rnn, run_rnn
from d2mlib.models.schedule import lr_schedulers
from d2mlib.models.style import StyleExtractor, oracle_codes
from d2mlib.skeleton import UNIT_FRAMES

KEYED_MATCHES = ("music", "fitted")  # bank matches that keep each latent's music key
WINDOW_UNITS = 3  # units composed together (generate), as in the original demo; a bank keeps
# the latents of training sequences this long
LOGVAR_INIT = -6.0  # where the dance encoder's log-variance head starts: a posterior sd of 0.05


class DanceEncoder(nn.Module):
    """Movement-code sequences (B, n, z_m; `code_features`) -> dance latent."""

    def __init__(self, cfg: ComposerConfig, z_movement: int) -> None:
        super().__init__()
        self.code_input, self.code_order = cfg.code_input, cfg.code_order
        self.rnn = make_rnn(cfg.rnn, code_feature_dim(cfg, z_movement), cfg.dance_enc_hidden)
        self.h0 = nn.Parameter(0.1 * torch.randn(1, 1, cfg.dance_enc_hidden))
        self.head = nn.Linear(cfg.dance_enc_hidden, 2 * cfg.z_dance)
        with torch.no_grad():  # outputs: means, then log-variances
            self.head.bias[cfg.z_dance :] = LOGVAR_INIT
        feat = code_feature_dim(cfg, z_movement)
        self.linear = (
            nn.Linear(LINEAR_UNITS * feat, 2 * cfg.z_dance, bias=False) if cfg.linear_path else None
        )

    def forward(self, codes: Gaussian) -> Gaussian:
        """Posterior of the dance latent of each sequence, read at its last unit (plus, with
        ``linear_path``, a linear map of the whole sequence)."""
        x = ordered_codes(code_features(codes, self.code_input), self.code_order)
        out = run_rnn(self.rnn, x, self.h0.expand(-1, x.shape[0], -1).contiguous(), naive=False)
        params = self.head(out[:, -1])
        if self.linear is not None:
            params = params + self.linear(F.pad(x, (0, 0, 0, linear_units(x.shape[1]))).flatten(1))
        mu, logvar = full(params).chunk(2, dim=-1)
        return Gaussian(mu, logvar)


class DanceDecoder(nn.Module):
    """(dance latent (B, 512), unit music (B, n, A)) -> movement codes, a Gaussian (B, n, z_movement).

    A GRU/LSTM (hidden 1024) whose initial state is a linear map of the dance latent and whose input
    at unit k is the dance latent with unit k's music embedding."""

    def __init__(self, cfg: ComposerConfig, z_movement: int) -> None:
        super().__init__()
        self.layers, self.hidden = cfg.dec_layers, cfg.dance_dec_hidden
        self.to_h0 = nn.Linear(cfg.z_dance, cfg.dec_layers * cfg.dance_dec_hidden)
        self.rnn = make_rnn(
            cfg.rnn, cfg.z_dance + cfg.unit_audio_dim, cfg.dance_dec_hidden, cfg.dec_layers
        )
        h = cfg.dance_dec_hidden
        self.body = nn.Sequential(nn.Linear(h, h), nn.LayerNorm(h), nn.ReLU())
        self.head = nn.Linear(h, 2 * z_movement)
        if cfg.dec_sd_init > 0:  # outputs: means, then log-variances
            with torch.no_grad():
                self.head.bias[z_movement:] = 2 * math.log(cfg.dec_sd_init)
        self.linear = (
            nn.Linear(cfg.z_dance, LINEAR_UNITS * 2 * z_movement, bias=False)
            if cfg.linear_path
            else None
        )

    def forward(self, z_dance: Tensor, unit_music: Tensor) -> Gaussian:
        """Movement-code posteriors of each unit."""
        b, n, _ = unit_music.shape
        h0 = self.to_h0(z_dance).view(b, self.layers, self.hidden).transpose(0, 1).contiguous()
        x = torch.cat([z_dance.unsqueeze(1).expand(-1, n, -1), unit_music], dim=2)
        out = run_rnn(self.rnn, x, h0, naive=False)
        params = self.head(self.body(out))
        if self.linear is not None:  # the map covers LINEAR_UNITS; keep the n units padded to it
            kept = LINEAR_UNITS - linear_units(n)
            params = params + self.linear(z_dance).view(b, LINEAR_UNITS, -1)[:, :kept]
        mu, logvar = full(params).chunk(2, dim=-1)
        return Gaussian(mu, logvar)


class StyleRegressor(nn.Module):
    """Dance latent (B, 512) -> the music's style code (B, 30): MLP 512, 256, 128."""

    def __init__(self, cfg: ComposerConfig) -> None:
        super().__init__()
        h = cfg.regressor_hidden
        self.net = mlp([cfg.z_dance, h, max(h // 2, 1), max(h // 4, 1), cfg.style_dim])

    def forward(self, z_dance: Tensor) -> Tensor:
        """Predicted style code."""
        return full(self.net(z_dance))


class MovementDiscriminator(nn.Module):
    """(movement codes (B, n, z_m; `code_features`), unit music (B, n, A)) -> score (B,).

    Each unit's code features and music go through an MLP (h, h/2, h/4); a GRU/LSTM over the units
    reads the sequence, its last state is scored."""

    def __init__(self, cfg: ComposerConfig, z_movement: int, audio_dim: int) -> None:
        super().__init__()
        h = cfg.disc_hidden
        q = max(h // 4, 1)
        self.code_input = cfg.code_input
        codes = code_feature_dim(cfg, z_movement)
        sizes = [codes + unit_music_dim(cfg, audio_dim), h, max(h // 2, 1), q]
        self.unit = mlp(sizes, last_act=True)
        self.rnn = make_rnn(cfg.rnn, q, q)
        self.out = nn.Linear(q, 1)

    def forward(self, codes: Gaussian, music: Tensor) -> Tensor:
        """Realness score of each sequence."""
        x = self.unit(torch.cat([code_features(codes, self.code_input), music], dim=2))
        h0 = x.new_zeros(1, x.shape[0], self.rnn.hidden_size)
        out = run_rnn(self.rnn, x, h0, naive=False)
        return full(self.out(out[:, -1])).squeeze(1)


class DanceLatentDiscriminator(nn.Module):
    """(dance latent Gaussian (B, 512), style code (B, 30)) -> score (B,): MLP h, h/2."""

    def __init__(self, cfg: ComposerConfig) -> None:
        super().__init__()
        h = cfg.zdisc_hidden
        self.net = mlp([2 * cfg.z_dance + cfg.style_dim, h, max(h // 2, 1), 1])

    def forward(self, z: Gaussian, style_code: Tensor) -> Tensor:
        """Realness score of each dance latent."""
        return full(self.net(torch.cat([z.mu, z.logvar, style_code], dim=1))).squeeze(1)


class Composer(nn.Module):
    """The music-to-movement generator and its training companions (dance encoder, regressor)."""

    def __init__(self, cfg: ComposerConfig, z_movement: int, audio_dim: int = 28) -> None:
        super().__init__()
        self.cfg = cfg
        self.style_enc = MusicStyleEncoder(cfg, audio_dim)
        self.music_enc = mlp([unit_music_dim(cfg, audio_dim), cfg.unit_audio_dim], last_act=True)
        self.dance_enc = DanceEncoder(cfg, z_movement)
        self.dance_dec = DanceDecoder(cfg, z_movement)
        self.regressor = StyleRegressor(cfg)
        self._fits: tuple[int, dict[int, LatentGaussian]] | None = None  # by bank_seen
        self.moments = PriorMoments(cfg.z_dance) if cfg.prior_moments else None
        if cfg.prior == "bank":  # buffers, so that checkpoints carry the bank
            self.register_buffer("bank_z", torch.zeros(cfg.bank_size, cfg.z_dance))
            self.register_buffer("bank_style", torch.full((cfg.bank_size,), -1, dtype=torch.long))
            self.register_buffer("bank_seen", torch.zeros((), dtype=torch.long))
            if cfg.bank_match in KEYED_MATCHES:
                key_dim = WINDOW_UNITS * UNIT_FRAMES * len(KEY_CHANNELS)
                self.register_buffer("bank_key", torch.zeros(cfg.bank_size, key_dim))

    @torch.no_grad()
    def remember(self, z_dance: Tensor, styles: Tensor, audio: Tensor | None = None) -> None:
        """Keep dance latents (B, z_dance) of training sequences, their styles (B,) and, for a
        "music" bank, their music's keys (from `audio` (B, frames, 28)) in the bank, a ring of
        the `bank_size` most recent; a no-op unless `prior` is "bank"."""
        if self.cfg.prior != "bank":
            return
        size = self.cfg.bank_size
        z, labels = z_dance.detach()[-size:], styles.detach()[-size:]
        rows = (self.bank_seen + torch.arange(len(z), device=z.device)) % size
        if self.cfg.bank_match in KEYED_MATCHES:
            if audio is None:
                raise ConfigError("a bank matched by music remembers each sequence's audio=")
            self.bank_key[rows] = music_keys(audio.detach()[-size:]).to(self.bank_key)
        self.bank_z[rows] = z.to(self.bank_z.dtype)
        self.bank_style[rows] = labels.to(self.bank_style.device, torch.long)
        self.bank_seen += len(z)

    def bank_latents(
        self,
        labels: Tensor,
        generator: torch.Generator | None = None,
        audio: Tensor | None = None,
    ) -> Tensor:
        """Dance latents (B, z_dance) drawn from the bank, each among the kept latents of its
        style label (B,), or among all kept latents where that style has none; a "music" bank
        draws among the `bank_topk` of those whose keys best match the window's `audio`."""
        if self.cfg.prior != "bank" or int(self.bank_seen) == 0:
            raise CheckpointError("this composer keeps no bank of dance latents to draw from")
        match_by = self.cfg.bank_match
        if match_by in KEYED_MATCHES and (audio is None or len(audio) != len(labels)):
            raise ConfigError(f'a bank drawing by "{match_by}" takes each window\'s audio=')
        if match_by == "fitted":
            return draw_latents(self.latent_gaussians(), labels, music_keys(audio), generator)
        kept = min(int(self.bank_seen), self.cfg.bank_size)
        styles = self.bank_style[:kept]
        by_music = match_by == "music"
        if by_music:
            match = music_keys(audio) @ self.bank_key[:kept].T.to(audio.device)
        rows = []
        for i, label in enumerate(labels.tolist()):
            pool = torch.nonzero(styles == int(label)).flatten()
            if len(pool) == 0:
                pool = torch.arange(kept, device=styles.device)
            if by_music:
                best = match[i, pool].topk(min(self.cfg.bank_topk, len(pool))).indices
                pool = pool[best.to(pool.device)]
            pick = torch.randint(len(pool), (1,), generator=generator, device=pool.device)
            rows.append(pool[pick])
        return self.bank_z[torch.cat(rows)]

    def latent_gaussians(self) -> dict[int, LatentGaussian]:
        """Gaussians fitted to the bank's latents given their keys, one per style (refitted
        when the bank has changed)."""
        if self.cfg.prior != "bank" or int(self.bank_seen) == 0 or not hasattr(self, "bank_key"):
            raise CheckpointError("this composer keeps no bank of keyed latents to fit")
        seen, kept = int(self.bank_seen), min(int(self.bank_seen), self.cfg.bank_size)
        if self._fits is None or self._fits[0] != seen:
            z, styles, keys = self.bank_z[:kept], self.bank_style[:kept], self.bank_key[:kept]
            self._fits = (seen, fit_latent_gaussians(z, styles, keys))
        return self._fits[1]

    def dance_latent(
        self, style_code: Tensor, noise: Tensor, audio: Tensor | None = None
    ) -> Gaussian:
        """Dance-latent posterior from a style code and noise (B, noise_dim) and, for a prior
        that hears the music, the window's audio (B, frames, 28)."""
        return self.style_enc(style_code, noise, audio)

    def movement_codes(self, z_dance: Tensor, music: Tensor) -> Gaussian:
        """Movement-code posteriors (B, n, z_m) from a dance latent and unit music summaries."""
        return self.dance_dec(z_dance, self.music_enc(music))

    @torch.no_grad()
    def generate(
        self,
        style_code: Tensor,
        audio: Tensor,
        n_units: int,
        generator: torch.Generator | None = None,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Sampled movement codes (B, n_units, z_movement) for style codes (B, 30) and their music
        (B, n_units*32, 28), normalised features; all randomness from `generator`. A "bank" run
        draws each dance latent from the training latents of its style label (`labels` (B,))."""
        dev = style_code.device
        if self.cfg.prior == "bank":
            if labels is None:
                raise ConfigError("a composer with a latent bank composes to style labels=")
            z_dance = self.bank_latents(labels, generator, audio)
        else:
            noise = torch.randn(
                style_code.shape[0], self.cfg.noise_dim, generator=generator, device=dev
            )
            drawn = self.dance_latent(style_code, noise, audio).sample(generator=generator)
            z_dance = moved(self.moments, drawn)
        music = unit_audio_summary(audio, n_units, self.cfg.music_input)
        codes = self.movement_codes(z_dance, music)
        return codes.sample(generator=generator)

    @torch.no_grad()
    def rebuild(self, codes: Gaussian, audio: Tensor, n_units: int) -> Tensor:
        """Movement codes (B*n_units, z_m) of real units rebuilt through the dance encoder and
        decoder (posterior means) with their music (B, n_units*32, 28): (B, n_units, z_m)."""
        b = audio.shape[0]
        real = Gaussian(codes.mu.view(b, n_units, -1), codes.logvar.view(b, n_units, -1))
        music = unit_audio_summary(audio, n_units, self.cfg.music_input)
        return self.movement_codes(self.dance_enc(real).mu, music).mu


class CompStage:
    """Training stage "comp" (trainer protocol) on (units (B, n, 32, 28), audio (B, n*32, 28),
    style (B,)), with a frozen style extractor and a frozen DanceUnit.

    The given modules are frozen in place, not in `modules()`. best.pt is the latest validated
    state (`monitor_mode`): the validation total mixes adversarial terms (its minimum once kept
    step 675 of 800, at FID 135 where the last step composed at 84; 1 December 2026)."""

    name = "comp"
    monitor_mode = "last"  # best.pt: the latest validated state (`train.loop.LoopConfig`)

    def __init__(
        self,
        cfg: Config,
        style_extractor: StyleExtractor,
        dance_unit: DanceUnit,
        device: str | None = None,
    ) -> None:
        self.cfg = cfg
        tcfg = cfg.train_comp
        self.device = torch.device(device or resolve_device(tcfg.device))
        self.style = style_extractor.to(self.device).eval().requires_grad_(False)
        self.dance_unit = dance_unit.to(self.device).eval().requires_grad_(False)
        zm = dance_unit.cfg.z_movement
        feat = style_extractor.cfg.feature_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(tcfg.seed)
            self.composer = Composer(cfg.composer, zm, feat).to(self.device)
            self.mov_disc = MovementDiscriminator(cfg.composer, zm, feat).to(self.device)
            self.dance_disc = DanceLatentDiscriminator(cfg.composer).to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(tcfg.seed + 1)
        betas = (tcfg.beta1, tcfg.beta2)
        disc_params = [*self.mov_disc.parameters(), *self.dance_disc.parameters()]
        self._opts = {
            "composer": torch.optim.Adam(self.composer.parameters(), lr=tcfg.lr, betas=betas),
            "discriminators": torch.optim.Adam(disc_params, lr=tcfg.lr, betas=betas),
        }
        w = cfg.composer
        stepped = {
            k: o for k, o in self._opts.items() if k == "composer" or w.w_gan or w.w_dance_gan
        }
        self._scheds = lr_schedulers(stepped, cfg.train_comp)  # an idle optimiser has none

    def modules(self) -> dict[str, nn.Module]:
        """The trained modules by checkpoint key (the frozen ones are not saved here)."""
        return {"composer": self.composer, "mov_disc": self.mov_disc, "dance_disc": self.dance_disc}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimisers by checkpoint key."""
        return self._opts

    def schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        """The learning-rate schedulers by checkpoint key (none at a constant rate)."""
        return self._scheds

    def style_code(self, audio: Tensor, batch: Sequence[Tensor]) -> Tensor:
        """The music's style code (B, 30): the frozen extractor's, or the oracle's of the batch's
        true style labels (its third item)."""
        if self.cfg.composer.style_source == "oracle":
            n = self.style.cfg.num_classes
            return oracle_codes(batch[2].to(self.device), self.cfg.composer.style_dim, n)
        return self.style.code(audio)

    def _randn(self, *shape: int) -> Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def _dance_view(self, units: Tensor, real: Gaussian, sample: bool) -> Gaussian:
        """The movement codes the dance encoder reads: the units' own ("same"), or with
        "shifted" those of the n-1 units that start a random 1..31 frames later (16 without
        sampling), whose timing says nothing about where the rebuilt units' beats fall."""
        if self.cfg.composer.dance_view == "same":
            return real
        b, n, frames, pose = units.shape
        if n < 2:
            raise ConfigError("a shifted dance view needs sequences of at least 2 units")
        shift = frames // 2
        if sample:
            shift = int(
                torch.randint(1, frames, (1,), generator=self.generator, device=self.device)
            )
        flat = units.reshape(b, n * frames, pose)[:, shift : shift + (n - 1) * frames]
        _, q_mov = self.dance_unit.encode(flat.reshape(b * (n - 1), frames, pose))
        return Gaussian(q_mov.mu.view(b, n - 1, -1), q_mov.logvar.view(b, n - 1, -1))

    def forward(self, batch: tuple[Tensor, Tensor, Tensor], sample: bool = True) -> dict:
        """Everything one step needs: frozen codes, real and music-derived latents and codes."""
        units, audio = (t.to(self.device, non_blocking=True) for t in batch[:2])
        b, n, frames, pose = units.shape
        eps = self._randn if sample else (lambda *s: torch.zeros(s, device=self.device))
        with torch.no_grad():
            style_code = full(self.style_code(audio, batch))
            q_init, q_mov = self.dance_unit.encode(units.reshape(b * n, frames, pose))
            z_init = q_init.sample(eps(b * n, q_init.mu.shape[1]))
            real = Gaussian(q_mov.mu.view(b, n, -1), q_mov.logvar.view(b, n, -1))
            seen = self._dance_view(units, real, sample)
        music = unit_audio_summary(audio, n, self.cfg.composer.music_input)
        c = self.composer
        q_dance = c.dance_enc(seen)
        z_dance = q_dance.sample(eps(b, self.cfg.composer.z_dance))
        recon = c.movement_codes(z_dance, music)
        q_fake = c.dance_latent(style_code, eps(b, self.cfg.composer.noise_dim), audio)
        z_fake = q_fake.sample(eps(b, self.cfg.composer.z_dance))
        fake = c.movement_codes(z_fake, music)
        return {
            "units": units,
            "style_code": style_code,
            "z_init": z_init,
            "real": real,
            "music": music,
            "q_dance": q_dance,
            "z_dance": z_dance,
            "recon": recon,
            "recon_z": recon.sample(eps(*recon.mu.shape)),
            "q_fake": q_fake,
            "z_fake": z_fake,
            "fake": fake,
            "sampled": sample,
        }

    def discriminator_losses(self, f: dict) -> dict[str, Tensor]:
        """LSGAN discriminator terms on detached fakes (empty when both GAN weights are 0)."""
        w = self.cfg.composer
        terms: dict[str, Tensor] = {}
        if w.w_gan > 0:
            fake = Gaussian(f["fake"].mu.detach(), f["fake"].logvar.detach())
            terms["disc_mov"] = 0.5 * (
                lsgan(self.mov_disc(f["real"], f["music"]), 1.0)
                + lsgan(self.mov_disc(fake, f["music"]), 0.0)
            )
        if w.w_dance_gan > 0:
            real = Gaussian(f["q_dance"].mu.detach(), f["q_dance"].logvar.detach())
            fake = Gaussian(f["q_fake"].mu.detach(), f["q_fake"].logvar.detach())
            terms["disc_dance"] = 0.5 * (
                lsgan(self.dance_disc(real, f["style_code"]), 1.0)
                + lsgan(self.dance_disc(fake, f["style_code"]), 0.0)
            )
        return terms

    def generator_losses(self, f: dict) -> dict[str, Tensor]:
        """Weighted generator terms and their sum under "total"; weight-0 terms are absent."""
        w = self.cfg.composer
        t: dict[str, Tensor] = {}
        if w.w_gan > 0:
            t["gan"] = w.w_gan * lsgan(self.mov_disc(f["fake"], f["music"]), 1.0)
        if w.w_dance_gan > 0:
            t["dance_gan"] = w.w_dance_gan * lsgan(
                self.dance_disc(f["q_fake"], f["style_code"]), 1.0
            )
        if w.w_kl > 0:
            t["kl"] = w.w_kl * (f["recon"].kl() + f["fake"].kl())
        if w.w_kl_dance > 0:
            t["kl_dance"] = w.w_kl_dance * (f["q_dance"].kl() + f["q_fake"].kl())
        if w.w_dance_mmd > 0:
            real = torch.cat([f["z_dance"].detach(), f["style_code"]], dim=1)
            fake = torch.cat([f["z_fake"], f["style_code"]], dim=1)
            t["dance_mmd"] = w.w_dance_mmd * mmd(real, fake)
        if w.w_prior_fit > 0:
            t["prior_fit"] = w.w_prior_fit * gaussian_nll(f["q_dance"].mu.detach(), f["q_fake"])
        if w.w_mov_recon > 0:
            t["mov_recon"] = w.w_mov_recon * (
                F.l1_loss(f["recon"].mu, f["real"].mu)
                + F.l1_loss(f["recon"].logvar, f["real"].logvar)
            )
        k = min(w.decoded_sequences or f["units"].shape[0], f["units"].shape[0])
        if w.w_seq_recon > 0:  # the first k sequences, through the frozen unit decoder
            rebuilt = decode_sequences(self.dance_unit, f["recon_z"][:k], f["units"], f["z_init"])
            t["seq_recon"] = w.w_seq_recon * F.l1_loss(rebuilt, f["units"][:k])
        if w.w_rhythm > 0:  # on the codes composed from the music, drawn (means in validation)
            shape = (k, *f["fake"].mu.shape[1:])
            eps = self._randn(*shape) if f["sampled"] else f["fake"].mu.new_zeros(shape)
            rhythm = composed_rhythm(self.dance_unit, f["fake"], eps, f["units"], f["z_init"])
            t["rhythm"] = w.w_rhythm * rhythm
        if w.w_mov_dist > 0:
            t["mov_dist"] = w.w_mov_dist * F.l1_loss(f["fake"].mu, f["real"].mu)
        if w.w_style_reg > 0:
            reg = self.composer.regressor
            t["style_reg"] = w.w_style_reg * (
                F.mse_loss(reg(f["z_dance"]), f["style_code"])
                + F.mse_loss(reg(f["z_fake"]), f["style_code"])
            )
        t["total"] = torch.stack(list(t.values())).sum() if t else f["units"].new_zeros(())
        return t

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], step: int) -> dict[str, Tensor]:
        """A discriminator step then a generator step; returns the detached terms."""
        clip = self.cfg.composer.grad_clip
        self.composer.train()
        with autocast_for(self.device, self.cfg.train_comp.precision):
            f = self.forward(batch)
            d_terms = self.discriminator_losses(f)
        if f["units"].shape[1] == WINDOW_UNITS:
            self.composer.remember(f["q_dance"].mu.float(), batch[2], batch[1])
        if self.composer.moments is not None:
            self.composer.moments.update(f["q_dance"].mu, f["z_fake"])
        out: dict[str, Tensor] = {}
        if d_terms:
            opt_d = self._opts["discriminators"]
            opt_d.zero_grad(set_to_none=True)
            torch.stack(list(d_terms.values())).sum().backward()
            if clip > 0:
                nn.utils.clip_grad_norm_(self.mov_disc.parameters(), clip)
                nn.utils.clip_grad_norm_(self.dance_disc.parameters(), clip)
            opt_d.step()
            out |= {k: v.detach() for k, v in d_terms.items()}
        with autocast_for(self.device, self.cfg.train_comp.precision):
            g_terms = self.generator_losses(f)
        opt = self._opts["composer"]
        opt.zero_grad(set_to_none=True)
        self.mov_disc.requires_grad_(False)
        self.dance_disc.requires_grad_(False)
        if g_terms["total"].requires_grad:  # False only when every generator weight is 0
            g_terms["total"].backward()
        self.mov_disc.requires_grad_(True)
        self.dance_disc.requires_grad_(True)
        if clip > 0:
            nn.utils.clip_grad_norm_(self.composer.parameters(), clip)
        opt.step()
        return out | {k: v.detach() for k, v in g_terms.items()}

    @torch.no_grad()
    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, Tensor]:
        """Generator and discriminator terms on posterior means (no sampling)."""
        self.composer.eval()
        f = self.forward(batch, sample=False)
        return self.discriminator_losses(f) | self.generator_losses(f)
