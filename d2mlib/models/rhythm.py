"""The composer's rhythm term (not the paper's): a dance composed from a window's music should
speed up and slow down where the real dance to that music did.

Nothing in the paper's losses asks the composed dance to move with its music's beats: its
discriminators read each unit's music as a mean and a standard deviation, and the dance latent,
which holds when the movements happen, comes from the style code and noise. In the build at fcd0e85
its dances hit the beat at 0.286, random real units at 0.294. This term compares the composed
dance's speed, frame by frame, with that of the real dance the window's music came with. It reads
the dance's timing only: which poses the dance passes through is left to the other terms. With
``music_input="loudness"`` the dance decoder hears each unit's loudness curve, which says where
the beats fall, and this term is what teaches it to use it.

Two parts: one minus the correlation of the two speed curves after each loses its moving average
over `HIGH_PASS_FRAMES` (the beat-to-beat rise and fall, not the slower swell with the music's
energy), and the absolute log ratio of their mean speeds (so that a correlated but frozen or
frantic dance still pays). Identical dances score 0. In training (`composed_rhythm`) the
composed codes of a batch's first ``decoded_sequences`` sequences (`config.ComposerConfig`; 0:
all) are decoded through the frozen unit decoder, each unit from its real first pose as in
``seq_recon``, which decodes the same sequences' rebuilt codes.

The book's preset uses it at weight 10. With the loudness curve alone (one seed, the bank's
autoencoder settings): music dependence 0.04, beat hit rate 0.291. Measured once outside the
build (1 December 2026, 800 steps, the evaluation's seed-0 test clips, where random real units
hit the tracked beats at 0.310 and score FID 52): weight 10 hit at 0.446, 0.393 and 0.393 over
training seeds 0 to 2 (the first with the term on the whole batch), at FID 96, 75 and 79, where
the preset without the term scored FID 84 (and, in the build at fcd0e85, hit at 0.286 against
random units' 0.294); weight 3 hit at 0.342 and 0.291 over seeds 0 and 1, at FID 65 and 97;
weight 10 on 8 sequences hit at 0.284 and 0.276 over seeds 0 and 1 (against 0.310). On 16
sequences (the book's 32 a batch) it hit at 0.393 and 0.393 over seeds 1 and 2, FID 75 and 79;
with ``seq_recon`` on the same 16 too (as the preset has it), 0.362 and 0.389, FID 76 and 77,
training in 298 and 303 s instead of 375 and 376 s (two runs at once, one thread each). In the
cold build at 6177f5a (3 seeds, 180 test clips, the book's rule) the composer beat both floors
on 5 of 15 metrics, where without the term (fcd0e85) on none: hit rate 0.397 against random
units' 0.294 and retrieval's 0.309 (declared against the first only), FID 79.1 against 58.4.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from d2mlib.errors import ConfigError
from d2mlib.models.dance_unit import DanceUnit, Gaussian
from d2mlib.models.rnn import full

HIGH_PASS_FRAMES = 9  # 0.6 s at 15 fps: about a beat at the synthetic world's 60-136 beats a
# minute (6.6 to 15 frames a beat), and shorter than any two
EPS = 1e-8


def speed(poses: Tensor) -> Tensor:
    """Frame-to-frame speed (B, T-1) of pose sequences (B, T, D)."""
    if poses.dim() != 3 or poses.shape[1] < 2:
        raise ConfigError(f"speed needs pose sequences (B, T>=2, D), got {tuple(poses.shape)}")
    return (poses[:, 1:] - poses[:, :-1]).square().sum(-1).add(EPS).sqrt()


def high_pass(curves: Tensor, frames: int = HIGH_PASS_FRAMES) -> Tensor:
    """Curves (B, T) less their centred moving average over `frames` (odd; edges repeated)."""
    if frames < 1 or frames % 2 == 0:
        raise ConfigError(f"high_pass needs an odd positive window, got {frames}")
    half = frames // 2
    padded = F.pad(curves[:, None], (half, half), mode="replicate")
    return curves - F.avg_pool1d(padded, frames, stride=1)[:, 0]


def _standardised(curves: Tensor) -> Tensor:
    centred = curves - curves.mean(1, keepdim=True)
    return centred / centred.square().mean(1, keepdim=True).add(EPS).sqrt()


def rhythm_loss(composed: Tensor, real: Tensor) -> Tensor:
    """How far a composed dance's speed is from its real dance's (both (B, T, D)): one minus
    the correlation of their high-passed speed curves plus the absolute log ratio of their mean
    speeds, averaged over the batch."""
    if composed.shape != real.shape:
        raise ConfigError(
            f"rhythm_loss needs equal shapes, got {tuple(composed.shape)} and {tuple(real.shape)}"
        )
    a, b = speed(composed), speed(real)
    corr = (_standardised(high_pass(a)) * _standardised(high_pass(b))).mean(1)
    scale = (a.mean(1).log() - b.mean(1).log()).abs()
    return (1.0 - corr + scale).mean()


def decode_sequences(dance_unit: DanceUnit, z_m: Tensor, units: Tensor, z_init: Tensor) -> Tensor:
    """Units (k, n, 32, D) decoded from movement codes (k, n, z_m), each from its initial-pose
    code (rows of `z_init` (>= k*n, z_i)) and the real first pose of the same unit of `units`."""
    k, n = z_m.shape[:2]
    first = units[:k].reshape(k * n, *units.shape[2:])[:, 0]
    decoded = dance_unit.decode(z_init[: k * n], z_m.reshape(k * n, -1), pose0=first)
    return full(decoded).view(k, n, *units.shape[2:])


def composed_rhythm(
    dance_unit: DanceUnit, codes: Gaussian, eps: Tensor, units: Tensor, z_init: Tensor
) -> Tensor:
    """The rhythm loss of the first k sequences of a batch of real units (B, n, 32, D), k the
    rows of `eps` (k, n, z_m): their composed movement codes (B, n, z_m), drawn with `eps`,
    decoded (`decode_sequences`) from their initial-pose codes `z_init` (B*n, z_i)."""
    k = eps.shape[0]
    z_m = Gaussian(codes.mu[:k], codes.logvar[:k]).sample(eps)
    composed = decode_sequences(dance_unit, z_m, units, z_init)
    return rhythm_loss(composed.flatten(1, 2), units[:k].flatten(1, 2))
