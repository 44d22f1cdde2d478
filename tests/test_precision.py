"""bf16 autocast: the fast recurrence under autocast, the training stages, the curve comparison."""

import pandas as pd
import pytest
import torch

from d2mlib import config as C
from d2mlib import studies
from d2mlib.errors import ConfigError
from d2mlib.models import (
    CompStage,
    DanceUnit,
    DecompStage,
    StyleExtractor,
    StyleStage,
    fast_rnn,
    make_rnn,
)
from d2mlib.models.rnn import autocast_for, native_bf16, resolve_precision
from d2mlib.timing import timed_config as stage_config
from d2mlib.train import run_name

pytestmark = pytest.mark.usefixtures("one_thread")


def with_precision(cfg, precision: str):
    """The preset `cfg` names, its three stages trained at `precision`."""
    return stage_config(cfg.preset, "gru", precision)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_fast_rnn_under_autocast_stays_close_to_fp32_and_keeps_fp32_state(kind):
    torch.manual_seed(0)
    rnn = make_rnn(kind, 24, 64, 1, bidirectional=True)
    x = torch.randn(8, 16, 24, requires_grad=True)
    ref = fast_rnn(rnn, x)
    g_ref = torch.autograd.grad(ref.square().sum(), [x, *rnn.parameters()])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fast_rnn(rnn, x)
    assert out.dtype == torch.float32  # the state stays float32
    g_out = torch.autograd.grad(out.square().sum(), [x, *rnn.parameters()])
    err = (out - ref).abs().max().item()
    assert 0 < err < 0.05  # bf16 products: different, but by little
    for a, b in zip(g_out, g_ref, strict=True):
        assert a.dtype == torch.float32
        assert (a - b).norm() / b.norm() < 0.05


def test_autocast_for_is_a_no_op_in_fp32():
    with autocast_for(torch.device("cpu"), "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast_for(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16


def _decomp_losses(precision: str, steps: int = 3) -> list[float]:
    cfg = with_precision(C.preset("smoke"), precision)
    stage = DecompStage(cfg)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 32, 28, generator=gen)
    batch = (x, x + 0.01 * torch.randn(x.shape, generator=gen), torch.zeros(8, dtype=torch.long))
    return [float(stage.training_step(batch, s)["total"]) for s in range(1, steps + 1)]


def test_decomp_step_in_bf16_matches_fp32_within_tolerance_but_not_exactly():
    a, b = _decomp_losses("fp32"), _decomp_losses("bf16")
    assert a != b
    for x, y in zip(a, b, strict=True):
        assert abs(x - y) / abs(x) < 0.02


def test_style_step_in_bf16_returns_fp32_terms_close_to_fp32():
    out = {}
    for precision in ("fp32", "bf16"):
        stage = StyleStage(with_precision(C.preset("smoke"), precision))
        gen = torch.Generator().manual_seed(0)
        batch = (torch.randn(8, 30, 28, generator=gen), torch.arange(8) % 3)
        out[precision] = stage.training_step(batch, 1)
    assert out["bf16"]["loss"].dtype == torch.float32
    assert abs(out["bf16"]["loss"] - out["fp32"]["loss"]) / out["fp32"]["loss"] < 0.02


def test_precision_is_checked():
    with pytest.raises(ConfigError, match="precision"):
        C.TrainConfig(precision="fp16")


def _comp_terms(precision: str) -> dict[str, float]:
    cfg = with_precision(C.preset("smoke"), precision)
    torch.manual_seed(0)
    stage = CompStage(cfg, StyleExtractor(cfg.style), DanceUnit(cfg.dance_unit), device="cpu")
    gen = torch.Generator().manual_seed(0)
    batch = (
        torch.randn(4, 3, 32, 28, generator=gen),
        torch.randn(4, 96, 28, generator=gen),
        torch.arange(4) % 3,
    )
    out = stage.training_step(batch, 1)
    assert all(v.dtype == torch.float32 for v in out.values())
    return {k: float(v) for k, v in out.items()}


