"""Tests for d2mlib.train: the shared loop on a toy stage, checkpoints, resume, NaN, DDP, caching."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from d2mlib import config, train
from d2mlib.errors import CheckpointError, ConfigError, TrainingError

pytestmark = pytest.mark.usefixtures("one_thread")  # and results stay exact


# --------------------------------------------------------------------------- a toy stage

N_TRAIN, N_VAL, DIM = 96, 32, 6


def _toy_data(seed: int = 123) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(DIM, 1, generator=g)
    x = torch.randn(N_TRAIN + N_VAL, DIM, generator=g)
    y = x @ w + 0.1 * torch.randn(N_TRAIN + N_VAL, 1, generator=g)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


class ToyStage:
    """A noisy linear regression with dropout: exercises RNG, optimiser state and a scheduler."""

    name = "toy"

    def __init__(self, seed: int = 0, nan_at: int | None = None, delay: float = 0.0) -> None:
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(DIM, 16), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 1)
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=7, gamma=0.9)
        self.generator = torch.Generator().manual_seed(seed + 1)  # saved with the checkpoint
        self.nan_at = nan_at
        self.delay = delay

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def schedulers(self) -> dict[str, object]:
        return {"sched": self.sched}

    def training_step(self, batch: tuple[torch.Tensor, ...], step: int) -> dict[str, torch.Tensor]:
        x, y = batch
        self.opt.zero_grad()
        pred = self.net(x + 0.01 * torch.randn(x.shape, generator=self.generator).to(x.device))
        mse = ((pred - y) ** 2).mean()
        reg = 1e-4 * sum((p**2).sum() for p in self.net.parameters())
        if self.nan_at is not None and step == self.nan_at:
            reg = reg * float("nan")
        (mse + reg).backward()
        self.opt.step()
        if self.delay:
            time.sleep(self.delay)
        return {"mse": mse.detach(), "reg": reg.detach()}

    def validation_step(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": ((self.net(x) - y) ** 2).mean()}


def toy_batches(seed: int, batch_size: int = 16):
    """Epoch -> batches, in an order drawn from (seed, epoch)."""
    xtr, ytr, _, _ = _toy_data()

    def batches(epoch: int):
        g = torch.Generator().manual_seed(train.epoch_seed(seed, epoch))
        order = torch.randperm(N_TRAIN, generator=g)
        for i in range(0, N_TRAIN - batch_size + 1, batch_size):
            idx = order[i : i + batch_size]
            yield xtr[idx], ytr[idx]

    return batches


def toy_val():
    _, _, xva, yva = _toy_data()
    return [(xva[i : i + 16], yva[i : i + 16]) for i in range(0, N_VAL, 16)]


def run_toy(run_dir: Path, seed: int = 0, epochs: int = 4, **kwargs) -> train.FitResult:
    stage_kwargs = {k: kwargs.pop(k) for k in ("nan_at", "delay") if k in kwargs}
    stage = ToyStage(seed, **stage_kwargs)
    loop = train.LoopConfig(
        epochs=epochs,
        log_every=kwargs.pop("log_every", 4),
        ckpt_every=kwargs.pop("ckpt_every", 5),
        progress=False,
        **kwargs,
    )
    return train.fit(
        stage, toy_batches(seed), toy_val, run_dir, loop, seed=seed, config={"toy": 1}, device="cpu"
    )


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def weights(path: Path) -> dict[str, torch.Tensor]:
    return train.load_checkpoint(path)["modules"]["net"]


# --------------------------------------------------------------------------- the loop


def test_loop_writes_metrics_csv_with_columns_and_both_checkpoints(tmp_path):
    result = run_toy(tmp_path / "run")
    rows = read_metrics(tmp_path / "run")
    assert list(rows[0].keys()) == ["step", "epoch", "split", "term", "value"]
    steps_per_epoch = N_TRAIN // 16
    assert result.step == 4 * steps_per_epoch
    train_rows = [r for r in rows if r["split"] == "train"]
    assert {r["term"] for r in train_rows} == {"mse", "reg"}
    assert sorted({int(r["step"]) for r in train_rows}) == list(range(1, result.step + 1))
    val_rows = [r for r in rows if r["split"] == "val"]
    assert [int(r["epoch"]) for r in val_rows] == [0, 1, 2, 3]
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "best.pt").is_file()
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ckpt["step"] == result.step and ckpt["config"] == {"toy": 1}
    assert set(ckpt) >= {"modules", "optimizers", "schedulers", "rng", "config", "step"}
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    val = [float(r["value"]) for r in val_rows]
    assert best["best_value"] == pytest.approx(min(val))
    assert not list((tmp_path / "run").glob("*.tmp"))


@pytest.mark.parametrize("mode", ["min", "max", "last"])
def test_best_checkpoint_follows_the_monitor_mode(tmp_path, mode):
    run_toy(tmp_path / "run", monitor_mode=mode)
    rows = read_metrics(tmp_path / "run")
    val = [(int(r["step"]), float(r["value"])) for r in rows if r["split"] == "val"]
    assert val[0][1] > val[-1][1]  # the toy loss falls, so the three modes keep different steps
    pick = {"min": min, "max": max, "last": lambda v, key: v[-1]}[mode]
    step, value = pick(val, key=lambda v: v[1])
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["step"] == best["best_step"] == step
    assert best["best_value"] == pytest.approx(value)


def test_training_reduces_toy_loss(tmp_path):
    run_toy(tmp_path / "run", epochs=6)
    val = [float(r["value"]) for r in read_metrics(tmp_path / "run") if r["split"] == "val"]
    assert val[-1] < 0.5 * val[0]


def test_same_seed_gives_identical_metrics_and_different_seed_does_not(tmp_path):
    run_toy(tmp_path / "a", seed=3)
    run_toy(tmp_path / "b", seed=3)
    run_toy(tmp_path / "c", seed=4)
    a, b, c = (read_metrics(tmp_path / n) for n in "abc")
    assert a == b
    assert a != c


def test_max_steps_stops_mid_epoch_and_resume_continues_to_the_same_weights(tmp_path):
    full = run_toy(tmp_path / "full", epochs=3, ckpt_every=None)
    part = run_toy(tmp_path / "part", epochs=3, max_steps=8, ckpt_every=None)
    assert part.step == 8 and part.epoch == 1
    rest = run_toy(tmp_path / "part", epochs=3, ckpt_every=None)
    assert rest.resumed_from == 8 and rest.step == full.step
    wa, wb = weights(tmp_path / "full" / "last.pt"), weights(tmp_path / "part" / "last.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_nan_loss_stops_with_step_and_term_and_keeps_last_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"'reg'.*step 14") as info:
        # checkpoints at steps 5, 6 (epoch end), 10, 12 (epoch end); NaN at step index 14 is
        # found by the check before the checkpoint of step 15
        run_toy(run_dir, nan_at=14, ckpt_every=5, log_every=8)
    assert str(run_dir) in str(info.value)
    assert train.load_checkpoint(run_dir / "last.pt")["step"] == 12
    before = (run_dir / "last.pt").read_bytes()
    # a second attempt resumes from step 12 and fails the same way without touching the checkpoint
    with pytest.raises(TrainingError, match="step 14"):
        run_toy(run_dir, nan_at=14, ckpt_every=5, log_every=8)
    assert (run_dir / "last.pt").read_bytes() == before
    ckpt = train.load_checkpoint(run_dir / "last.pt")
    assert all(torch.isfinite(t).all() for t in ckpt["modules"]["net"].values())


def test_nan_is_caught_before_a_checkpoint_even_between_log_intervals(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingError, match="step 3"):
        run_toy(run_dir, nan_at=3, ckpt_every=5, log_every=100)
    assert not (run_dir / "last.pt").exists()


def test_truncated_checkpoint_raises_checkpoint_error_naming_the_file(tmp_path):
    run_toy(tmp_path / "run", epochs=1)
    path = tmp_path / "run" / "last.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="last.pt"):
        train.load_checkpoint(path)
    with pytest.raises(CheckpointError):
        run_toy(tmp_path / "run", epochs=2)
    with pytest.raises(CheckpointError, match="not found"):
        train.load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_from_another_model_is_rejected(tmp_path):
    run_toy(tmp_path / "run", epochs=1)
    ckpt = train.load_checkpoint(tmp_path / "run" / "last.pt")
    ckpt["modules"]["net"] = {"weight": torch.zeros(2, 2)}
    train.save_checkpoint(tmp_path / "run" / "last.pt", ckpt)
    with pytest.raises(CheckpointError, match="does not match"):
        run_toy(tmp_path / "run", epochs=2)


def test_resolve_device_auto_and_explicit():
    assert config.resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            config.resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
def test_toy_stage_trains_on_cuda(tmp_path):
    stage = ToyStage(0)
    loop = train.LoopConfig(epochs=1, progress=False)
    result = train.fit(stage, toy_batches(0), toy_val, tmp_path / "run", loop, device="cuda")
    assert result.step == N_TRAIN // 16
    assert next(stage.net.parameters()).device.type == "cuda"


# --------------------------------------------------------------------------- SIGKILL and resume

_CHILD = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_train import run_toy
run_toy(Path({run!r}), epochs=6, ckpt_every=3, delay=0.05)
"""


