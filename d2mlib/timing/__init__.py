"""The CPU/GPU timing harness: warm-up, repeated runs, medians and IQRs, a tidy CSV of results.

Every number the timing chapter shows comes from a row of `runs/timing/results.csv`, one row per
measurement, labelled with the machine that measured it (CPU model, threads, torch version, CUDA
device). `make bench` (or `d2m bench`, or `python -m d2mlib.timing`) runs a suite and appends its
rows, so a run on a GPU box adds GPU rows beside the CPU ones instead of replacing them.

The harness (`measure`, `measure_phases`, `Measurement`, `machine_info`, `append_results`) is pure
and takes an injectable clock; the suites (`bench_*`) time the real modules.

The tidy schema (`SCHEMA`): who measured (run_id, timestamp, machine, cpu, logical_cores,
torch_threads, torch_version, cuda_device; load_avg, the 1-minute load average when the row was
made, flags rows measured on a busy machine; device), what (benchmark; stage: the training stage,
or for data loading the loader "unit" / "sequence" / "audio"; variant: "ours" / "naive",
"store" / "naive", a dtype...; preset; phase: total / forward / backward / optimiser;
batch_size; rnn; length_s; workers), and the result (unit, median, q1, q3, n). Columns that do
not apply stay empty. Units: "s" (seconds per step), "samples/s", "s/s" (seconds of compute per
second of audio or dance), "FLOP", "FLOP/s", "fraction".

This package re-exports the public names of its modules; see ARCHITECTURE.md for which module holds what.
"""

from d2mlib.timing.analysis import KEY_COLUMNS, latest, pivot, read_results, select, targets
from d2mlib.timing.inference import (
    INFERENCE_LENGTHS,
    bench_inference,
    build_generator,
    synthetic_music,
)
from d2mlib.timing.loading import bench_audio, bench_loading, time_batches
from d2mlib.timing.loop import bench_data_wait, bench_loop_overhead
from d2mlib.timing.measure import (
    PHASES,
    Clock,
    Measurement,
    Sync,
    Timer,
    measure,
    measure_phases,
    measure_phases_interleaved,
    phase_hooks,
    sync_for,
)
from d2mlib.timing.profile import bench_matmul, count_flops, profile_step
from d2mlib.timing.results import (
    DEFAULT_OUT,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    SCHEMA,
    STRING_COLUMNS,
    append_results,
    check_schema,
    cpu_model,
    load_results,
    machine_info,
    machine_label,
    make_row,
    new_run_id,
    results_frame,
)
from d2mlib.timing.suite import SUITES, SuitePlan, main, resolve_devices, run_suite, suite_tasks
from d2mlib.timing.training import (
    POWERS_OF_TWO,
    bench_flops,
    bench_naive_decomp,
    bench_rnn,
    bench_training,
    profile_training_step,
    timed_config,
    timed_stage,
)

__all__ = [
    "Clock",
    "DEFAULT_OUT",
    "FLOAT_COLUMNS",
    "INFERENCE_LENGTHS",
    "INT_COLUMNS",
    "KEY_COLUMNS",
    "Measurement",
    "PHASES",
    "POWERS_OF_TWO",
    "SCHEMA",
    "STRING_COLUMNS",
    "SUITES",
    "SuitePlan",
    "Sync",
    "Timer",
    "append_results",
    "bench_audio",
    "bench_data_wait",
    "bench_flops",
    "bench_inference",
    "bench_loading",
    "bench_loop_overhead",
    "bench_matmul",
    "bench_naive_decomp",
    "bench_rnn",
    "bench_training",
    "build_generator",
    "check_schema",
    "count_flops",
    "cpu_model",
    "latest",
    "load_results",
    "machine_info",
    "machine_label",
    "main",
    "make_row",
    "measure",
    "measure_phases",
    "measure_phases_interleaved",
    "new_run_id",
    "phase_hooks",
    "pivot",
    "profile_step",
    "profile_training_step",
    "read_results",
    "resolve_devices",
    "results_frame",
    "run_suite",
    "select",
    "suite_tasks",
    "sync_for",
    "synthetic_music",
    "targets",
    "time_batches",
    "timed_config",
    "timed_stage",
]
