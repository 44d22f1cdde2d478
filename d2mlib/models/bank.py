"""Keys of music windows by their loudness curve, which a bank composer (`models.composer`,
``bank_match="music"``) and the keyed-retrieval floor (`metrics.KeyedRetrieval`) match by."""

from __future__ import annotations

import math

from torch import Tensor

from d2mlib.audio import N_CEPSTRA
from d2mlib.errors import ConfigError

KEY_CHANNELS = (N_CEPSTRA, 2 * N_CEPSTRA + 1)  # audio features: log energy and its change


def music_keys(audio: Tensor) -> Tensor:
    """Keys (B, frames * 2) of music windows (B, frames, 28): log energy and its change, each
    standardised over the window's frames, scaled so that a key's dot product with another is
    their mean correlation (1 for the same loudness curve; 0 for a flat one)."""
    if audio.ndim != 3 or audio.shape[-1] <= max(KEY_CHANNELS) or audio.shape[1] < 2:
        raise ConfigError(f"music_keys takes audio (B, frames >= 2, 28), got {tuple(audio.shape)}")
    k = audio[..., list(KEY_CHANNELS)].float()
    k = (k - k.mean(1, keepdim=True)) / (k.std(1, correction=0, keepdim=True) + 1e-6)
    return k.reshape(len(k), -1) / math.sqrt(k.shape[1] * k.shape[2])