def test_resume_after_sigkill_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path):
    full = run_toy(tmp_path / "full", epochs=6, ckpt_every=3)
    run_dir = tmp_path / "killed"
    code = _CHILD.format(tests=str(Path(__file__).parent), run=str(run_dir))
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (run_dir / "last.pt").exists() and train.load_checkpoint(run_dir / "last.pt")[
                "step"
            ] >= 6:
                break
            if proc.poll() is not None:
                pytest.fail("training child exited before it could be killed")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = train.load_checkpoint(run_dir / "last.pt")["step"]
    assert 6 <= killed_at < full.step
    resumed = run_toy(run_dir, epochs=6, ckpt_every=3)
    assert resumed.resumed_from == killed_at and resumed.step == full.step
    wa, wb = weights(tmp_path / "full" / "last.pt"), weights(run_dir / "last.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # the metrics file holds each step once, as in the uninterrupted run
    assert read_metrics(run_dir) == read_metrics(tmp_path / "full")


# --------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_ddp_two_processes_on_cpu_match_single_process_losses(tmp_path):
    # the plain toy stage has no dropout or input noise, so the curves must match closely
    single = tmp_path / "single"
    run_toy_plain(single)
    ctx = torch.multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_ddp_worker_plain, args=(r, 2, str(tmp_path / "init"), str(tmp_path / "ddp"))
        )
        for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    a = [r for r in read_metrics(single) if r["split"] == "train"]
    b = [r for r in read_metrics(tmp_path / "ddp") if r["split"] == "train"]
    assert [(r["step"], r["term"]) for r in a] == [(r["step"], r["term"]) for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert float(rb["value"]) == pytest.approx(float(ra["value"]), rel=1e-4, abs=1e-6)
    wa, wb = weights(single / "last.pt"), weights(tmp_path / "ddp" / "last.pt")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


class PlainToyStage(ToyStage):
    """The toy stage without dropout or input noise: its losses do not depend on the process."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.net[2].p = 0.0

    def training_step(self, batch, step):
        x, y = batch
        self.opt.zero_grad()
        mse = ((self.net(x) - y) ** 2).mean()
        mse.backward()
        self.opt.step()
        return {"mse": mse.detach()}


def run_toy_plain(run_dir: Path) -> train.FitResult:
    loop = train.LoopConfig(epochs=3, log_every=2, ckpt_every=5, progress=False)
    return train.fit(
        PlainToyStage(0), toy_batches(0, 32), toy_val, run_dir, loop, seed=0, device="cpu"
    )


def _ddp_worker_plain(rank: int, world: int, init_file: str, run_dir: str) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world
    )
    try:
        torch.set_num_threads(1)
        run_toy_plain(Path(run_dir))
    finally:
        torch.distributed.destroy_process_group()


# --------------------------------------------------------------------------- real stages on smoke data


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory) -> Path:
    from d2mlib import data

    out = tmp_path_factory.mktemp("smoke_data")
    data.write_dataset(out, preset="smoke", seed=0, progress=False)
    return out


def smoke_config(stage: str, steps: int = 4, **train_overrides):
    import dataclasses

    cfg = config.make_config("smoke")
    key = {"style": "train_style", "decomp": "train_decomp", "comp": "train_comp"}[stage]
    tcfg = dataclasses.replace(getattr(cfg, key), steps=steps, device="cpu", **train_overrides)
    return dataclasses.replace(cfg, **{key: tcfg})


def train_losses(run: train.Run, term: str) -> list[float]:
    df = run.metrics()
    rows = df[(df["split"] == "train") & (df["term"] == term)].sort_values("step")
    return rows["value"].tolist()


@pytest.mark.slow
def test_finished_run_is_reused_not_retrained(smoke_data, tmp_path):
    cfg = smoke_config("decomp")
    first = train.train_stage("decomp", cfg, smoke_data, tmp_path, progress=False)
    assert not first.cached and first.step == 4 and first.done
    assert first.path.name.startswith("decomp-smoke-") and len(first.path.name.split("-")[-1]) == 8
    assert (first.path / "config.yaml").is_file()
    mtime = (first.path / "last.pt").stat().st_mtime_ns
    second = train.train_stage("decomp", cfg, smoke_data, tmp_path, progress=False)
    assert second.cached and second.path == first.path and second.step == 4
    assert (first.path / "last.pt").stat().st_mtime_ns == mtime
    # another seed is another run
    other = train.train_stage(
        "decomp", smoke_config("decomp", seed=1), smoke_data, tmp_path, progress=False
    )
    assert other.path != first.path and not other.cached
    assert train.find_run(tmp_path, "decomp", cfg).path == first.path
    assert train.find_run(tmp_path, "decomp").path in (first.path, other.path)
    assert train.find_run(tmp_path, "style") is None


@pytest.mark.slow
def test_load_run_rebuilds_modules_from_the_stored_config(smoke_data, tmp_path):
    run = train.train_stage("decomp", smoke_config("decomp"), smoke_data, tmp_path, progress=False)
    modules, cfg = train.load_run(run.path)
    assert cfg == run.cfg
    ckpt = torch.load(run.path / "best.pt", weights_only=True)
    for name, state in ckpt["modules"].items():
        got = modules[name].state_dict()
        assert all(torch.equal(got[k], state[k]) for k in state)
    assert set(modules["stats"]) == {"pose_mean", "pose_std", "audio_mean", "audio_std"}
    with pytest.raises(CheckpointError, match="not found"):
        train.load_run(tmp_path / "nope")


@pytest.mark.slow
def test_real_stages_train_with_finite_decreasing_losses(smoke_data, tmp_path):
    import dataclasses

    r = dataclasses.replace
    cfg = config.make_config("smoke")
    fast = {"lr": 3e-3, "log_every": 10, "device": "cpu"}
    cfg = r(
        cfg,
        train_style=r(cfg.train_style, steps=80, val_every=40, **fast),
        train_decomp=r(cfg.train_decomp, steps=120, val_every=60, **fast),
        train_comp=r(cfg.train_comp, steps=80, val_every=40, **fast),
    )
    # the composition stage trains the style and decomposition runs it needs first
    comp = train.train_stage("comp", cfg, smoke_data, tmp_path, progress=False)
    style, decomp = train.find_run(tmp_path, "style", cfg), train.find_run(tmp_path, "decomp", cfg)
    assert style is not None and decomp is not None
    assert comp.info["deps"] == {"style": style.path.name, "decomp": decomp.path.name}
    checks = [(style, "loss", 80), (decomp, "total", 120), (comp, "mov_recon", 80)]
    for run, term, steps in checks:
        values = train_losses(run, term)
        assert len(values) == steps and all(np.isfinite(values)), run.path.name
        assert np.mean(values[-10:]) < 0.8 * np.mean(values[:10]), (run.path.name, term)
    assert np.all(np.isfinite(comp.metrics()["value"]))
    with pytest.raises(CheckpointError, match="no finished style run"):
        other = r(cfg, train_style=r(cfg.train_style, seed=9))
        train.train_stage("comp", other, smoke_data, tmp_path, progress=False, train_missing=False)


@pytest.mark.slow
def test_torchrun_two_processes_train_a_real_stage_like_one(smoke_data, tmp_path):
    single = train.train_stage(
        "decomp", smoke_config("decomp"), smoke_data, tmp_path / "one", progress=False
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "d2mlib.train",
            "decomp",
            "--preset",
            "smoke",
            "--data",
            str(smoke_data),
            "--out",
            str(tmp_path / "two"),
            "--device",
            "cpu",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("trained decomp run") == 1  # only rank 0 reports
    ddp = train.find_run(tmp_path / "two", "decomp")
    assert ddp is not None and ddp.path.name == single.path.name and ddp.step == single.step
    assert ddp.info["world_size"] == 2
    # the same global batches, different noise per process: validation losses agree closely
    a, b = single.metrics(), ddp.metrics()
    va = a[(a["split"] == "val") & (a["term"] == "total")]["value"].to_numpy()
    vb = b[(b["split"] == "val") & (b["term"] == "total")]["value"].to_numpy()
    np.testing.assert_allclose(vb, va, rtol=0.01)


@pytest.mark.slow
def test_real_stage_is_deterministic_and_resumes_to_identical_weights(smoke_data, tmp_path):
    import dataclasses

    from d2mlib import data
    from d2mlib.models.dance_unit import DecompStage

    cfg = smoke_config("decomp", steps=12)
    cfg = dataclasses.replace(cfg, train_decomp=dataclasses.replace(cfg.train_decomp, lr=3e-3))
    store = data.FeatureStore.open(smoke_data)
    loader = data.unit_loader(store, "train", 8, seed=0)
    val = data.unit_loader(store, "val", 8, seed=0, shuffle=False, jitter=False, drop_last=False)

    def batches(epoch):
        loader.set_epoch(epoch)
        return loader

    def run(name: str, max_steps: int) -> train.FitResult:
        loop = train.LoopConfig(epochs=None, max_steps=max_steps, log_every=3, progress=False)
        stage = DecompStage(cfg, device="cpu")
        return train.fit(stage, batches, lambda: val, tmp_path / name, loop, device="cpu")

    run("a", 12)
    run("b", 12)
    run("c", 5)  # stops mid-epoch (9 batches an epoch) ...
    assert run("c", 12).resumed_from == 5  # ... and resumes there
    assert read_metrics(tmp_path / "a") == read_metrics(tmp_path / "b")
    wa = train.load_checkpoint(tmp_path / "a" / "last.pt")["modules"]["dance_unit"]
    wc = train.load_checkpoint(tmp_path / "c" / "last.pt")["modules"]["dance_unit"]
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    train_rows = [r for r in read_metrics(tmp_path / "c") if r["split"] == "train"]
    assert train_rows == [r for r in read_metrics(tmp_path / "a") if r["split"] == "train"]
