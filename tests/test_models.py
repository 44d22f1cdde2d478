"""Tests for d2mlib.models: shapes, the fast recurrence, the three training stages, ablations."""

import dataclasses
import math

import pytest
import torch

from d2mlib.config import ablation, bank_recipe, preset
from d2mlib.errors import CheckpointError, ConfigError
from d2mlib.models import (
    Composer,
    CompStage,
    DanceUnit,
    DecompStage,
    StyleExtractor,
    StyleStage,
    fast_rnn,
    make_rnn,
    parameter_count,
)
from d2mlib.models.bank import music_keys
from d2mlib.models.composer import LINEAR_UNITS, LOGVAR_INIT
from d2mlib.models.dance_unit import (
    Gaussian,
    UnitDiscriminator,
    decomposition_losses,
    draw_noise,
    kl_warmup,
    shares_movement,
)
from d2mlib.models.prior import mmd
from d2mlib.models.style import oracle_codes
from d2mlib.stages import run_key

B = 6


pytestmark = pytest.mark.usefixtures("one_thread")


def fast_lr(cfg, lr: float = 3e-3):
    """`cfg` with a higher learning rate in every stage (for the short convergence tests)."""
    r = dataclasses.replace
    return r(
        cfg,
        train_style=r(cfg.train_style, lr=lr),
        train_decomp=r(cfg.train_decomp, lr=lr),
        train_comp=r(cfg.train_comp, lr=lr),
    )


def smoke(rnn: str = "gru"):
    """The smoke preset with every recurrent layer of type `rnn`."""
    cfg = preset("smoke")
    r = dataclasses.replace
    return r(
        cfg,
        style=r(cfg.style, rnn=rnn),
        dance_unit=r(cfg.dance_unit, rnn=rnn),
        composer=r(cfg.composer, rnn=rnn),
    )


def smooth_units(n: int, seed: int = 0, frames: int = 32) -> torch.Tensor:
    """Random smooth trajectories (n, frames, 28): a few low-frequency sinusoids per coordinate."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, frames)[None, :, None]
    amp = torch.randn(n, 1, 28, generator=g)
    freq = 0.5 + torch.rand(n, 1, 28, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, 28, generator=g)
    offset = 0.5 * torch.randn(n, 1, 28, generator=g)
    return (offset + amp * torch.sin(2 * math.pi * freq * t + phase)).float()


def unit_pair(n: int = B, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two translated copies of the same smooth units, and style labels."""
    x = smooth_units(n, seed)
    g = torch.Generator().manual_seed(seed + 100)
    shift = 0.1 * torch.randn(n, 1, 2, generator=g).repeat(1, 1, 14)
    return x, x + shift, torch.arange(n) % 3


def sequence_batch(n_units: int = 3, seed: int = 0):
    """(units (B, n, 32, 28), audio (B, n*32, 28), style (B,)) with style-dependent audio."""
    units = smooth_units(B * n_units, seed).view(B, n_units, 32, 28)
    style = torch.arange(B) % 3
    g = torch.Generator().manual_seed(seed + 7)
    audio = 0.3 * torch.randn(B, n_units * 32, 28, generator=g) + style[:, None, None].float() - 1
    return units, audio, style


def audio_batch(seed: int = 0, window: int = 30):
    """(audio (B, window, 28), style (B,)) where the style shifts the features' mean."""
    g = torch.Generator().manual_seed(seed)
    style = torch.arange(B) % 3
    audio = 0.5 * torch.randn(B, window, 28, generator=g) + style[:, None, None].float() - 1
    return audio, style


def finite_scalars(terms: dict[str, torch.Tensor]) -> None:
    assert terms, "no loss terms"
    for k, v in terms.items():
        assert v.dim() == 0, k
        assert not v.requires_grad, k
        assert torch.isfinite(v), k


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


# ---------------------------------------------------------------- the fast recurrence


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("layers,bidirectional,const", [(1, False, True), (2, True, False)])
def test_fast_rnn_matches_torch_outputs_and_gradients(kind, layers, bidirectional, const):
    torch.manual_seed(0)
    rnn = make_rnn(kind, 5, 7, layers, bidirectional).double()
    dirs = 2 if bidirectional else 1
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    if not const:
        x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(layers * dirs, 3, 7, dtype=torch.float64, requires_grad=True)
    seq = x.unsqueeze(1).repeat(1, 6, 1) if const else x
    state = (h0, torch.zeros_like(h0)) if kind == "lstm" else h0
    ref = rnn(seq, state)[0]
    out = fast_rnn(rnn, x, h0, steps=6)
    torch.testing.assert_close(out, ref)
    w = torch.randn_like(ref)
    inputs = [x, h0, *rnn.parameters()]
    g_ref = torch.autograd.grad((ref * w).sum(), inputs)
    g_out = torch.autograd.grad((out * w).sum(), inputs)
    for a, b in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_style_extractor_shapes(rnn):
    cfg = smoke(rnn)
    model = StyleExtractor(cfg.style)
    audio, _ = audio_batch()
    code, logits = model(audio)
    assert code.shape == (B, cfg.style.code_dim) and logits.shape == (B, 3)
    long = torch.randn(B, 95, 28)  # three whole windows of 30
    assert model.code(long).shape == (B, cfg.style.code_dim)
    pred = model.predict(long)
    assert pred.shape == (B,) and pred.dtype == torch.int64 and pred.max() < 3


