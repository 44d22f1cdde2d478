"""The tidy results table: its schema, machine labels, rows, and the CSV it is appended to."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from d2mlib._io import write_text
from d2mlib.errors import ConfigError, DataError
from d2mlib.timing.measure import Measurement

DEFAULT_OUT = Path("runs") / "timing" / "results.csv"

# The tidy schema: one row per measurement. Columns that do not apply to a benchmark stay empty.
STRING_COLUMNS: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "machine",
    "cpu",
    "torch_version",
    "cuda_device",
    "device",
    "benchmark",
    "stage",
    "variant",
    "preset",
    "phase",
    "rnn",
    "unit",
)
INT_COLUMNS: tuple[str, ...] = ("logical_cores", "torch_threads", "batch_size", "workers", "n")
FLOAT_COLUMNS: tuple[str, ...] = ("load_avg", "length_s", "median", "q1", "q3")
SCHEMA: tuple[str, ...] = (
    "run_id",
    "timestamp",
    "machine",
    "cpu",
    "logical_cores",
    "torch_threads",
    "torch_version",
    "cuda_device",
    "load_avg",
    "device",
    "benchmark",
    "stage",
    "variant",
    "preset",
    "phase",
    "batch_size",
    "rnn",
    "length_s",
    "workers",
    "unit",
    "median",
    "q1",
    "q3",
    "n",
)


# The machine and the tidy table


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else from `platform`."""
    cpuinfo = Path("/proc/cpuinfo")
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                name = line.split(":", 1)[1].strip()
                if name:
                    return name
    return platform.processor() or platform.machine() or "unknown"


def machine_label(label: str | None = None) -> str:
    """A label for this machine: `label`, else $D2M_MACHINE, else a short hash of the hostname."""
    label = label or os.environ.get("D2M_MACHINE")
    if label:
        return label
    digest = hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:10]
    return f"host-{digest}"


def _usable_cores() -> int:
    """Logical cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_info(label: str | None = None) -> dict[str, Any]:
    """Describe this machine: label, CPU model, logical cores, torch threads and version, CUDA device."""

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "machine": machine_label(label),
        "cpu": cpu_model(),
        "logical_cores": _usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "cuda_device": cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _load_average() -> float | None:
    """The 1-minute load average (runnable processes) when the OS reports it, else None."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def new_run_id() -> str:
    """A fresh identifier grouping the rows of one suite run."""
    return uuid.uuid4().hex[:12]


def make_row(
    info: Mapping[str, Any],
    run_id: str,
    benchmark: str,
    unit: str,
    m: Measurement,
    device: str = "cpu",
    **keys: Any,
) -> dict[str, Any]:
    """One tidy row for measurement `m` of `benchmark` (extra `keys` fill the schema's key columns)."""
    unknown = set(keys) - set(SCHEMA)
    if unknown:
        raise ConfigError(f"unknown result columns {sorted(unknown)}; the schema is {list(SCHEMA)}")
    row: dict[str, Any] = dict.fromkeys(SCHEMA)
    row.update({k: info.get(k) for k in ("machine", "cpu", "logical_cores", "torch_threads")})
    row.update({k: info.get(k) for k in ("torch_version", "cuda_device")})
    row.update(
        run_id=run_id,
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        load_avg=_load_average(),
        device=device,
        benchmark=benchmark,
        unit=unit,
        median=m.median,
        q1=m.q1,
        q3=m.q3,
        n=m.n,
    )
    row.update(keys)
    return row


def results_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a DataFrame in the tidy schema (column order and dtypes) from rows."""
    df = pd.DataFrame(list(rows), columns=list(SCHEMA))
    return _coerce(df)


def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in STRING_COLUMNS:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    for c in INT_COLUMNS:
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    for c in FLOAT_COLUMNS:
        df[c] = pd.to_numeric(df[c]).astype("float64")
    return df[list(SCHEMA)].reset_index(drop=True)


def check_schema(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Return `df` coerced to the tidy schema, or raise DataError naming the mismatched columns."""
    cols = list(df.columns)
    if cols != list(SCHEMA):
        missing = [c for c in SCHEMA if c not in cols]
        extra = [c for c in cols if c not in SCHEMA]
        raise DataError(
            f"timing results do not follow the schema (missing {missing}, unexpected {extra}, "
            f"or a different column order); expected {list(SCHEMA)}",
            path,
        )
    try:
        return _coerce(df)
    except (ValueError, TypeError) as exc:
        raise DataError(f"timing results hold a value of the wrong type: {exc}", path) from exc


def load_results(path: str | Path = DEFAULT_OUT) -> pd.DataFrame:
    """Read a results CSV (or every *.csv in a directory) in the tidy schema; DataError if malformed."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        frames = [load_results(f) for f in files]
        return pd.concat(frames, ignore_index=True) if frames else results_frame([])
    if not path.exists():
        raise DataError("no timing results here (run `make bench` first)", path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse timing results: {exc}", path) from exc
    df = df.replace("", None) if len(df) else df
    return check_schema(df, path)


def append_results(df: pd.DataFrame, path: str | Path = DEFAULT_OUT) -> pd.DataFrame:
    """Append rows to the results CSV at `path` (read, concatenate, atomic write); return the whole table."""
    path = Path(path)
    new = check_schema(df)
    if path.exists():
        old = load_results(path)
        table = pd.concat([old, new], ignore_index=True) if len(old) else new
    else:
        table = new
    write_text(path, table.to_csv(index=False))
    return table
