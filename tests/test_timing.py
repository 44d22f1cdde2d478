"""Tests of the timing harness: statistics with a fake clock, warm-up, phases, the CSV schema."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from d2mlib import config, data, timing
from d2mlib.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run the tiny real benchmarks on one thread: on a shared, busy CPU two spinning OpenMP
    threads make millisecond steps take seconds (no test here asserts a time)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, dt: float) -> None:
        self.now += dt


def scripted(clock: FakeClock, durations: list[float]):
    """A function whose k-th call takes durations[k] seconds of the fake clock."""
    calls = iter(durations)

    def fn() -> None:
        clock.advance(next(calls))

    return fn


def test_measure_reports_exact_median_and_quartiles_from_fake_clock() -> None:
    clock = FakeClock()
    m = timing.measure(scripted(clock, [5.0, 1.0, 4.0, 2.0, 3.0]), warmup=0, repeats=5, clock=clock)
    assert m.samples == (5.0, 1.0, 4.0, 2.0, 3.0)
    assert m.n == 5
    assert m.median == 3.0
    assert m.q1 == 2.0
    assert m.q3 == 4.0
    assert m.iqr == 2.0


def test_measure_interpolates_quartiles_for_even_counts() -> None:
    clock = FakeClock()
    m = timing.measure(scripted(clock, [1.0, 2.0, 3.0, 4.0]), warmup=0, repeats=4, clock=clock)
    assert m.median == 2.5
    assert m.q1 == pytest.approx(1.75)
    assert m.q3 == pytest.approx(3.25)


def test_measure_excludes_warmup_calls() -> None:
    clock = FakeClock()
    fn = scripted(clock, [100.0, 50.0, 1.0, 1.0, 1.0])
    m = timing.measure(fn, warmup=2, repeats=3, clock=clock)
    assert m.samples == (1.0, 1.0, 1.0)
    assert m.median == 1.0


def test_measure_calls_function_warmup_plus_repeats_times() -> None:
    calls = []
    timing.measure(lambda: calls.append(1), warmup=3, repeats=4, clock=FakeClock())
    assert len(calls) == 7


def test_measure_stops_at_budget_after_min_repeats() -> None:
    clock = FakeClock()
    m = timing.measure(
        scripted(clock, [10.0] * 10), warmup=0, repeats=10, clock=clock, budget_s=15, min_repeats=3
    )
    assert m.n == 3


def test_measure_rejects_zero_repeats() -> None:
    with pytest.raises(ConfigError):
        timing.measure(lambda: None, warmup=0, repeats=0)


def test_measurement_map_turns_seconds_into_rates() -> None:
    rates = timing.Measurement((1.0, 2.0, 4.0)).map(lambda s: 8.0 / s)
    assert rates.samples == (8.0, 4.0, 2.0)
    assert rates.median == 4.0


def test_measure_calls_sync_around_every_timed_call() -> None:
    events: list[str] = []
    clock = FakeClock()

    def fn() -> None:
        events.append("fn")
        clock.advance(1.0)

    timing.measure(fn, warmup=1, repeats=2, clock=clock, sync=lambda: events.append("sync"))
    assert events == ["fn", "sync", "fn", "sync", "sync", "fn", "sync"]


def test_sync_hook_is_none_on_cpu() -> None:
    assert timing.sync_for("cpu") is None


def test_sync_hook_synchronises_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: seen.append(str(dev)))
    hook = timing.sync_for("cuda:0")
    assert hook is not None
    hook()
    assert seen == ["cuda:0"]
    assert timing.sync_for("cpu") is None
    assert seen == ["cuda:0"]


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device on this machine: the real CUDA timing path runs only on a GPU box",
)
def test_cuda_matmul_is_timed_with_synchronisation() -> None:
    a = torch.randn(256, 256, device="cuda")
    m = timing.measure(lambda: a @ a, warmup=1, repeats=3, sync=timing.sync_for("cuda"))
    assert m.n == 3
    assert all(s > 0 for s in m.samples)


def test_measure_phases_splits_forward_backward_and_optimiser_with_fake_clock() -> None:
    clock = FakeClock()
    w = torch.nn.Parameter(torch.ones(3))
    w.register_hook(lambda g: clock.advance(2.0))  # the backward pass "takes" 2 s
    opt = torch.optim.SGD([w], lr=0.1)
    opt.register_step_pre_hook(lambda *a: clock.advance(1.0))  # the step "takes" 1 s

    def step() -> None:
        opt.zero_grad()
        clock.advance(3.0)  # the forward pass "takes" 3 s
        (w * 2).sum().backward()
        opt.step()

    phases = timing.measure_phases(step, warmup=1, repeats=3, clock=clock)
    assert set(phases) == set(timing.PHASES)
    assert phases["total"].median == 6.0
    assert phases["forward"].median == 3.0
    assert phases["backward"].median == 2.0
    assert phases["optimiser"].median == 1.0
    assert phases["total"].n == 3
    # the hooks are gone afterwards
    assert torch.autograd.backward.__name__ == "backward"


def test_measure_phases_interleaved_takes_the_steps_in_turn() -> None:
    clock = FakeClock()
    order: list[str] = []

    def step(name: str, seconds: float):
        def run() -> None:
            order.append(name)
            clock.advance(seconds)

        return run

    res = timing.measure_phases_interleaved(
        {"a": step("a", 1.0), "b": step("b", 3.0)}, warmup=1, repeats=2, clock=clock
    )
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert res["a"]["total"].samples == (1.0, 1.0)
    assert res["b"]["total"].samples == (3.0, 3.0)
    assert res["b"]["forward"].median == 3.0 and res["b"]["backward"].median == 0.0


def test_machine_info_describes_cpu_threads_torch_and_cuda() -> None:
    info = timing.machine_info(label="my-box")
    assert info["machine"] == "my-box"
    assert info["cpu"]
    assert info["logical_cores"] >= 1
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["torch_version"] == torch.__version__
    if not torch.cuda.is_available():
        assert info["cuda_device"] is None


def test_machine_label_hashes_hostname_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D2M_MACHINE", raising=False)
    monkeypatch.setattr(timing.results.socket, "gethostname", lambda: "secret-host")
    label = timing.machine_label()
    assert label.startswith("host-")
    assert "secret" not in label
    monkeypatch.setenv("D2M_MACHINE", "lab-gpu")
    assert timing.machine_label() == "lab-gpu"


def _rows(label: str, device: str = "cpu") -> pd.DataFrame:
    info = timing.machine_info(label=label)
    m = timing.Measurement((1.0, 2.0, 3.0))
    rows = [
        timing.make_row(
            info, "r1", "training", "s", m, device=device, batch_size=64, phase="total"
        ),
        timing.make_row(info, "r1", "audio", "s/s", m, device=device, length_s=10.0),
    ]
    return timing.results_frame(rows)


def test_results_follow_the_tidy_schema() -> None:
    df = _rows("a")
    assert list(df.columns) == list(timing.SCHEMA)
    assert df.loc[0, "median"] == 2.0 and df.loc[0, "q1"] == 1.5 and df.loc[0, "q3"] == 2.5
    assert df.loc[0, "batch_size"] == 64 and pd.isna(df.loc[1, "batch_size"])
    assert df.loc[1, "length_s"] == 10.0 and pd.isna(df.loc[0, "length_s"])
    assert df["load_avg"].dtype == "float64"


def test_make_row_rejects_unknown_columns() -> None:
    with pytest.raises(ConfigError, match="unknown result columns"):
        timing.make_row({}, "r", "x", "s", timing.Measurement((1.0,)), colour="red")


def test_append_results_from_two_machines_keeps_both(tmp_path) -> None:
    path = tmp_path / "timing" / "results.csv"
    timing.append_results(_rows("cpu-box"), path)
    table = timing.append_results(_rows("gpu-box", device="cuda"), path)
    assert len(table) == 4
    back = timing.load_results(path)
    assert list(back.columns) == list(timing.SCHEMA)
    assert sorted(back["machine"].unique()) == ["cpu-box", "gpu-box"]
    assert sorted(back["device"].unique()) == ["cpu", "cuda"]
    pd.testing.assert_frame_equal(back, table)
    assert back["batch_size"].dtype == "Int64"
    assert back.loc[0, "batch_size"] == 64 and pd.isna(back.loc[1, "batch_size"])


def test_append_results_raises_on_a_file_with_another_schema(tmp_path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("machine,seconds\nx,1.0\n")
    with pytest.raises(DataError, match="results.csv") as info:
        timing.append_results(_rows("a"), path)
    assert "schema" in str(info.value)
    assert path.read_text() == "machine,seconds\nx,1.0\n"


def test_append_results_rejects_a_frame_with_another_schema(tmp_path) -> None:
    with pytest.raises(DataError, match="schema"):
        timing.append_results(pd.DataFrame({"median": [1.0]}), tmp_path / "r.csv")


def test_load_results_reads_every_csv_of_a_directory(tmp_path) -> None:
    timing.append_results(_rows("a"), tmp_path / "a.csv")
    timing.append_results(_rows("b"), tmp_path / "b.csv")
    assert len(timing.load_results(tmp_path)) == 4


def test_load_results_names_a_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match="nope.csv"):
        timing.load_results(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# Generic measurements
# ---------------------------------------------------------------------------------------------


def test_count_flops_counts_a_matmul_exactly() -> None:
    a, b = torch.ones(8, 16), torch.ones(16, 4)
    assert timing.count_flops(lambda: a @ b) == 2 * 8 * 16 * 4


def test_bench_matmul_reports_flops_per_second_for_each_dtype() -> None:
    df = timing.bench_matmul(64, warmup=1, repeats=2)
    assert list(df["variant"]) == ["fp32", "bf16"]
    assert (df["unit"] == "FLOP/s").all() and (df["median"] > 0).all()
    assert (df["benchmark"] == "matmul_peak").all() and (df["n"] == 2).all()
    before = torch.get_float32_matmul_precision()
    tf32 = timing.bench_matmul(64, ("float32", "tf32"), warmup=1, repeats=2)
    assert list(tf32["variant"]) == ["fp32", "tf32"] and (tf32["median"] > 0).all()
    assert torch.get_float32_matmul_precision() == before  # the TF32 setting is put back


def test_profile_step_returns_a_table_of_ops_with_shares() -> None:
    lin = torch.nn.Linear(16, 16)
    x = torch.randn(4, 16)
    table = timing.profile_step(lambda: lin(x).sum().backward(), row_limit=None)
    assert {"op", "calls", "self_ms", "total_ms", "share"} <= set(table.columns)
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["self_ms"].is_monotonic_decreasing
    assert table["op"].str.contains("addmm|mm").any()


class FakeLoader:
    """Yields `passes` lists of batches; getting batch k of a pass takes durations[k] seconds."""

    def __init__(self, clock: FakeClock, durations: list[float], batch_size: int) -> None:
        self.clock, self.durations, self.batch_size = clock, durations, batch_size
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        for d in self.durations:
            self.clock.advance(d)
            yield (torch.zeros(self.batch_size, 2), torch.zeros(self.batch_size))


def test_time_batches_times_a_block_per_pass_after_the_warmup_batches() -> None:
    clock = FakeClock()
    loader = FakeLoader(clock, [9.0, 1.0, 3.0, 4.0], batch_size=8)
    m = timing.time_batches(loader, n_batches=2, warmup_batches=1, repeats=3, clock=clock)
    # each pass: the 9 s start-up batch is skipped, then 16 samples in 1 + 3 s
    assert m.samples == (4.0, 4.0, 4.0)
    assert loader.passes == 3


def test_time_batches_uses_what_a_short_pass_has() -> None:
    clock = FakeClock()
    loader = FakeLoader(clock, [9.0, 2.0], batch_size=8)
    m = timing.time_batches(loader, n_batches=5, warmup_batches=1, repeats=1, clock=clock)
    assert m.samples == (4.0,)


def test_time_batches_refuses_a_loader_with_only_warmup_batches() -> None:
    clock = FakeClock()
    with pytest.raises(DataError, match="warm-up"):
        timing.time_batches(FakeLoader(clock, [1.0], 4), n_batches=2, warmup_batches=1, clock=clock)


def _frame(*rows: dict) -> pd.DataFrame:
    info = timing.machine_info(label="box")
    out = []
    for r in rows:
        r = dict(r)
        value = r.pop("value")
        out.append(
            timing.make_row(
                info, "run", r.pop("benchmark"), r.pop("unit"), timing.Measurement((value,)), **r
            )
        )
    return timing.results_frame(out)


def test_targets_are_ratios_of_rows_measured_in_the_same_run() -> None:
    df = _frame(
        dict(
            benchmark="loading",
            unit="samples/s",
            stage="unit",
            variant="store",
            workers=0,
            value=5000.0,
        ),
        dict(
            benchmark="loading",
            unit="samples/s",
            stage="unit",
            variant="naive",
            workers=0,
            value=100.0,
        ),
        dict(
            benchmark="training",
            unit="s",
            stage="decomp",
            variant="ours",
            phase="total",
            preset="paper",
            batch_size=64,
            rnn="gru",
            value=2.0,
        ),
        dict(
            benchmark="training",
            unit="s",
            stage="decomp",
            variant="naive",
            phase="total",
            preset="paper",
            batch_size=64,
            rnn="gru",
            value=5.0,
        ),
        dict(
            benchmark="loop_overhead",
            unit="fraction",
            variant="overhead",
            batch_size=64,
            value=0.04,
        ),
        dict(benchmark="inference", unit="s/s", preset="paper", length_s=60.0, value=0.02),
    )
    table = timing.targets(df).set_index("target")
    loading = table.loc["unit loading speed-up (store / naive, 0 workers)"]
    assert loading["measured"] == 50.0 and loading["met"]
    speed = table.loc["decomposition step speed-up over the original's structure (paper, batch 64)"]
    assert speed["measured"] == 2.5 and speed["met"]
    assert table.loc["training loop overhead over the bare step", "measured"] == 0.04
    assert table.loc["compute for a 60 s dance (paper sizes)", "measured"] == pytest.approx(1.2)
    assert not table.loc["compute for a 60 s dance (paper sizes)", "met"]
    # nothing was measured for these, so nothing is shown
    assert not any("data" in t for t in table.index)
    assert not any("FLOP" in t for t in table.index)


def test_resolve_devices_includes_cuda_only_when_present() -> None:
    devices = timing.resolve_devices("auto")
    assert devices[0] == "cpu"
    assert ("cuda" in devices) == torch.cuda.is_available()
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            timing.resolve_devices("cuda")


# ---------------------------------------------------------------------------------------------
# Tiny real runs of each benchmark on smoke sizes: the schema and positivity, never the times
# ---------------------------------------------------------------------------------------------


def _check(df: pd.DataFrame, benchmark: str, unit: str) -> None:
    assert list(df.columns) == list(timing.SCHEMA)
    assert len(df) > 0
    sub = df[df["benchmark"] == benchmark]
    assert len(sub) > 0 and (sub["unit"] == unit).all()
    assert (df["median"] >= 0).all() and (df["q1"] <= df["median"]).all()
    assert (df["median"] <= df["q3"]).all()
    assert df["run_id"].nunique() == 1 and (df["machine"] != "").all()


def test_bench_audio_reports_compute_per_second_of_audio() -> None:
    df = timing.bench_audio((1.0, 2.0), warmup=1, repeats=2)
    _check(df, "audio_features", "s/s")
    assert list(df["length_s"]) == [1.0, 2.0] and (df["median"] > 0).all()


def test_bench_loading_times_every_loader_from_store_and_naive(smoke_data) -> None:
    df = timing.bench_loading(smoke_data, batch_size=4, workers=(0,), n_batches=2, repeats=2)
    _check(df, "loading", "samples/s")
    assert set(zip(df["stage"], df["variant"], strict=True)) == {
        (k, v) for k in data.LOADERS for v in ("store", "naive")
    }
    assert (df["median"] > 0).all() and (df["workers"] == 0).all()


@pytest.mark.parametrize("kind", ["sequence", "audio"])
def test_naive_loaders_yield_batches_shaped_like_the_store_loaders(smoke_data, kind) -> None:
    store = data.make_loader(kind, "store", smoke_data, batch_size=4)
    naive = data.make_loader(kind, "naive", smoke_data, batch_size=4)
    a, b = next(iter(store)), next(iter(naive))
    assert [tuple(t.shape) for t in a] == [tuple(t.shape) for t in b]
    assert all(torch.isfinite(t.float()).all() for t in b)


def test_bench_training_splits_each_stage_into_phases_that_add_up() -> None:
    df = timing.bench_training(preset="smoke", batch_sizes=(2,), warmup=1, repeats=1, flops=True)
    _check(df, "training", "s")
    tr = df[df["benchmark"] == "training"]
    assert set(tr["stage"]) == set(config.STAGES)
    for _, g in tr.groupby("stage"):
        m = g.set_index("phase")["median"]
        assert m["forward"] + m["backward"] + m["optimiser"] == pytest.approx(m["total"])
        assert m["backward"] > 0 and m["optimiser"] > 0
    flops = df[(df["benchmark"] == "flops") & (df["unit"] == "FLOP")]
    assert set(flops["stage"]) == set(config.STAGES) and (flops["median"] > 0).all()


def test_bench_naive_decomp_times_both_structures_side_by_side() -> None:
    df = timing.bench_naive_decomp("smoke", batch_size=2, warmup=1, repeats=1)
    _check(df, "training", "s")
    total = df[(df["benchmark"] == "training") & (df["phase"] == "total")]
    assert (
        sorted(total["variant"]) == ["naive", "ours", "ours_bf16"] and (total["median"] > 0).all()
    )
    flops = df[(df["benchmark"] == "flops") & (df["unit"] == "FLOP")].set_index("variant")
    assert flops.loc["naive", "median"] > 0 and flops.loc["ours", "median"] > 0


def test_bench_rnn_times_gru_and_lstm_for_each_stage() -> None:
    df = timing.bench_rnn(preset="smoke", batch_size=2, warmup=0, repeats=1)
    _check(df, "rnn", "s")
    total = df[df["phase"] == "total"]
    assert set(zip(total["stage"], total["rnn"], strict=True)) == {
        (s, r) for s in config.STAGES for r in ("gru", "lstm")
    }


def test_bench_loop_overhead_reports_bare_loop_and_overhead() -> None:
    df = timing.bench_loop_overhead("decomp", "smoke", batch_size=2, steps=2, repeats=1)
    assert list(df.columns) == list(timing.SCHEMA)
    assert list(df["variant"]) == ["bare", "loop", "overhead"]
    assert list(df["unit"]) == ["s", "s", "fraction"]
    bare, loop, over = df["median"]
    assert bare > 0 and loop > 0
    assert over == pytest.approx((loop - bare) / bare)


def test_bench_data_wait_is_a_fraction_of_the_step(smoke_data) -> None:
    df = timing.bench_data_wait(smoke_data, preset="smoke", batch_size=4, steps=2)
    _check(df, "data_wait", "fraction")
    assert set(df["stage"]) == set(config.STAGES)
    assert ((df["median"] > 0) & (df["median"] < 1)).all()


def test_bench_inference_reports_compute_per_second_of_dance() -> None:
    df = timing.bench_inference((2.0, 4.0), preset="smoke", warmup=0, repeats=1)
    _check(df, "inference", "s/s")
    assert list(df["length_s"]) == [2.0, 4.0] and (df["median"] > 0).all()


def test_run_suite_appends_one_run_with_a_machine_label(tmp_path, smoke_data) -> None:
    out = tmp_path / "timing" / "results.csv"
    df = timing.run_suite(
        "quick", out, "cpu", "suite-box", smoke_data, progress=False, only=["audio", "matmul"]
    )
    assert set(df["benchmark"]) == {"audio_features", "matmul_peak"}
    back = timing.load_results(out)
    assert len(back) == len(df) and back["run_id"].nunique() == 1
    assert (back["machine"] == "suite-box").all()


def test_main_runs_a_suite_and_appends_to_the_csv(tmp_path, smoke_data, capsys) -> None:
    out = tmp_path / "r.csv"
    args = [
        "--suite",
        "quick",
        "--only",
        "matmul",
        "--out",
        str(out),
        "--label",
        "cli-box",
        "--data",
        str(smoke_data),
        "--no-progress",
    ]
    assert timing.main(args) == 0
    assert timing.main(args) == 0
    back = timing.load_results(out)
    assert back["run_id"].nunique() == 2 and (back["machine"] == "cli-box").all()
    assert "measurements appended" in capsys.readouterr().out


def test_pivot_puts_a_second_machine_beside_the_first_and_leaves_gaps_empty() -> None:
    cpu = timing.machine_info(label="cpu-box")
    gpu = timing.machine_info(label="gpu-box")
    rows = [
        timing.make_row(
            cpu,
            "r1",
            "training",
            "s",
            timing.Measurement((2.0,)),
            device="cpu",
            stage="decomp",
            phase="total",
            batch_size=bs,
            variant="ours",
        )
        for bs in (1, 2)
    ] + [
        timing.make_row(
            gpu,
            "r2",
            "training",
            "s",
            timing.Measurement((0.5,)),
            device="cuda",
            stage="decomp",
            phase="total",
            batch_size=2,
            variant="ours",
        )
    ]
    table = timing.pivot(timing.results_frame(rows), benchmark="training", phase="total")
    assert table.loc[2, ("cpu-box", "cpu", "decomp")] == 2.0
    assert table.loc[2, ("gpu-box", "cuda", "decomp")] == 0.5
    assert pd.isna(table.loc[1, ("gpu-box", "cuda", "decomp")])


def test_latest_keeps_the_newest_of_repeated_measurements() -> None:
    info = timing.machine_info(label="box")
    rows = [
        timing.make_row(info, run, "audio_features", "s/s", timing.Measurement((v,)), length_s=10.0)
        for run, v in (("old", 1.0), ("new", 3.0))
    ]
    rows[0]["timestamp"], rows[1]["timestamp"] = "2026-01-01T00:00:00", "2026-02-01T00:00:00"
    kept = timing.latest(timing.results_frame(rows))
    assert list(kept["run_id"]) == ["new"] and list(kept["median"]) == [3.0]


def test_pivot_refuses_to_merge_measurements_that_differ() -> None:
    df = _frame(
        dict(
            benchmark="training",
            unit="s",
            stage="decomp",
            variant="ours",
            phase="total",
            batch_size=64,
            value=2.0,
        ),
        dict(
            benchmark="training",
            unit="s",
            stage="decomp",
            variant="naive",
            phase="total",
            batch_size=64,
            value=5.0,
        ),
    )
    with pytest.raises(ConfigError, match="variant"):
        timing.pivot(df, benchmark="training")
    assert timing.pivot(df, benchmark="training", variant="naive").iloc[0, 0] == 5.0