def test_improved_style_extractor_keeps_a_30d_code():
    cfg = preset("improved").style
    small = dataclasses.replace(cfg, hidden=16)  # same structure, small for speed
    model = StyleExtractor(small).eval()
    code, logits = model(torch.randn(2, small.window, 28))
    assert code.shape == (2, 30) and logits.shape == (2, 3)
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.head) == 2


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_dance_unit_encode_decode_and_initial_pose_shapes(rnn):
    cfg = smoke(rnn).dance_unit
    model = DanceUnit(cfg)
    x, _, _ = unit_pair()
    q_init, q_mov = model.encode(x)
    assert q_init.mu.shape == (B, cfg.z_init) and q_mov.logvar.shape == (B, cfg.z_movement)
    units = model.decode(q_init.mu, q_mov.mu)
    assert units.shape == (B, 32, 28)
    torch.testing.assert_close(units, model.decode(q_init.mu, q_mov.mu, naive=True))
    p1 = model.sample_initial_pose(5, spread=0.5, generator=torch.Generator().manual_seed(3))
    p2 = model.sample_initial_pose(5, spread=0.5, generator=torch.Generator().manual_seed(3))
    assert p1.shape == (5, 28) and torch.equal(p1, p2)
    assert UnitDiscriminator(cfg)(units).shape == (B,)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
@pytest.mark.parametrize("n_units", [3, 4])
def test_composer_generates_one_movement_code_per_unit(rnn, n_units):
    cfg = smoke(rnn)
    model = Composer(cfg.composer, cfg.dance_unit.z_movement)
    style = torch.randn(2, cfg.composer.style_dim)
    audio = torch.randn(2, n_units * 32, 28)
    a = model.generate(style, audio, n_units, torch.Generator().manual_seed(1))
    b = model.generate(style, audio, n_units, torch.Generator().manual_seed(1))
    c = model.generate(style, audio, n_units, torch.Generator().manual_seed(2))
    assert a.shape == (2, n_units, cfg.dance_unit.z_movement)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_composer_linear_path_maps_whole_sequences_and_refuses_longer_ones():
    cfg = smoke("gru")
    cfg = dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, linear_path=True))
    z_m, z_d = cfg.dance_unit.z_movement, cfg.composer.z_dance
    torch.manual_seed(0)
    model = Composer(cfg.composer, z_m).eval()
    assert model.dance_enc.linear.in_features == LINEAR_UNITS * z_m
    assert model.dance_dec.linear.out_features == LINEAR_UNITS * 2 * z_m
    codes = Gaussian(torch.randn(2, 3, z_m), torch.zeros(2, 3, z_m))
    music = torch.randn(2, 3, cfg.composer.unit_audio_dim)
    z = torch.randn(2, z_d)
    with torch.no_grad():
        enc, dec = model.dance_enc(codes).mu, model.dance_dec(z, music).mu
        for net in (model.dance_enc, model.dance_dec):  # without the maps: the recurrences alone
            net.linear.weight.zero_()
        assert not torch.allclose(model.dance_enc(codes).mu, enc)
        assert not torch.allclose(model.dance_dec(z, music).mu, dec)
    too_long = Gaussian(
        torch.randn(1, LINEAR_UNITS + 1, z_m), torch.zeros(1, LINEAR_UNITS + 1, z_m)
    )
    with pytest.raises(ConfigError, match="at most"):
        model.dance_enc(too_long)
    assert (
        Composer(dataclasses.replace(cfg.composer, linear_path=False), z_m).dance_enc.linear is None
    )


def test_paper_preset_constructs_with_reported_parameter_counts():
    cfg = preset("paper")
    du = DanceUnit(cfg.dance_unit)
    h, zm, zi, p = 1024, 512, 10, 28
    gru = lambda i, hh: 3 * hh * (i + hh) + 6 * hh  # noqa: E731
    expected_mov_enc = 2 * gru(p, h) + 2 * h + (2 * h * 2 * zm + 2 * zm)
    expected_mov_dec = (zi + zm) * h + h + gru(zm, h) + (h * h + h) + 2 * h + (h * p + p)
    assert parameter_count(du.mov_enc) == expected_mov_enc
    assert parameter_count(du.mov_dec) == expected_mov_dec
    style = StyleExtractor(cfg.style)
    # GRU(28 -> 30), learned initial state, head 30 -> 30 -> 3
    assert parameter_count(style) == gru(28, 30) + 30 + (30 * 30 + 30) + (30 * 3 + 3)
    composer = Composer(cfg.composer, zm)
    counts = {
        name: {
            "dance_unit": parameter_count(DanceUnit(preset(name).dance_unit)),
            "composer": parameter_count(
                Composer(preset(name).composer, preset(name).dance_unit.z_movement)
            ),
        }
        for name in ("book", "smoke")
    }
    counts["paper"] = {"dance_unit": parameter_count(du), "composer": parameter_count(composer)}
    print("parameter counts:", counts)
    assert (
        counts["paper"]["dance_unit"] > counts["book"]["dance_unit"] > counts["smoke"]["dance_unit"]
    )
    assert counts["paper"]["composer"] > counts["book"]["composer"] > counts["smoke"]["composer"]


