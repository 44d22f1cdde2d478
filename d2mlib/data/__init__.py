"""The dataset on disk (the original layout), its packed feature store, and the torch loaders.

Layout (the original Dancing2Music data's, which the synthetic world also writes)::

    unitList/{style}_unit.txt       "data/{style}/{video}/{clip}/unit/{k}.npy"  (32, 14, 2) float32
    unitList/{style}_unitseq3.txt   "data/{style}/{video}/{clip}/seq3/{k}.npy"  (3, 32, 14, 2)
    unitList/{style}_unitseq4.txt   "data/{style}/{video}/{clip}/seq4/{k}.npy"  (4, 32, 14, 2)
    {style}/{video}/{clip}/aud/c{clip}_fps15.npy   (frames, 28) audio features at 15 fps
    {style}/{video}/{clip}/aud/c{clip}.wav         synthetic only: mono 22050 Hz 16-bit PCM
    {style}/{video}/{clip}/meta.json               synthetic only: tempo, beat times, ...
    stats/all_onbeat_{mean,std}.npy, stats/all_aud_{mean,std}.npy   (28,) each

Unit k of a clip covers frames [32k, 32k + 32) of the clip's audio features; sequence
seq{n}/{k} holds units k .. k+n-1.

Reading many small .npy files per batch is what made the original loaders slow, so the
`FeatureStore` packs every unit and every audio frame once into two contiguous arrays that
the loaders memory-map and gather whole batches from.

This package re-exports the public names of its modules; see ARCHITECTURE.md for which module holds what.
"""

from d2mlib.data.clips import clip_material, window_material
from d2mlib.data.layout import (
    AUDIO_DIM,
    JITTER_PIXELS,
    LIST_DIR,
    MARKER,
    SEQ_LENGTHS,
    SEQ_UNITS,
    SPLITS,
    STATS_DIR,
    STATS_FILES,
    STORE_NAME,
    STORE_VERSION,
    STYLE_INDEX,
    STYLES_FILE,
    WRITING,
    audio_path,
    data_identity,
    dataset_complete,
    dataset_styles,
    default_data_dir,
    list_file,
)
from d2mlib.data.loaders import EpochLoader, audio_loader, keep_styles, sequence_loader, unit_loader
from d2mlib.data.naive import (
    LOADERS,
    NaiveAudioDataset,
    NaiveSequenceDataset,
    NaiveUnitDataset,
    make_loader,
    naive_unit_loader,
)
from d2mlib.data.reader import (
    DatasetIndex,
    dataset_counts,
    read_dataset,
    read_meta,
    split_by_video,
    tracked_tempi,
)
from d2mlib.data.store import FeatureStore
from d2mlib.data.writer import ensure_dataset, write_dataset

__all__ = [
    "AUDIO_DIM",
    "DatasetIndex",
    "EpochLoader",
    "FeatureStore",
    "JITTER_PIXELS",
    "LIST_DIR",
    "LOADERS",
    "MARKER",
    "NaiveAudioDataset",
    "NaiveSequenceDataset",
    "NaiveUnitDataset",
    "SEQ_LENGTHS",
    "SEQ_UNITS",
    "SPLITS",
    "STATS_DIR",
    "STATS_FILES",
    "STORE_NAME",
    "STORE_VERSION",
    "STYLE_INDEX",
    "STYLES_FILE",
    "WRITING",
    "audio_loader",
    "audio_path",
    "clip_material",
    "data_identity",
    "dataset_complete",
    "dataset_styles",
    "dataset_counts",
    "default_data_dir",
    "ensure_dataset",
    "keep_styles",
    "list_file",
    "make_loader",
    "naive_unit_loader",
    "read_dataset",
    "read_meta",
    "sequence_loader",
    "split_by_video",
    "tracked_tempi",
    "unit_loader",
    "window_material",
    "write_dataset",
]
