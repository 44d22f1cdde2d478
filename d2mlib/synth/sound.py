"""Sound synthesis: one-shot templates of notes and hits, placed by vectorised gathers.

Each instrument's notes and hits become one-shot templates, rendered once per buffer for each
distinct pitch and length, then placed in cache-sized chunks (no per-sample Python loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from d2mlib.synth.config import SAMPLE_RATE

F32 = np.float32
CHUNK = 32768  # samples placed at a time: the working arrays stay in cache
MAX_SECONDS = 1.5  # a percussive or plucked note is cut (faded) after this long
SUSTAINED = ("pad", "cello")  # these ring on until their next note
_FADE = 0.008  # seconds of release before an event is cut by the next one


@dataclass
class Voice:
    """A monophonic voice: onsets, velocities, and which template (one-shot) each plays.

    An event sounds from its onset until the next event of the same voice. Events with the
    same pitch and (quantised) length share one template, rendered once per video.
    """

    starts: np.ndarray  # int64 sample index in the buffer, sorted
    amps: np.ndarray  # float32 velocity with the instrument level folded in
    base: np.ndarray  # int64: bank offset of the event's template minus its start
    bank: np.ndarray  # float32: the voice's templates, concatenated


def voice(
    kind: str,
    times: np.ndarray,
    amps: np.ndarray,
    n0: int,
    n: int,
    rng: np.random.Generator,
    freqs: np.ndarray | None = None,
    *,
    cache: dict[tuple, np.ndarray] | None = None,
    **params: float,
) -> Voice | None:
    """Events of one instrument over the buffer [n0, n0 + n), with their templates.

    `cache` (one per video) keeps rendered templates for the next buffer of the same video.
    """
    starts = np.ceil(times * SAMPLE_RATE).astype(np.int64) - n0
    keep = (amps > 0) & (starts < n)
    if not np.any(keep):
        return None
    f = np.zeros((len(times), 1)) if freqs is None else np.asarray(freqs, dtype=np.float64)
    f = f.reshape(len(times), -1)[keep]
    starts, amps = starts[keep], amps[keep]
    order = np.argsort(starts, kind="stable")
    starts, amps, f = starts[order], amps[order], f[order]
    gaps = np.diff(np.append(starts, max(n, int(starts[-1]) + 1)))
    live = starts + gaps > 0  # events that end before the buffer starts are never heard
    starts, amps, f, gaps = starts[live], amps[live], f[live], gaps[live]
    rests = starts[:0]
    if kind not in SUSTAINED:  # a long-decayed note ends in a silent rest
        cap = int(MAX_SECONDS * SAMPLE_RATE)
        rests = starts[gaps > cap] + cap
        gaps = np.minimum(gaps, cap)
    _, pitch = np.unique(f, axis=0, return_inverse=True)
    # lengths within 64 samples of each other (rounding, not rhythm) share a template
    lengths = np.unique(gaps)
    length_class = np.concatenate([[0], np.cumsum(np.diff(lengths) > 64)])
    length_class = length_class[np.searchsorted(lengths, gaps)]
    key = np.stack([pitch.ravel(), length_class], 1)
    _, tid = np.unique(key, axis=0, return_inverse=True)
    tid = tid.ravel()
    n_t = int(tid.max()) + 1
    longest = np.zeros(n_t, dtype=np.int64)
    np.maximum.at(longest, tid, gaps)
    shortest = np.full(n_t, 2**62, dtype=np.int64)
    np.minimum.at(shortest, tid, gaps)
    first = np.zeros(n_t, dtype=np.int64)
    first[tid[::-1]] = np.arange(len(tid))[::-1]  # an event of each template
    offsets = np.concatenate([[0], np.cumsum(longest)])
    bank = np.zeros(int(offsets[-1]), dtype=F32)
    cache = {} if cache is None else cache
    for t in np.argsort(-longest, kind="stable"):  # the longest first: the shorter reuse it
        wave = _cached(kind, int(longest[t]), f[first[t]], rng, params, cache)
        left = (shortest[t] - np.arange(longest[t])) * (1 / (_FADE * SAMPLE_RATE))
        bank[offsets[t] : offsets[t + 1]] = wave * np.clip(left, 0, 1).astype(F32)
    base = offsets[tid] - starts
    if len(rests):  # rests read the bank's last sample (a zero; place clamps), at velocity 0
        bank = np.append(bank, F32(0))
        starts = np.concatenate([starts, rests])
        amps = np.concatenate([amps, np.zeros(len(rests))])
        base = np.concatenate([base, offsets[-1] - rests])
        order = np.argsort(starts, kind="stable")
        starts, amps, base = starts[order], amps[order], base[order]
    return Voice(starts, amps.astype(F32), base, bank)


def _cached(
    kind: str,
    length: int,
    freqs: np.ndarray,
    rng: np.random.Generator,
    params: dict[str, float],
    cache: dict[tuple, np.ndarray],
) -> np.ndarray:
    """The first `length` samples of a template, rendered once per pitch and timbre."""
    key = (kind, tuple(np.asarray(freqs).ravel().tolist()), tuple(sorted(params.items())))
    wave = cache.get(key)
    if wave is None or len(wave) < length:
        tau = np.arange(length, dtype=F32) * F32(1 / SAMPLE_RATE)
        wave = cache[key] = template(kind, tau, freqs, rng, params)
    return wave[:length]


def template(
    kind: str, tau: np.ndarray, freqs: np.ndarray, rng: np.random.Generator, p: dict[str, float]
) -> np.ndarray:
    """The waveform of one note or hit, at unit velocity, over `tau` seconds since its onset."""
    two_pi = F32(2 * np.pi)
    noise = rng.random(len(tau) + 1, dtype=F32)
    noise = noise[1:] - noise[:-1]  # white noise, high-passed
    if kind == "kick":
        ph = tau * F32(p["f1"])
        ph += F32((p["f0"] - p["f1"]) * p["dp"]) * (1 - np.exp(tau * F32(-1 / p["dp"])))
        click = F32(p["click"]) * np.exp(tau * F32(-250.0)) * noise
        return np.exp(tau * F32(-1 / p["dk"])) * np.sin(two_pi * ph) + click
    if kind == "snare":
        body = F32(0.5) * np.sin(tau * F32(2 * np.pi * 185.0)) + F32(0.8) * noise
        return np.exp(tau * F32(-14.0)) * body
    attack = np.minimum(tau * F32(1 / p.get("attack", 0.0025)), F32(1))
    if kind == "hat":
        return np.exp(tau * F32(-1 / p["decay"])) * attack * noise
    w = (two_pi * freqs.astype(F32))[:, None]
    ph = w * tau[None, :]  # (voices, samples)
    if kind == "808":
        return np.exp(tau * F32(-1.6)) * attack * np.sin(ph[0])
    if kind == "synth":
        return (
            np.exp(tau * F32(-6.0))
            * attack
            * np.sin(ph[0] + 1.5 * np.exp(-10 * tau) * np.sin(ph[0]))
        )
    if kind == "cello":
        wave = np.sin(ph[0]) + F32(0.4) * np.sin(2 * ph[0]) + F32(0.2) * np.sin(3 * ph[0])
        return np.minimum(tau * F32(1 / 0.12), F32(1)) * wave
    if kind == "pad":
        wave = (np.sin(ph) + F32(0.25) * np.sin(2 * ph)).sum(0)
        return np.minimum(tau * F32(1 / p["attack"]), F32(1)) * wave
    # stab and arp: bright FM plucks
    index = F32(p["bright"] * (1.0 if kind == "stab" else 0.5))
    wave = np.sin(ph + index * np.sin(ph)).sum(0)
    return np.exp(tau * F32(-1 / p["decay"])) * attack * wave


def place(voice: Voice, c0: int, idx: np.ndarray, out: np.ndarray) -> None:
    """Add `voice` over samples [c0, c0 + len(out)) to `out` (idx: arange(len(out)))."""
    size = len(out)
    i0 = max(int(np.searchsorted(voice.starts, c0, side="right")) - 1, 0)
    i1 = int(np.searchsorted(voice.starts, c0 + size, side="left"))
    if i1 == 0:
        return  # nothing has started yet
    bounds = np.clip(voice.starts[i0:i1] - c0, 0, size)
    counts = np.diff(np.append(bounds, size))
    lead = int(bounds[0])  # samples before the voice's first event: silent
    pos = np.repeat((voice.base[i0:i1] + c0).astype(np.int32), counts) + idx[lead:size]
    np.minimum(pos, len(voice.bank) - 1, out=pos)  # a rest runs past its (one-sample) template
    out[lead:] += voice.bank[pos] * np.repeat(voice.amps[i0:i1], counts)


def mix_down(
    voices: list[Voice], n: int, noise_level: float, rng: np.random.Generator
) -> np.ndarray:
    """The sum of `voices` over a buffer of `n` samples, plus a quiet noise floor."""
    noise = rng.random(CHUNK, dtype=np.float32) - F32(0.5)
    noise *= F32(noise_level)
    idx = np.arange(CHUNK, dtype=np.int32)
    y = np.empty(n, dtype=np.float32)
    for c0 in range(0, n, CHUNK):
        out = noise[: min(CHUNK, n - c0)].copy()
        for v in voices:
            place(v, c0, idx, out)
        y[c0 : c0 + len(out)] = out
    return y


def add_reverb(y: np.ndarray, seconds: float, wet: float, rng: np.random.Generator) -> None:
    """Add (in place) a decaying-noise reverb, convolved by overlap-add FFT at half the rate."""
    n = len(y)
    ir_len = int(seconds * SAMPLE_RATE / 2)
    t_ir = np.arange(ir_len, dtype=np.float32) * F32(2 / SAMPLE_RATE)
    ir = (rng.random(ir_len, dtype=np.float32) - 0.5) * np.exp(t_ir * F32(-6.9 / seconds))
    ir *= np.float32(wet / max(np.sqrt(np.sum(ir * ir)), 1e-6))
    half = (y[0 : n - 1 : 2] + y[1:n:2]) * F32(0.5)
    rev = np.repeat(signal.oaconvolve(half, ir)[: len(half)].astype(np.float32), 2)
    y[: len(rev)] += rev