# ---------------------------------------------------------------- decomposition


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_naive_and_batched_decomposition_compute_the_same_losses_and_gradients(rnn):
    cfg = smoke(rnn).dance_unit
    torch.manual_seed(0)
    model = DanceUnit(cfg)
    x1, x2, _ = unit_pair()
    noise = draw_noise(cfg, B, torch.Generator().manual_seed(5), "cpu")
    results = {}
    for naive in (True, False):
        terms, _, _ = decomposition_losses(model, x1, x2, noise, 0.01, naive=naive)
        grads = torch.autograd.grad(terms["total"], list(model.parameters()))
        results[naive] = (terms, grads)
    (t_naive, g_naive), (t_fast, g_fast) = results[True], results[False]
    assert t_naive.keys() == t_fast.keys()
    assert {"kl_init", "kl_movement", "init_recon", "unit_recon", "cross_recon"} <= t_fast.keys()
    for k in t_naive:
        torch.testing.assert_close(t_fast[k], t_naive[k], rtol=1e-5, atol=1e-6)
    for a, b in zip(g_fast, g_naive, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_relative_encoder_shares_one_movement_code_and_matches_the_full_step():
    cfg = dataclasses.replace(smoke().dance_unit, enc_input="relative", latent_dropout=0.3)
    assert shares_movement(cfg) and not shares_movement(smoke().dance_unit)
    torch.manual_seed(0)
    model = DanceUnit(cfg)
    x1, x2, _ = unit_pair()  # copies that differ by a translation only
    noise = draw_noise(cfg, B, torch.Generator().manual_seed(5), "cpu")
    torch.testing.assert_close(noise.eps_movement[:B], noise.eps_movement[B:], rtol=0, atol=0)
    torch.testing.assert_close(noise.keep[:B], noise.keep[B:], rtol=0, atol=0)
    results = {}
    for naive in (True, False):  # the naive step encodes and decodes all four in full
        terms, recon, _ = decomposition_losses(model, x1, x2, noise, 0.01, naive=naive)
        grads = torch.autograd.grad(terms["total"], list(model.parameters()))
        results[naive] = (terms, grads, recon)
    (t_naive, g_naive, r_naive), (t_fast, g_fast, r_fast) = results[True], results[False]
    torch.testing.assert_close(r_fast, r_naive, rtol=1e-4, atol=1e-5)
    for k in t_naive:
        torch.testing.assert_close(t_fast[k], t_naive[k], rtol=1e-4, atol=1e-6)
    for a, b in zip(g_fast, g_naive, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
    # one code for both copies: the cross reconstructions are the self ones
    torch.testing.assert_close(t_fast["cross_recon"], t_fast["unit_recon"], rtol=0, atol=0)
    assert t_fast["mov_dist"].detach().item() == 0.0
    assert not torch.allclose(r_fast[:B], r_fast[B : 2 * B])  # two different initial poses


def test_naive_and_batched_decomp_stages_take_the_same_step():
    cfg = smoke()
    x1, x2, style = unit_pair()
    naive, fast = DecompStage(cfg, naive=True, device="cpu"), DecompStage(cfg, device="cpu")
    for a, b in zip(naive.model.parameters(), fast.model.parameters(), strict=True):
        assert torch.equal(a, b)
    t_naive = naive.training_step((x1, x2, style), 0)
    t_fast = fast.training_step((x1, x2, style), 0)
    for k in t_naive:
        torch.testing.assert_close(t_fast[k], t_naive[k], rtol=1e-5, atol=1e-6)
    for a, b in zip(naive.model.parameters(), fast.model.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)  # clipped gradients
        # Adam's first step is about lr * sign(grad): a near-zero gradient may flip its sign
        torch.testing.assert_close(b, a, rtol=0, atol=2.5 * cfg.train_decomp.lr)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_decomp_step_changes_weights_and_returns_finite_detached_terms(rnn):
    stage = DecompStage(smoke(rnn), device="cpu")
    before = snapshot(stage.model)
    terms = stage.training_step(unit_pair(), 100)
    finite_scalars(terms)
    assert changed(before, stage.model)
    finite_scalars(stage.validation_step(unit_pair(seed=1)))
    assert set(stage.modules()) == {"dance_unit", "unit_disc"}
    assert set(stage.optimizers()) == {"dance_unit", "unit_disc"}


def test_decomp_unit_discriminator_trains_when_its_weight_is_set():
    cfg = smoke()
    cfg = dataclasses.replace(cfg, dance_unit=dataclasses.replace(cfg.dance_unit, w_gan=1.0))
    stage = DecompStage(cfg, device="cpu")
    before = snapshot(stage.disc)
    terms = stage.training_step(unit_pair(), 0)
    assert {"gan", "disc"} <= terms.keys()
    assert changed(before, stage.disc)
    plain = DecompStage(smoke(), device="cpu")
    before = snapshot(plain.disc)
    assert "gan" not in plain.training_step(unit_pair(), 0)
    assert not changed(before, plain.disc)


def test_decomp_zero_weight_removes_its_term():
    cfg = smoke()
    pairs = [("w_cross_recon", "cross_recon"), ("w_mov_dist", "mov_dist")]
    for field, key in pairs + [("kl_movement", "kl_movement")]:
        off = dataclasses.replace(cfg, dance_unit=dataclasses.replace(cfg.dance_unit, **{field: 0}))
        terms = DecompStage(off, device="cpu").training_step(unit_pair(), 20)
        assert key not in terms
        assert key in DecompStage(cfg, device="cpu").training_step(unit_pair(), 20)
    no_mov_kl = dataclasses.replace(
        cfg, dance_unit=dataclasses.replace(cfg.dance_unit, kl_movement=0)
    )
    assert "kl_init" in DecompStage(no_mov_kl, device="cpu").training_step(unit_pair(), 20)


def test_kl_warmup_is_a_sigmoid_reaching_half_weight_at_its_centre():
    cfg = preset("paper").dance_unit
    assert kl_warmup(cfg, cfg.kl_warmup_center) == pytest.approx(cfg.w_kl / 2)
    assert kl_warmup(cfg, 0) < kl_warmup(cfg, 10_000) < kl_warmup(cfg, 40_000)
    assert kl_warmup(cfg, 100_000) == pytest.approx(cfg.w_kl, rel=1e-6)


def test_decomp_reconstruction_losses_decrease_on_a_fixed_batch():
    stage = DecompStage(fast_lr(smoke()), device="cpu")
    batch = unit_pair(n=8)
    first = stage.validation_step(batch)
    for step in range(80):
        stage.training_step(batch, step)
    last = stage.validation_step(batch)
    for k in ("unit_recon", "cross_recon", "init_recon"):
        assert last[k] < 0.7 * first[k], k


# ---------------------------------------------------------------- style


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_style_step_changes_weights_and_loss_decreases(rnn):
    stage = StyleStage(fast_lr(smoke(rnn)), device="cpu")
    batch = audio_batch()
    before = snapshot(stage.model)
    first = stage.training_step(batch, 0)
    finite_scalars(first)
    assert changed(before, stage.model)
    for step in range(1, 60):
        stage.training_step(batch, step)
    last = stage.validation_step(batch)
    assert last["loss"] < 0.5 * first["loss"]
    assert last["accuracy"] == 1.0


# ---------------------------------------------------------------- composition


def comp_stage(cfg, seed_offset: int = 0) -> CompStage:
    """A CompStage over a seeded, untrained style extractor and dance unit."""
    with torch.random.fork_rng():
        torch.manual_seed(11 + seed_offset)
        style = StyleExtractor(cfg.style)
        dance = DanceUnit(cfg.dance_unit)
    return CompStage(cfg, style, dance, device="cpu")


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_comp_step_trains_the_composer_and_leaves_frozen_networks_alone(rnn):
    stage = comp_stage(smoke(rnn))
    before = {k: snapshot(m) for k, m in stage.modules().items()}
    frozen = snapshot(stage.dance_unit) + snapshot(stage.style)
    terms = stage.training_step(sequence_batch(4), 0)
    finite_scalars(terms)
    expected = {"gan", "dance_gan", "kl", "kl_dance", "mov_recon", "seq_recon", "mov_dist"}
    assert expected | {"style_reg", "disc_mov", "disc_dance", "total"} <= terms.keys()
    for k, m in stage.modules().items():
        assert changed(before[k], m), k
    after = snapshot(stage.dance_unit) + snapshot(stage.style)
    assert all(torch.equal(a, b) for a, b in zip(frozen, after, strict=True))
    finite_scalars(stage.validation_step(sequence_batch(3)))


def test_comp_reconstruction_losses_decrease_on_a_fixed_batch():
    stage = comp_stage(fast_lr(smoke()))
    batch = sequence_batch(3)
    first = stage.validation_step(batch)
    for step in range(80):
        stage.training_step(batch, step)
    last = stage.validation_step(batch)
    assert last["mov_recon"] < 0.7 * first["mov_recon"]
    assert last["seq_recon"] < first["seq_recon"]
    assert last["style_reg"] < 0.7 * first["style_reg"]


@pytest.mark.parametrize(
    "name,term",
    [
        ("no_style_regressor", "style_reg"),
        ("no_movement_alignment", "mov_dist"),
        ("no_dance_alignment", "dance_gan"),
    ],
)
def test_ablation_removes_exactly_its_term_and_its_gradient(name, term):
    full_cfg = smoke()
    full, ablated = comp_stage(full_cfg), comp_stage(ablation(full_cfg, name))
    batch = sequence_batch(3)
    params_full = list(full.composer.parameters())
    params_abl = list(ablated.composer.parameters())
    t_full = full.generator_losses(full.forward(batch))
    t_abl = ablated.generator_losses(ablated.forward(batch))
    assert term in t_full and term not in t_abl
    for k in t_abl:
        if k != "total":
            torch.testing.assert_close(t_abl[k], t_full[k])
    g_full = torch.autograd.grad(t_full["total"] - t_full[term], params_full, allow_unused=True)
    g_abl = torch.autograd.grad(t_abl["total"], params_abl, allow_unused=True)
    for a, b in zip(g_abl, g_full, strict=True):
        if a is None or b is None:
            assert a is None or not a.any()
            assert b is None or not b.any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    if name == "no_style_regressor":
        reg = {id(p) for p in ablated.composer.regressor.parameters()}
        assert all(g is None for p, g in zip(params_abl, g_abl, strict=True) if id(p) in reg)
    if name == "no_dance_alignment":
        assert "disc_dance" not in ablated.discriminator_losses(ablated.forward(batch))


def test_all_weights_zero_still_steps_without_error():
    cfg = smoke()
    r = dataclasses.replace
    zero_du = {
        f: 0.0 for f in ("w_kl", "w_init_recon", "w_unit_recon", "w_cross_recon", "w_mov_dist")
    }
    zero_co = {
        f: 0.0
        for f in (
            "w_gan",
            "w_dance_gan",
            "w_kl",
            "w_kl_dance",
            "w_mov_recon",
            "w_seq_recon",
            "w_mov_dist",
            "w_style_reg",
        )
    }
    cfg = r(cfg, dance_unit=r(cfg.dance_unit, **zero_du), composer=r(cfg.composer, **zero_co))
    assert DecompStage(cfg, device="cpu").training_step(unit_pair(), 0)["total"] == 0
    assert comp_stage(cfg).training_step(sequence_batch(3), 0)["total"] == 0


def oracle(cfg):
    """`cfg` with a composer that reads the true style instead of the extractor's code."""
    return dataclasses.replace(
        cfg, composer=dataclasses.replace(cfg.composer, style_source="oracle")
    )


def test_oracle_codes_are_one_hot_per_true_style_and_check_their_labels():
    codes = oracle_codes(torch.tensor([2, 0, 1]), 30, 3)
    assert codes.shape == (3, 30)
    assert codes.sum(1).tolist() == [1.0, 1.0, 1.0]
    assert codes.argmax(1).tolist() == [2, 0, 1]
    with pytest.raises(ConfigError, match=r"style labels must lie in \[0, 3\)"):
        oracle_codes(torch.tensor([3]), 30, 3)
    with pytest.raises(ConfigError, match="do not fit"):
        oracle_codes(torch.tensor([0]), 2, 3)


def test_oracle_composer_reads_the_labels_not_the_music():
    stage = comp_stage(oracle(smoke()))
    units, audio, style = sequence_batch(3)
    f = stage.forward((units, audio, style), sample=False)
    dim = stage.cfg.composer.style_dim  # 8 at smoke scale
    torch.testing.assert_close(f["style_code"], oracle_codes(style, dim, 3))
    # the same labels with other music give the same codes; other labels give other codes
    g = stage.forward((units, -audio, style), sample=False)
    torch.testing.assert_close(g["style_code"], f["style_code"])
    h = stage.forward((units, audio, (style + 1) % 3), sample=False)
    assert not torch.equal(h["style_code"], f["style_code"])
    # the paper's composer reads the extractor's code of the music
    paper = comp_stage(smoke())
    torch.testing.assert_close(
        paper.forward((units, audio, style), sample=False)["style_code"], paper.style.code(audio)
    )
    finite_scalars(stage.training_step((units, audio, style), 0))


def test_style_source_is_checked_and_kept_out_of_old_run_hashes():
    with pytest.raises(ConfigError, match="style_source"):
        dataclasses.replace(smoke().composer, style_source="teacher")
    base = preset("paper")
    assert not {"style_source", "music_input", "w_rhythm"} & set(run_key("comp", base)["composer"])
    # the book's preset sets three of them, so its runs' hashes hold them
    book = run_key("comp", preset("book"))["composer"]
    assert (book["music_input"], book["w_rhythm"], book["decoded_sequences"]) == (
        "loudness",
        10.0,
        16,
    )
    bank = run_key("comp", bank_recipe(preset("book")))["composer"]  # the bank keeps its old hash
    assert not {"style_source", "music_input", "w_rhythm", "decoded_sequences"} & set(bank)
    assert "style_source" not in book
    assert run_key("comp", oracle(base))["composer"]["style_source"] == "oracle"


def test_mmd_is_zero_for_one_sample_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=gen)
    y = torch.randn(64, 6, generator=gen)
    assert mmd(x, x).item() == pytest.approx(0.0, abs=1e-6)
    same = mmd(x, y).item()
    shifted = mmd(x, y + 1.5).item()
    collapsed = mmd(x, 0.1 * y).item()  # the failure seen at book scale: latents near one point
    assert 0 <= same < 0.1  # finite-sample value of the biased estimator (0.053 here)
    assert shifted > 5 * same and collapsed > 5 * same


def test_dance_mmd_term_pulls_the_music_latents_towards_the_dance_latents_only():
    cfg = smoke()
    cfg = dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, w_dance_mmd=1.0))
    stage = comp_stage(cfg)
    terms = stage.generator_losses(stage.forward(sequence_batch(4)))
    assert terms["dance_mmd"] > 0
    enc = list(stage.composer.dance_enc.parameters())
    style = list(stage.composer.style_enc.parameters())
    grads = torch.autograd.grad(terms["dance_mmd"], enc + style, allow_unused=True)
    g_enc, g_style = grads[: len(enc)], grads[len(enc) :]
    assert all(g is None or not g.any() for g in g_enc)  # the real latents are the target
    assert any(g is not None and g.abs().sum() > 0 for g in g_style)
    ablated = comp_stage(ablation(cfg, "no_dance_alignment"))
    assert "dance_mmd" not in ablated.generator_losses(ablated.forward(sequence_batch(4)))


