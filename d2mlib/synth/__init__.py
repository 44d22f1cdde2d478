"""The synthetic dance world: music, dance and ground truth by style (second version).

Three styles, each with its own music and its own movement vocabulary. Where to find what:

- `config`: SynthConfig (sizes, seed, the ambiguity dials), presets, shared constants;
- `traits`: a style's rhythm, instruments, key and chords, and how clips borrow them;
- `music`: the beat grid, bars and sections (the energy curve) and the rendering;
- `sound`: the synthesis primitives (one-shot templates, placing, reverb);
- `body`: dancers (proportions, neutral posture, amplitude) and forward kinematics;
- `moves`: each style's movement vocabulary, one module per style;
- `dance`: rendering a dance from the music's ground truth;
- `world`: videos, clips, `generate_clips` and `style_clip`.

Within a style the music shapes the dance: sections select movement families, the bar's
energy sets amplitude and speed, and keyframes fall on the beats; every clip records that
ground truth per frame in its `meta` ("energy", "section", "amplitude", "downbeat_times").
Style lives in the movement vocabulary and its dynamics, not in the standing posture.
"""

from d2mlib.synth.body import POSE_PARAMS, base_pose, draw_dancer, forward_kinematics
from d2mlib.synth.config import (
    FPS,
    HOP,
    SAMPLE_RATE,
    SECTION_ENERGY,
    SECTIONS,
    STYLES,
    TEMPO_RANGES,
    TRAITS,
    WORLD_VERSION,
    SynthConfig,
    synth_preset,
)
from d2mlib.synth.moves import FAMILIES, MOVEMENTS, Movement, movement_names
from d2mlib.synth.world import Clip, generate_clips, style_clip, video_name

__all__ = [
    "FAMILIES",
    "FPS",
    "HOP",
    "MOVEMENTS",
    "POSE_PARAMS",
    "SAMPLE_RATE",
    "SECTIONS",
    "SECTION_ENERGY",
    "STYLES",
    "TEMPO_RANGES",
    "TRAITS",
    "WORLD_VERSION",
    "Clip",
    "Movement",
    "SynthConfig",
    "base_pose",
    "draw_dancer",
    "forward_kinematics",
    "generate_clips",
    "movement_names",
    "style_clip",
    "synth_preset",
    "video_name",
]