def test_comp_step_in_bf16_matches_fp32_within_tolerance_but_not_exactly():
    a, b = _comp_terms("fp32"), _comp_terms("bf16")
    assert a.keys() == b.keys()
    assert a != b
    for key in ("total", "mov_recon", "seq_recon", "disc_mov"):
        assert abs(a[key] - b[key]) / abs(a[key]) < 0.05, key


def test_default_precision_leaves_run_names_and_hashes_unchanged_but_bf16_changes_them():
    cfg = C.preset("paper")  # every field added later sits at its default here
    d = C.to_dict(cfg)
    for section in d.values():
        if isinstance(section, dict):
            for key in C.HASH_SKIP_DEFAULTS:
                section.pop(key, None)
    import hashlib
    import json

    old = hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert C.config_hash(cfg) == old[:10]
    bf = with_precision(cfg, "bf16")
    assert C.config_hash(bf) != C.config_hash(cfg)
    assert run_name("decomp", bf) != run_name("decomp", cfg)
    assert run_name("comp", cfg) == run_name("comp", with_precision(cfg, "fp32"))


def test_precision_config_sets_the_stage_only_and_checks_its_arguments():
    cfg = studies.precision.precision_config(C.preset("smoke"), "decomp", "bf16", 40)
    assert cfg.train_decomp.precision == "bf16" and cfg.train_decomp.steps == 40
    assert cfg.train_decomp.val_every == 10 and cfg.train_style.precision == "fp32"
    with pytest.raises(ConfigError, match="stage"):
        studies.precision.precision_config(C.preset("smoke"), "comp", "bf16", 40)
    with pytest.raises(ConfigError, match="steps"):
        studies.precision.precision_config(C.preset("smoke"), "decomp", "bf16", 0)


def _curves(scale: float) -> pd.DataFrame:
    rows = []
    for precision, f in (("fp32", 1.0), ("bf16", scale), ("fp32, next seed", 1.5)):
        for step in range(5, 55, 5):
            rows.append((precision, step, "train", "total", f * 10.0 / step))
            rows.append((precision, step, "train", "zero", 0.0))
        rows.append((precision, 50, "val", "total", f * 2.0))
        rows.append((precision, 50, "val", "zero", 0.0))
    return pd.DataFrame(rows, columns=["run", "step", "split", "term", "value"])


def test_precision_gap_on_curves_whose_gap_is_known():
    gap = studies.precision.precision_gap(_curves(1.1))
    assert gap["train_max"] == pytest.approx(0.1) and gap["train_mean"] == pytest.approx(0.1)
    assert gap["val_last"] == pytest.approx(0.1)
    same = studies.precision.precision_gap(_curves(1.0))
    assert same == {"train_max": 0.0, "train_mean": 0.0, "val_last": 0.0}
    zero = studies.precision.precision_gap(
        _curves(1.1), term="zero"
    )  # a term that is 0 in both: no gap
    assert zero["train_max"] == 0.0 and zero["val_last"] == 0.0
    seed = studies.precision.precision_gap(_curves(1.1), other="fp32, next seed")
    assert seed["train_max"] == pytest.approx(0.5) and seed["val_last"] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="no 'nope' rows"):
        studies.precision.precision_gap(_curves(1.0), term="nope")
    with pytest.raises(ConfigError, match="'fp16'"):
        studies.precision.precision_gap(_curves(1.0), other="fp16")