@pytest.mark.parametrize("code_input", ["mean", "gaussian"])
def test_dance_encoder_reads_the_code_log_variances_only_when_told(code_input):
    cfg = smoke()
    cfg = dataclasses.replace(
        cfg, composer=dataclasses.replace(cfg.composer, code_input=code_input)
    )
    stage = comp_stage(cfg)
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(B, 3, stage.dance_unit.cfg.z_movement, generator=gen)
    enc = stage.composer.dance_enc
    with torch.no_grad():
        narrow = enc(Gaussian(mu, torch.full_like(mu, -10.0))).mu
        wide = enc(Gaussian(mu, torch.zeros_like(mu))).mu
    assert torch.equal(narrow, wide) == (code_input == "mean")
    # the dance latent starts narrow, whatever the encoder reads
    assert torch.all(enc.head.bias[enc.head.out_features // 2 :] == LOGVAR_INIT)
    finite_scalars(stage.training_step(sequence_batch(3), 0))


def test_code_input_is_checked_and_changes_the_composer_run_hash():
    with pytest.raises(ConfigError, match="code_input"):
        dataclasses.replace(smoke().composer, code_input="samples")
    base = preset("book")
    first = dataclasses.replace(
        base, composer=dataclasses.replace(base.composer, code_input="gaussian")
    )
    assert run_key("comp", first) != run_key("comp", base)
    assert run_key("decomp", first) == run_key("decomp", base)


@pytest.mark.parametrize("order", ["sorted", "pooled"])
def test_an_order_free_dance_encoder_ignores_when_each_movement_happens(order):
    cfg = smoke()
    free = dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, code_order=order))
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(B, 5, cfg.dance_unit.z_movement, generator=gen)
    codes = Gaussian(mu, torch.full_like(mu, -19.0))
    shuffled = Gaussian(mu[:, torch.tensor([3, 0, 4, 1, 2])], codes.logvar)
    with torch.no_grad():
        enc_free, enc_seq = comp_stage(free).composer.dance_enc, comp_stage(cfg).composer.dance_enc
        same = enc_free(codes).mu, enc_free(shuffled).mu
        moved = enc_seq(codes).mu, enc_seq(shuffled).mu
        other = enc_free(Gaussian(mu + 1.0, codes.logvar)).mu  # other movements: another latent
    assert torch.allclose(*same, atol=1e-6)
    assert (moved[0] - moved[1]).abs().max() > 1e-3  # the paper's encoder reads the order
    assert (other - same[0]).abs().max() > 1e-3
    assert run_key("comp", free) != run_key("comp", cfg)
    with pytest.raises(ConfigError, match="code_order"):
        dataclasses.replace(cfg.composer, code_order="reversed")


