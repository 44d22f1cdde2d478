"""Import the ballroom dances of Tang, Jia and Mao (*Dance with Melody*, ACM MM 2018).

The public dataset holds motion-captured dances, one folder ``DANCE_<letter>_<n>`` each
(C cha-cha, R rumba, T tango, W waltz), with 23 body points in 3-D (centimetres, y up,
25 fps), the song, and where the dance starts in it. Two forms are read:

- original (the public repository): ``skeletons.json``, ``audio.mp3`` (the whole song),
  ``config.json`` with ``start_position`` / ``end_position`` counted from the song's start;
- packed: ``skeletons.json.gz``, ``audio.ogg`` (a cut of the song), ``config.json`` with the
  positions re-based onto the cut and ``cut_offset_frames``.

`import_ballroom` turns them into the original Dancing to Music layout (see d2mlib.data):
14 joints in 2-D seen by a fixed front camera (orthographic: x to the right, y up becomes
image y down) that pans with the dancer, at 15 fps, on the 256 x 500 canvas with the
synthetic dancer's scale (225 px from nose to ankle, ankles near y = 440); each dance is one
video of one clip, so d2mlib.data's split by video splits by dance. Every clip gets the
aligned song span as a wav, its 28 audio features, its musical beats (meta.json) and the
whole dance (poses.npy). The dataset's styles are listed in styles.txt, tango last, so the
three styles with several dances are labels 0-2 (tango's one dance can only be trained on:
split_by_video puts a style's single video in train).

Written per dance, under ``{style}/DANCE_<letter>_<n>/000/``: ``unit/{k}.npy``,
``seq3/``, ``seq4/``, ``aud/c000_fps15.npy`` and ``aud/c000.wav`` (the song from the dance's
first frame for as long as the 15 fps poses), ``poses.npy`` (T, 14, 2) and ``meta.json``
(beat times in dance time, tempo, the alignment and bone checks). At the top: the unit
lists, ``stats/``, ``styles.txt``, ``ballroom.json`` (one row per dance: sizes, split,
checks) and, last, the completion marker (preset "ballroom").

Alignment: the dance's frame i sits at (start_position + i) / 25 s in the audio file, as
configured. `alignment_check` scores kinematic beats (d2mlib.metrics, on the 15 fps poses)
against librosa's musical beats for offsets of -0.48..+0.48 s and reports the configured
hit rate and the best offset; only ``shift_to_beats`` moves the music by it.

Joint mapping (checked by bone lengths, `bone_check`): the two head points (0, 1) lie side
by side, so the nose is placed 8 cm in front of their midpoint; the neck is the shoulders'
midpoint; wrists are the distal hand points (6, 15), ankles 9 and 18. Forward is where the
toes point (feet points 11/20 lie 18 cm from the ankle, 10/19 11 cm: toe and heel), which
the knees confirm (they bend forward); with a right-handed frame, points 3-11 are then the
dancer's right side in over 99% of frames of every clip (`side_check`, per clip).
"""

from d2mlib.ballroom.importer import (
    CLIP_NAME,
    MARKER_PRESET,
    OFFSETS,
    SUMMARY_FILE,
    alignment_check,
    convert_clip,
    import_ballroom,
    import_clip,
    main,
    summary_table,
)
from d2mlib.ballroom.pose import (
    BODY_PIXELS,
    GROUND_PIXELS,
    bone_check,
    facing,
    joints_3d,
    project,
    resample,
    side_check,
)
from d2mlib.ballroom.source import (
    SOURCE_FPS,
    STYLE_OF_LETTER,
    STYLES,
    SourceClip,
    find_clips,
    read_clip,
    style_of,
)

__all__ = [
    "BODY_PIXELS",
    "CLIP_NAME",
    "GROUND_PIXELS",
    "MARKER_PRESET",
    "OFFSETS",
    "SOURCE_FPS",
    "STYLES",
    "STYLE_OF_LETTER",
    "SUMMARY_FILE",
    "SourceClip",
    "alignment_check",
    "bone_check",
    "convert_clip",
    "facing",
    "find_clips",
    "import_ballroom",
    "import_clip",
    "joints_3d",
    "main",
    "project",
    "read_clip",
    "resample",
    "side_check",
    "style_of",
    "summary_table",
]