def test_precision_curves_trains_both_precisions_and_another_seed(smoke_data, tmp_path):
    curves = studies.precision.precision_curves(
        C.preset("smoke"), smoke_data, tmp_path, "decomp", steps=10
    )
    assert set(curves["run"]) == set(studies.precision.RUNS)
    train = curves[(curves["split"] == "train") & (curves["term"] == "total")]
    wide = train.pivot_table(index="step", columns="run", values="value")
    assert list(wide.index) == list(range(1, 11))  # every step is logged
    assert (wide["fp32"] != wide["bf16"]).any()  # really two precisions
    bf16 = studies.precision.precision_gap(curves)["train_max"]
    seed = studies.precision.precision_gap(curves, other="fp32, next seed")["train_max"]
    assert bf16 < 0.05 and seed > bf16  # another seed moves the curve more than bf16 does
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 3  # three runs


def test_gap_verdict_says_more_when_bf16_moves_the_curve_further_than_a_seed():
    # the build's numbers: bf16 1.22%, another seed 0.23%
    said = studies.precision.gap_verdict(0.0122, 0.0023)
    assert said.startswith("more than another seed does")
    assert "1.22% against 0.23%" in said and "5.3 times" in said
    assert studies.precision.gap_verdict(0.0023, 0.0122).startswith("less than")
    assert studies.precision.gap_verdict(0.011, 0.010).startswith("about as much as")
    # either side of the threshold (1.25 by default)
    assert studies.precision.gap_verdict(0.0126, 0.01).startswith("more than")
    assert studies.precision.gap_verdict(0.0124, 0.01).startswith("about")
    assert studies.precision.gap_verdict(0.0, 0.0).startswith("about as much as")
    with pytest.raises(ConfigError, match="finite"):
        studies.precision.gap_verdict(float("nan"), 0.01)


def test_speed_sentences_say_slower_at_book_sizes_and_faster_at_paper_sizes():
    steps = pd.DataFrame(
        {"naive": [0.30, 1.2], "ours": [0.35, 1.0], "ours_bf16": [0.4, 0.5]},
        index=["book", "paper"],
    )
    out = studies.precision.speed_sentences(steps)
    assert out.loc["book", "speed-up"] == pytest.approx(0.30 / 0.35)
    assert out.loc["book", "verdict"].startswith("slower (0.86 times as fast)")
    assert out.loc["book", "verdict"].endswith("target 2 times not met")
    assert out.loc["paper", "verdict"].startswith("1.2 times as fast")
    assert out.loc["paper", "verdict, bf16"].startswith("2.4 times as fast")
    assert out.loc["paper", "verdict, bf16"].endswith("target 2 times met")
    with pytest.raises(ConfigError, match="naive"):
        studies.precision.speed_sentences(steps[["ours"]])


@pytest.mark.parametrize(
    ("op", "kind"),
    [
        ("aten::mm", "matrix products"),
        ("aten::addmm", "matrix products"),
        ("aten::tanh", "activation functions"),
        ("aten::copy_", "copying tensors"),
        ("SliceBackward0", "slicing tensors (backward pass)"),
        ("_GRURecurrence", "the recurrent layers"),
        ("_GRURecurrenceBackward", "the recurrent layers (backward pass)"),
        ("aten::empty_strided", "allocating tensors"),
        ("AddmmBackward0", "matrix products (backward pass)"),
        ("aten::something_new", "a single operator (named in the profile below)"),
    ],
)
def test_operator_kind_names_profiler_operators_for_readers(op, kind):
    assert studies.precision.operator_kind(op) == kind


def test_auto_precision_is_bf16_exactly_where_the_cpu_multiplies_bfloat16(monkeypatch):
    cpu = torch.device("cpu")
    for native in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda n=native: n)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
        assert native_bf16(cpu) is native
        assert resolve_precision("auto", cpu) == ("bf16" if native else "fp32")
        with autocast_for(cpu, "auto"):
            assert torch.is_autocast_enabled("cpu") is native
    assert resolve_precision("fp32", cpu) == "fp32"  # explicit values are kept
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ConfigError, match="fp16"):
        resolve_precision("fp16", cpu)
    assert C.preset("book").train_decomp.precision == "auto"
    assert C.TrainConfig(precision="auto").precision == "auto"