def test_dec_sd_init_sets_where_the_decoders_code_sd_starts():
    cfg = smoke()
    start = dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, dec_sd_init=5e-5))
    z = torch.zeros(B, cfg.composer.z_dance)
    music = torch.zeros(B, 3, 2 * 28)
    with torch.no_grad():
        built = comp_stage(start).composer.movement_codes(z, music)
        plain = comp_stage(cfg).composer.movement_codes(z, music)
    sd = torch.exp(0.5 * built.logvar)  # the bias sets it; the weights move it a little
    assert sd.median() == pytest.approx(5e-5, rel=0.5) and sd.max() < 1e-3
    assert torch.exp(0.5 * plain.logvar).median() > 0.3  # as built: near 1
    assert run_key("comp", start) != run_key("comp", cfg)
    with pytest.raises(ConfigError, match="dec_sd_init"):
        dataclasses.replace(cfg.composer, dec_sd_init=-1.0)


def bank_config(size: int = 8):
    """The smoke config with a latent bank of `size` training latents."""
    cfg = smoke()
    return dataclasses.replace(
        cfg, composer=dataclasses.replace(cfg.composer, prior="bank", bank_size=size)
    )


def test_a_bank_composer_keeps_the_latents_of_its_latest_training_windows():
    cfg = bank_config(size=8)
    stage = comp_stage(cfg)
    batch = sequence_batch(3)  # B = 6 windows of 3 units each step
    stage.training_step(sequence_batch(4), 0)  # sequences of 4: not what generation draws from
    assert int(stage.composer.bank_seen) == 0
    stage.training_step(batch, 1)
    bank = stage.composer
    with torch.no_grad():  # the step keeps the latents its forward pass read, before its update
        units, _, styles = batch
        q_mov = stage.dance_unit.encode(units.reshape(-1, *units.shape[2:]))[1]
        real = Gaussian(q_mov.mu.view(B, 3, -1), q_mov.logvar.view(B, 3, -1))
        latest = bank.dance_enc(real).mu
    stage.training_step(batch, 2)
    assert int(bank.bank_seen) == 2 * B  # a ring of 8: rows 6, 7, then 0..3 again
    rows = torch.tensor([6, 7, 0, 1, 2, 3])
    assert torch.allclose(bank.bank_z[rows], latest, atol=1e-5)
    assert torch.equal(bank.bank_style[rows], styles)
    saved = {k: v.clone() for k, v in bank.state_dict().items() if k.startswith("bank_")}
    assert set(saved) == {"bank_z", "bank_style", "bank_seen"}  # checkpoints carry the bank


