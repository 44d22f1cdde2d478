"""A style's musical traits: rhythm (meter, swing, drum patterns), instruments, key and chords.

A borrowing clip takes one or two of the traits {tempo, rhythm, instruments} from one other
style (never all three, so that its music keeps something of its own style).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from d2mlib.synth.config import STYLES, TRAITS


def _ballet_rhythm(rng: np.random.Generator) -> dict[str, Any]:
    """Waltz (3/4) or march (4/4): kick on the downbeat, stabs on the other beats."""
    meter = 3 if rng.random() < 0.55 else 4
    n = meter * 4
    beat = np.zeros(n)
    beat[::4] = 1.0
    kick = np.zeros(n)
    kick[0] = 1.0
    if meter == 4:
        kick[8] = 0.5
    stab = beat * 0.6
    stab[0] = 0.0
    pat = {
        "kick": kick,
        "snare": np.zeros(n),
        "hat": beat * 0.35,
        "openhat": np.zeros(n),
        "stab": stab,
        "bass": kick.copy(),
    }
    return {
        "meter": meter,
        "swing": 0.5,
        "arp_sub": int(rng.choice([2, 3])),
        "chord_bars": 1,
        "variant": "waltz" if meter == 3 else "march",
        "patterns": pat,
    }


def rhythm_traits(style: str, rng: np.random.Generator) -> dict[str, Any]:
    """Meter, swing, arpeggio grid and drum patterns on a 16th-note grid (meter * 4 slots)."""
    if style == "ballet":
        return _ballet_rhythm(rng)
    n = 16
    if style == "zumba":
        variant = "dembow" if rng.random() < 0.5 else "house"
        kick = np.tile([1.0, 0, 0, 0], 4)
        snare = np.zeros(n)
        if variant == "dembow":
            snare[[3, 6, 11, 14]] = 0.5
            snare[[4, 12]] = 1.0
        else:
            snare[[4, 12]] = 1.0
        hat = np.tile([0.6, 0.15, 0.0, 0.15], 4)
        openhat = np.tile([0.0, 0, 1.0, 0], 4)
        stab = np.zeros(n)
        stab[[3, 6, 11, 14] if variant == "dembow" else [2, 6, 10, 14]] = 0.6
        stab[[0, 8]] = 1.0
        bass = kick * 0.9
        pat = {"kick": kick, "snare": snare, "hat": hat, "openhat": openhat}
        pat.update({"stab": stab, "bass": bass})
        return {
            "meter": 4,
            "swing": 0.5,
            "arp_sub": 4,
            "chord_bars": 1,
            "variant": variant,
            "patterns": pat,
        }
    # hip-hop: boom-bap kick, snare on 2 and 4, swung hats, bass on the kicks
    variants = {"boombap": [0, 8, 10], "syncopated": [0, 7, 10], "halftime": [0, 3, 8, 11]}
    variant = list(variants)[int(rng.integers(len(variants)))]
    kick = np.zeros(n)
    kick[variants[variant]] = 0.75
    kick[[0, 8]] = 1.0
    snare = np.zeros(n)
    snare[[4, 12]] = 1.0
    if rng.random() < 0.5:
        snare[14] = 0.25
    hat = np.tile([0.6, 0.0, 0.45, 0.0], 4)
    if rng.random() < 0.4:
        hat[[13, 15]] = 0.3
    openhat = np.zeros(n)
    openhat[14] = 0.3
    stab = np.zeros(n)
    stab[[0, 10]] = 0.7
    pat = {"kick": kick, "snare": snare, "hat": hat, "openhat": openhat}
    pat.update({"stab": stab, "bass": kick.copy()})
    return {
        "meter": 4,
        "swing": float(rng.uniform(0.56, 0.66)),
        "arp_sub": 2,
        "chord_bars": 1,
        "variant": variant,
        "patterns": pat,
    }


def instrument_traits(style: str, rng: np.random.Generator) -> dict[str, Any]:
    """Levels (0 = absent) and timbres of the instruments."""

    def jit(x: float, rel: float = 0.2) -> float:
        return float(x * rng.uniform(1 - rel, 1 + rel))

    if style == "ballet":
        return {
            "levels": {
                "kick": jit(0.25),
                "snare": 0.0,
                "hat": 0.0,
                "openhat": 0.0,
                "stab": jit(0.22),
                "bass": jit(0.3),
                "arp": jit(0.5),
                "pad": jit(0.45),
            },
            "kick": {"f0": jit(110.0), "f1": jit(60.0), "dp": 0.06, "dk": jit(0.35), "click": 0.1},
            "bass_kind": "cello",
            "bright": jit(0.35),  # FM index of stabs and arps
            "pad_attack": jit(0.35),
            "arp_decay": jit(0.6),
            "stab_decay": jit(0.5),
            "reverb": {"seconds": jit(0.45, 0.15), "wet": jit(0.35, 0.2)},
            "attack": {"stab": 0.01, "arp": 0.004},
        }
    if style == "zumba":
        return {
            "levels": {
                "kick": jit(1.0),
                "snare": jit(0.45),
                "hat": jit(0.3),
                "openhat": jit(0.1),
                "stab": jit(0.4),
                "bass": jit(0.5),
                "arp": jit(0.18),
                "pad": jit(0.08),
            },
            "kick": {"f0": jit(160.0), "f1": jit(52.0), "dp": 0.03, "dk": jit(0.22), "click": 0.7},
            "bass_kind": "synth",
            "bright": jit(2.6),
            "pad_attack": 0.05,
            "arp_decay": jit(0.12),
            "stab_decay": jit(0.14),
            "reverb": {"seconds": jit(0.25, 0.15), "wet": jit(0.15, 0.2)},
            "attack": {"openhat": 0.06, "stab": 0.03, "bass": 0.01, "arp": 0.004},
        }
    return {
        "levels": {
            "kick": jit(1.0),
            "snare": jit(0.75),
            "hat": jit(0.28),
            "openhat": jit(0.12),
            "stab": jit(0.12),
            "bass": jit(0.85),
            "arp": 0.0,
            "pad": jit(0.2),
        },
        "kick": {"f0": jit(120.0), "f1": jit(45.0), "dp": 0.04, "dk": jit(0.3), "click": 0.35},
        "bass_kind": "808",
        "bright": jit(0.8),
        "pad_attack": jit(0.08),
        "arp_decay": jit(0.2),
        "stab_decay": jit(0.3),
        "reverb": {"seconds": jit(0.3, 0.15), "wet": jit(0.12, 0.2)},
        "attack": {"openhat": 0.01},
    }


SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)),
}
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def tonal_traits(style: str, rng: np.random.Generator) -> dict[str, Any]:
    """Key (tonic, major or minor) and a four-chord progression."""
    p_minor = {"ballet": 0.35, "zumba": 0.45, "hiphop": 0.7}[style]
    mode = "minor" if rng.random() < p_minor else "major"
    progs = PROGRESSIONS[mode]
    return {
        "tonic": int(rng.integers(12)),
        "mode": mode,
        "progression": [int(d) for d in progs[int(rng.integers(len(progs)))]],
    }


def draw_borrowing(
    style: str, borrowable: tuple[str, ...], rng: np.random.Generator
) -> dict[str, str]:
    """The traits one borrowing clip takes, and the one style it takes them from."""
    donor = [s for s in STYLES if s != style][int(rng.integers(2))]
    traits = [t for t in TRAITS if t in borrowable]
    subsets = [(t,) for t in traits]
    subsets += [(a, b) for i, a in enumerate(traits) for b in traits[i + 1 :]]
    return {t: donor for t in subsets[int(rng.integers(len(subsets)))]}
