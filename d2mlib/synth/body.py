"""Dancers: body proportions, neutral posture, amplitude, and forward kinematics.

A dancer's proportions, neutral posture and amplitude are drawn from one distribution for
every style, so a dancer's standing posture does not say which style they dance: style
lives in the movements (d2mlib.synth.moves) and their dynamics (d2mlib.synth.dance).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from d2mlib import skeleton
from d2mlib.synth.config import check_style

# pose parameters: root offset (x, y in body heights), lean, head tilt, arm angles
# (0 = down, pi/2 = out, pi = up) and elbow bends, leg abductions, knee bends, leg lifts
# and shoulder twist (1 = square to the camera)
POSE_PARAMS: tuple[str, ...] = ("dx", "dy", "lean", "head", "rsh", "rel", "lsh", "lel")
POSE_PARAMS += ("rhip", "rknee", "lhip", "lknee", "rlift", "llift", "twist")
P = {name: i for i, name in enumerate(POSE_PARAMS)}
D = len(POSE_PARAMS)
_PROPORTIONS = {  # segment lengths as fractions of the dancer's height (nose to ankle)
    "neck": 0.11,
    "torso": 0.31,
    "shoulder": 0.10,
    "hip": 0.055,
    "upper_arm": 0.15,
    "forearm": 0.14,
    "thigh": 0.245,
    "shin": 0.235,
}
_BASE = {
    "ballet": {"rsh": 0.35, "rel": -0.4, "lsh": 0.35, "lel": -0.4, "rhip": 0.04, "lhip": 0.04},
    "zumba": {"rsh": 0.35, "rel": 0.6, "lsh": 0.35, "lel": 0.6, "rhip": 0.12, "lhip": 0.12},
    "hiphop": {"rsh": 0.25, "rel": 0.9, "lsh": 0.25, "lel": 0.9, "rhip": 0.2, "lhip": 0.2},
}
_BASE["zumba"].update(rknee=0.15, lknee=0.15)
_BASE["hiphop"].update(rknee=0.55, lknee=0.55)


def base_pose(style: str) -> np.ndarray:
    """A style's reference pose (15,), in the order of POSE_PARAMS.

    The style's movements are written as poses around it; a dancer dances them as
    deviations from the reference added to their own neutral posture (`draw_dancer`).
    """
    q = np.zeros(D)
    q[P["twist"]] = 1.0
    for name, value in _BASE[check_style(style)].items():
        q[P[name]] = value
    return q


def draw_dancer(rng: np.random.Generator) -> dict[str, Any]:
    """A dancer: size, camera framing, proportions, neutral posture and amplitude (any style)."""
    body_size = float(rng.uniform(0.9, 1.1))
    camera = float(rng.uniform(0.82, 1.06))
    lengths = {k: float(v * rng.uniform(0.94, 1.06)) for k, v in _PROPORTIONS.items()}
    neutral = np.zeros(D)
    neutral[P["twist"]] = 1.0
    shoulder = rng.uniform(0.05, 0.8)
    elbow = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 1.5)  # arms curved in or bent out
    hip, knee = rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.8)
    for side in ("r", "l"):
        neutral[P[side + "sh"]] = shoulder + rng.normal(0.0, 0.05)
        neutral[P[side + "el"]] = elbow + rng.normal(0.0, 0.1)
        neutral[P[side + "hip"]] = hip
        neutral[P[side + "knee"]] = knee + rng.normal(0.0, 0.05)
    neutral[P["lean"]] = rng.normal(0.0, 0.04)
    neutral[P["head"]] = rng.normal(0.0, 0.06)
    return {
        "body_size": body_size,
        "camera_scale": camera,
        "height": 225.0 * body_size * camera,
        "lengths": lengths,
        "cx": float(skeleton.CANVAS_WIDTH / 2 + rng.uniform(-14, 14)),
        "ground": float(440.0 + rng.uniform(-20, 25)),
        "amplitude": float(rng.uniform(0.7, 1.3)),
        "neutral": neutral,
    }


def forward_kinematics(q: np.ndarray, body: dict[str, float]) -> np.ndarray:
    """Joint positions (T, 14, 2) in pixels from pose parameters (T, 15)."""
    h = body["height"]
    L = {k: v * h for k, v in body["lengths"].items()}
    p = {name: q[:, i] for name, i in P.items()}
    lean = p["lean"]
    c, s = np.cos(lean), np.sin(lean)

    def rot(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x * c - y * s, x * s + y * c

    legs = {}
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        a, k, lift = p[side + "hip"], p[side + "knee"], p[side + "lift"]
        thigh = (
            sgn * np.sin(a + k / 2) * L["thigh"],
            np.cos(a + k / 2) * np.cos(lift) * L["thigh"],
        )
        shin = (sgn * np.sin(a - k / 2) * L["shin"], np.cos(a - k / 2) * L["shin"])
        legs[side] = (sgn, thigh, shin)
    extent = np.maximum(legs["r"][1][1] + legs["r"][2][1], legs["l"][1][1] + legs["l"][2][1])
    px = body["cx"] + p["dx"] * h
    py = body["ground"] - extent + p["dy"] * h
    out = np.empty((q.shape[0], skeleton.NUM_JOINTS, 2))
    J = skeleton.JOINT
    for side, (sgn, thigh, shin) in legs.items():
        hx, hy = px + sgn * L["hip"], py
        out[:, J[side + "_hip"]] = np.stack([hx, hy], -1)
        out[:, J[side + "_knee"]] = np.stack([hx + thigh[0], hy + thigh[1]], -1)
        out[:, J[side + "_ankle"]] = np.stack(
            [hx + thigh[0] + shin[0], hy + thigh[1] + shin[1]], -1
        )
    nx, ny = px + L["torso"] * s, py - L["torso"] * c
    out[:, J["neck"]] = np.stack([nx, ny], -1)
    out[:, J["nose"]] = np.stack(
        [nx + L["neck"] * np.sin(lean + p["head"]), ny - L["neck"] * np.cos(lean + p["head"])], -1
    )
    for side, sgn in (("r", -1.0), ("l", 1.0)):
        dx, dy = rot(sgn * L["shoulder"] * p["twist"], 0.0 * lean)
        sx, sy = nx + dx, ny + dy
        a, e = p[side + "sh"], p[side + "el"]
        ux, uy = rot(sgn * np.sin(a) * L["upper_arm"], np.cos(a) * L["upper_arm"])
        fx, fy = rot(sgn * np.sin(a + e) * L["forearm"], np.cos(a + e) * L["forearm"])
        out[:, J[side + "_shoulder"]] = np.stack([sx, sy], -1)
        out[:, J[side + "_elbow"]] = np.stack([sx + ux, sy + uy], -1)
        out[:, J[side + "_wrist"]] = np.stack([sx + ux + fx, sy + uy + fy], -1)
    return out