def test_a_bank_composer_draws_latents_of_the_asked_style_reproducibly():
    cfg = bank_config(size=6)
    composer = comp_stage(cfg).composer
    z = torch.arange(6, dtype=torch.float32)[:, None].expand(6, cfg.composer.z_dance)
    composer.remember(z, torch.tensor([0, 0, 1, 1, 1, 0]))
    labels = torch.tensor([1] * 40 + [0] * 40)
    drawn = composer.bank_latents(labels, torch.Generator().manual_seed(3))[:, 0]
    assert set(drawn[:40].tolist()) == {2.0, 3.0, 4.0}  # every style-1 latent, and only those
    assert set(drawn[40:].tolist()) == {0.0, 1.0, 5.0}
    again = composer.bank_latents(labels, torch.Generator().manual_seed(3))[:, 0]
    assert torch.equal(drawn, again)
    missing = composer.bank_latents(torch.tensor([2] * 30), torch.Generator().manual_seed(0))
    assert len(set(missing[:, 0].tolist())) > 1  # a style it never saw: any kept latent
    audio = torch.zeros(2, 3 * 32, cfg.style.feature_dim)
    style = torch.zeros(2, cfg.composer.style_dim)
    codes = composer.generate(style, audio, 3, torch.Generator().manual_seed(0), labels[:2])
    assert codes.shape == (2, 3, cfg.dance_unit.z_movement)
    with pytest.raises(ConfigError, match="labels"):
        composer.generate(style, audio, 3)


