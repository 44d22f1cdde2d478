"""The feature store: every unit and audio frame of a dataset packed once into contiguous
memory-mapped arrays (rebuilt when the dataset changes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from d2mlib._io import write_text
from d2mlib.data.layout import (
    AUDIO_DIM,
    SEQ_LENGTHS,
    SPLITS,
    STATS_DIR,
    STATS_FILES,
    STORE_NAME,
    STORE_VERSION,
    STYLES,
)
from d2mlib.data.reader import DatasetIndex, _load_array, _load_audio, read_dataset
from d2mlib.errors import ConfigError, DataError
from d2mlib.skeleton import NUM_JOINTS, UNIT_FRAMES


class _StaleStore(Exception):
    """The packed store is missing, truncated or built from other sources."""


def _fingerprint(index: DatasetIndex) -> str:
    """Hash of the list files, the stats and the sizes/mtimes of every source file."""
    h = hashlib.sha256(f"d2m-store-v{STORE_VERSION}\n".encode())
    for path in index.list_files:
        h.update(f"{path.name}\n".encode())
        h.update(path.read_bytes())
    for name in STATS_FILES:
        h.update((index.data_dir / STATS_DIR / f"{name}.npy").read_bytes())
    prefix = str(index.data_dir) + os.sep
    for p in [*index.units["path"], *index.sequences["path"], *index.clips["audio"]]:
        st = os.stat(p)
        rel = p[len(prefix) :] if p.startswith(prefix) else p  # same store from any cwd
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


_STORE_ARRAYS = ("pool", "audio", "seq_rows", "unit_rows", "audio_offsets")


def _build_store(index: DatasetIndex, fingerprint: str, store_dir: Path) -> None:
    """Pack the dataset into a temporary directory, then rename it to `store_dir`.

    Long because the whole build sits in one try/finally, so that a failed build leaves no half-written store behind.
    """
    store_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.build-", dir=store_dir.parent))
    try:
        n_units = len(index.units)
        pool = [
            np.empty((n_units, UNIT_FRAMES, NUM_JOINTS, 2), dtype=np.float32),
        ]
        for i, p in enumerate(index.units["path"]):
            pool[0][i] = _load_array(p, (UNIT_FRAMES, NUM_JOINTS, 2), "dance unit")
        unit_row = {
            (s, v, c, int(k)): i
            for i, (s, v, c, k) in enumerate(
                zip(*(index.units[col] for col in ("style", "video", "clip", "k")), strict=True)
            )
        }
        n_pool = n_units
        max_n = max(SEQ_LENGTHS)
        seq_rows = np.full((len(index.sequences), max_n), -1, dtype=np.int64)
        seqs = index.sequences
        for i, (p, n, s, v, c, k) in enumerate(
            zip(*(seqs[col] for col in ("path", "n", "style", "video", "clip", "k")), strict=True)
        ):
            arr = _load_array(p, (n, UNIT_FRAMES, NUM_JOINTS, 2), f"{n}-unit sequence")
            rows = [unit_row.get((s, v, c, int(k) + j)) for j in range(n)]
            if all(r is not None for r in rows) and np.array_equal(arr, pool[0][rows]):
                seq_rows[i, :n] = rows
            else:  # not made of listed units: keep its own copy at the end of the pool
                pool.append(arr)
                seq_rows[i, :n] = np.arange(n_pool, n_pool + n)
                n_pool += n
        pool_arr = np.concatenate(pool) if len(pool) > 1 else pool[0]
        frames = index.clips["frames"].to_numpy(dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(frames)]).astype(np.int64)
        audio = np.empty((int(offsets[-1]), AUDIO_DIM), dtype=np.float32)
        for i, p in enumerate(index.clips["audio"]):
            arr = _load_audio(p)
            if arr.shape[0] != frames[i]:
                raise DataError("audio features changed while packing", p)
            audio[offsets[i] : offsets[i + 1]] = arr
        arrays = {
            "pool": pool_arr,
            "audio": audio,
            "seq_rows": seq_rows,
            "unit_rows": np.arange(n_units, dtype=np.int64),
            "audio_offsets": offsets,
        }
        manifest: dict[str, Any] = {
            "version": STORE_VERSION,
            "fingerprint": fingerprint,
            "data_dir": str(index.data_dir),
            "counts": {
                "units": n_units,
                "sequences": len(seqs),
                "clips": len(index.clips),
                "pool_rows": int(pool_arr.shape[0]),
                "audio_frames": int(audio.shape[0]),
            },
            "arrays": {},
        }
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr, allow_pickle=False)
            manifest["arrays"][name] = {
                "file": f"{name}.npy",
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "bytes": (tmp / f"{name}.npy").stat().st_size,
            }
        for name, df in (
            ("units", index.units),
            ("sequences", index.sequences),
            ("clips", index.clips),
        ):
            df.to_csv(tmp / f"{name}.csv", index=False)
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        old = None
        if store_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{store_dir.name}.old-", dir=store_dir.parent))
            os.replace(store_dir, old / "store")
        # if another process put its store there first, open() validates whichever won
        with contextlib.suppress(OSError):
            os.replace(tmp, store_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _open_arrays(store_dir: Path, fingerprint: str | None) -> tuple[dict, dict[str, np.ndarray]]:
    """Validate the manifest and memory-map the arrays; _StaleStore if anything is off."""
    try:
        manifest = json.loads((store_dir / "manifest.json").read_text(encoding="utf-8"))
        if manifest["version"] != STORE_VERSION:
            raise _StaleStore("store version")
        if fingerprint is not None and manifest["fingerprint"] != fingerprint:
            raise _StaleStore("fingerprint")
        arrays = {}
        for name in _STORE_ARRAYS:
            spec = manifest["arrays"][name]
            path = store_dir / spec["file"]
            if path.stat().st_size != spec["bytes"]:
                raise _StaleStore(f"{path} size")
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if list(arr.shape) != spec["shape"] or str(arr.dtype) != spec["dtype"]:
                raise _StaleStore(f"{path} shape")
            arrays[name] = arr
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _StaleStore(str(exc)) from exc
    return manifest, arrays


class FeatureStore:
    """All units and audio frames of a dataset, packed once and memory-mapped.

    `pool` (P, 32, 14, 2) float32 holds every unit (rows 0..N-1, in the units table's
    order) followed by any sequence frames that are not copies of listed units;
    `audio` (F, 28) float32 holds every clip's features back to back
    (clip i at rows audio_offsets[i]:audio_offsets[i+1]). Sequences are index rows into
    the pool. Tables carry a `split` column (by video).
    """

    def __init__(self, index: DatasetIndex, store_dir: Path, manifest: dict, arrays: dict):
        self.index = index
        self.data_dir = index.data_dir
        self.store_dir = store_dir
        self.manifest = manifest
        self._arrays = arrays
        self.pose_normaliser = index.pose_normaliser
        self.audio_mean = index.audio_mean
        self.audio_std = index.audio_std
        self.units_table = index.units
        self.sequences_table = index.sequences
        self.clips_table = index.clips
        self.styles = index.styles
        self.unit_style = _style_codes(index.units["style"], index.styles)
        self.sequence_style = _style_codes(index.sequences["style"], index.styles)
        self.clip_style = _style_codes(index.clips["style"], index.styles)
        clip_pos = {
            key: i
            for i, key in enumerate(
                zip(index.clips["style"], index.clips["video"], index.clips["clip"], strict=True)
            )
        }
        seqs = index.sequences
        self.sequence_clip = np.array(
            [clip_pos[k] for k in zip(seqs["style"], seqs["video"], seqs["clip"], strict=True)],
            dtype=np.int64,
        )
        offsets = arrays["audio_offsets"]
        n = seqs["n"].to_numpy(dtype=np.int64)
        start = seqs["k"].to_numpy(dtype=np.int64) * UNIT_FRAMES
        self.sequence_audio_start = offsets[self.sequence_clip] + start
        self.sequence_audio_complete = (
            start + n * UNIT_FRAMES <= index.clips["frames"].to_numpy()[self.sequence_clip]
        )

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        store_dir: str | Path | None = None,
        rebuild: bool = False,
    ) -> FeatureStore:
        """Open the packed store of `data_dir`, (re)building it if missing, stale or damaged."""
        index = read_dataset(data_dir, check_arrays=False)
        store = Path(store_dir) if store_dir is not None else index.data_dir / STORE_NAME
        fingerprint = _fingerprint(index)
        if not rebuild:
            try:
                manifest, arrays = _open_arrays(store, fingerprint)
                return cls(index, store, manifest, arrays)
            except _StaleStore:
                pass
        _build_store(index, fingerprint, store)
        try:
            manifest, arrays = _open_arrays(store, fingerprint)
        except _StaleStore as exc:
            raise DataError(
                f"feature store is unusable right after building it ({exc})", store
            ) from exc
        return cls(index, store, manifest, arrays)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = None  # memmaps are reopened by path in the receiving process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _, self._arrays = _open_arrays(self.store_dir, None)

    @property
    def pool(self) -> np.ndarray:
        """Every unit (and non-unit sequence frames): memmap (P, 32, 14, 2) float32 pixels."""
        return self._arrays["pool"]

    @property
    def audio(self) -> np.ndarray:
        """Every clip's audio features back to back: memmap (F, 28) float32."""
        return self._arrays["audio"]

    @property
    def audio_offsets(self) -> np.ndarray:
        """Clip i's audio is audio[audio_offsets[i]:audio_offsets[i + 1]]."""
        return self._arrays["audio_offsets"]

    @property
    def seq_rows(self) -> np.ndarray:
        """(S, 4) pool rows of each sequence (-1 padded for n = 3)."""
        return self._arrays["seq_rows"]

    def unit_indices(self, split: str | None = None) -> np.ndarray:
        """Row numbers (into the units table and the pool) of the units in `split`."""
        return _split_rows(self.units_table, split)

    def units(self, split: str | None = None) -> np.ndarray:
        """Units of a split as raw pixels (N, 32, 14, 2) float32."""
        return self.pool[self.unit_indices(split)]

    def unit_styles(self, split: str | None = None) -> np.ndarray:
        """Style index (int64) of each unit of a split."""
        return self.unit_style[self.unit_indices(split)]

    def sequence_indices(self, n: int, split: str | None = None) -> np.ndarray:
        """Row numbers of the n-unit sequences of a split whose audio is complete."""
        rows = _split_rows(self.sequences_table, split)
        keep = (self.sequences_table["n"].to_numpy()[rows] == n) & self.sequence_audio_complete[
            rows
        ]
        return rows[keep]

    def sequences(self, n: int, split: str | None = None) -> np.ndarray:
        """n-unit sequences of a split as raw pixels (S, n, 32, 14, 2)."""
        rows = self.sequence_indices(n, split)
        return self.pool[self.seq_rows[rows, :n]]

    def clip_audio(self, i: int) -> np.ndarray:
        """Audio features (frames, 28) of clip i of the clips table (a memmap view)."""
        return self.audio[self.audio_offsets[i] : self.audio_offsets[i + 1]]

    def normalise_audio(self, feats: np.ndarray) -> np.ndarray:
        """Audio features (..., 28) minus the dataset mean, over the dataset std."""
        return (np.asarray(feats, np.float32) - self.audio_mean) / self.audio_std

    def clip_indices(self, split: str | None = None) -> np.ndarray:
        """Row numbers of the clips of a split."""
        return _split_rows(self.clips_table, split)

    def __repr__(self) -> str:
        c = self.manifest["counts"]
        return (
            f"FeatureStore({self.data_dir}, units={c['units']}, sequences={c['sequences']}, "
            f"clips={c['clips']}, audio_frames={c['audio_frames']})"
        )


def _style_codes(styles: pd.Series, order: Sequence[str] = STYLES) -> np.ndarray:
    index = {name: i for i, name in enumerate(order)}
    return np.array([index[s] for s in styles], dtype=np.int64)


def _split_rows(table: pd.DataFrame, split: str | None) -> np.ndarray:
    if split is None or split == "all":
        return np.arange(len(table), dtype=np.int64)
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS} or 'all', got {split!r}")
    return np.flatnonzero(table["split"].to_numpy() == split).astype(np.int64)