def test_an_empty_bank_and_a_bad_prior_raise_our_errors():
    cfg = bank_config()
    with pytest.raises(CheckpointError, match="no bank"):
        comp_stage(cfg).composer.bank_latents(torch.tensor([0]))
    with pytest.raises(CheckpointError, match="no bank"):  # the paper's prior keeps none
        comp_stage(smoke()).composer.bank_latents(torch.tensor([0]))
    assert run_key("comp", cfg) != run_key("comp", smoke())
    with pytest.raises(ConfigError, match="prior"):
        dataclasses.replace(cfg.composer, prior="uniform")
    with pytest.raises(ConfigError, match="bank_size"):
        dataclasses.replace(cfg.composer, bank_size=0)


def pulse_audio(phases: list[int], frames: int = 96) -> torch.Tensor:
    """Audio windows (len(phases), frames, 28) of noise whose log energy (column 13) and its
    change (27) pulse every 8 frames from the given phase."""
    g = torch.Generator().manual_seed(5)
    audio = 0.3 * torch.randn(len(phases), frames, 28, generator=g)
    for i, p in enumerate(phases):
        audio[i, p::8, 13] += 3.0
    audio[:, :-1, 27] = audio[:, 1:, 13] - audio[:, :-1, 13]
    return audio


def test_music_keys_correlate_loudness_curves_whatever_their_level():
    a = pulse_audio([0, 3])
    keys = music_keys(a)
    assert keys.shape == (2, 96 * 2)
    assert (keys * keys).sum(1) == pytest.approx([1.0, 1.0], abs=1e-3)
    louder = a.clone()
    louder[..., [13, 27]] = 5.0 * louder[..., [13, 27]] + 2.0  # level and scale do not matter
    assert (music_keys(louder) @ keys[0]).tolist() == pytest.approx(
        [1.0, float(keys[1] @ keys[0])], abs=1e-3
    )
    assert keys[1] @ keys[0] < 0.2  # another beat phase
    flat = torch.zeros(1, 96, 28)
    assert float((music_keys(flat) @ keys.T).abs().max()) == 0.0
    with pytest.raises(ConfigError, match="music_keys"):
        music_keys(torch.zeros(96, 28))


def music_bank_config(size: int = 8, topk: int = 2):
    """The smoke config with a bank of `size` latents matched by music among the `topk` best."""
    cfg = bank_config(size)
    comp = dataclasses.replace(cfg.composer, bank_match="music", bank_topk=topk)
    return dataclasses.replace(cfg, composer=comp)


def test_a_music_bank_keeps_the_keys_of_its_training_windows():
    stage = comp_stage(music_bank_config(size=8))
    batch = sequence_batch(3)
    stage.training_step(batch, 0)
    stage.training_step(batch, 1)
    bank = stage.composer
    assert torch.allclose(bank.bank_key[torch.tensor([6, 7, 0, 1, 2, 3])], music_keys(batch[1]))
    assert "bank_key" in bank.state_dict()  # checkpoints carry the keys with the latents
    with pytest.raises(ConfigError, match="audio"):
        bank.remember(torch.zeros(1, bank.cfg.z_dance), torch.tensor([0]))


def test_a_music_bank_draws_among_the_best_matching_latents_of_the_style():
    cfg = music_bank_config(size=6, topk=2)
    composer = comp_stage(cfg).composer
    z = torch.arange(6, dtype=torch.float32)[:, None].expand(6, cfg.composer.z_dance)
    styles = torch.tensor([0, 0, 0, 1, 1, 1])
    composer.remember(z, styles, pulse_audio([0, 0, 4, 0, 4, 0]))
    labels = torch.tensor([0] * 30 + [1] * 30)
    want = pulse_audio([0]).expand(60, -1, -1)  # one window, asked 60 times
    drawn = composer.bank_latents(labels, torch.Generator().manual_seed(1), want)[:, 0]
    assert set(drawn[:30].tolist()) == {0.0, 1.0}  # style 0's two latents of phase 0
    assert set(drawn[30:].tolist()) == {3.0, 5.0}  # and style 1's
    one = dataclasses.replace(cfg.composer, bank_topk=1)
    composer.cfg = one
    best = composer.bank_latents(labels, torch.Generator().manual_seed(1), want)[:, 0]
    assert len(set(best[30:].tolist())) == 1 and set(best[30:].tolist()) <= {3.0, 5.0}
    with pytest.raises(ConfigError, match="audio"):
        composer.bank_latents(labels)
    with pytest.raises(ConfigError, match="bank_match"):
        dataclasses.replace(cfg.composer, bank_match="tempo")
    with pytest.raises(ConfigError, match="bank_topk"):
        dataclasses.replace(cfg.composer, bank_topk=0)


def test_a_shifted_dance_view_encodes_the_units_that_start_later():
    cfg = smoke()
    shifted = dataclasses.replace(
        cfg, composer=dataclasses.replace(cfg.composer, dance_view="shifted")
    )
    stage = comp_stage(shifted)
    units, audio, styles = sequence_batch(3)
    f = stage.forward((units, audio, styles), sample=False)
    later = units.reshape(B, 3 * 32, -1)[:, 16 : 16 + 2 * 32].reshape(B * 2, 32, -1)
    with torch.no_grad():
        q_mov = stage.dance_unit.encode(later)[1]
        want = stage.composer.dance_enc(
            Gaussian(q_mov.mu.view(B, 2, -1), q_mov.logvar.view(B, 2, -1))
        )
        same = comp_stage(cfg).forward((units, audio, styles), sample=False)["q_dance"].mu
    assert torch.allclose(f["q_dance"].mu, want.mu, atol=1e-6)
    assert (f["q_dance"].mu - same).abs().max() > 1e-3  # not the units' own codes
    assert f["recon"].mu.shape[1] == 3  # it still rebuilds every unit of the sequence
    finite_scalars(stage.training_step((units, audio, styles), 0))
    assert run_key("comp", shifted) != run_key("comp", cfg)
    with pytest.raises(ConfigError, match="dance_view"):
        dataclasses.replace(cfg.composer, dance_view="mirrored")


def test_loudness_music_input_keeps_each_units_loudness_curve_beside_its_stats():
    from d2mlib.models.composer_inputs import unit_audio_summary

    _, audio, _ = sequence_batch(3)
    stats = unit_audio_summary(audio, 3, "stats")
    loud = unit_audio_summary(audio, 3, "loudness")
    assert stats.shape == (B, 3, 56) and loud.shape == (B, 3, 56 + 32 * 2)
    torch.testing.assert_close(loud[..., :56], stats)
    # unit 1's curve is its frames 32..63 of log energy and its change, frame by frame
    curve = loud[:, 1, 56:].view(B, 32, 2)
    torch.testing.assert_close(curve, audio[:, 32:64, [13, 27]])
    # moving the frames within each unit leaves the stats but not the curve: it keeps the phase
    shifted = audio.view(B, 3, 32, 28).roll(5, dims=2).reshape(B, 96, 28)
    torch.testing.assert_close(unit_audio_summary(shifted, 3, "stats"), stats)
    assert not torch.allclose(unit_audio_summary(shifted, 3, "loudness")[..., 56:], loud[..., 56:])
    # a composer reading it takes the wider input and trains
    cfg = smoke()
    cfg = dataclasses.replace(
        cfg, composer=dataclasses.replace(cfg.composer, music_input="loudness")
    )
    stage = comp_stage(cfg)
    finite_scalars(stage.training_step(sequence_batch(3), 0))
    with pytest.raises(ConfigError, match="music_input"):
        dataclasses.replace(cfg.composer, music_input="beats")
