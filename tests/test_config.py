"""Tests for d2mlib.config: presets, YAML round trip, hashing, validation."""

import dataclasses
import re

import pytest

from d2mlib import config as C
from d2mlib.errors import ConfigError


@pytest.mark.parametrize("name", C.PRESETS)
def test_every_preset_round_trips_through_yaml_text_and_file(name, tmp_path):
    cfg = C.preset(name)
    assert C.from_yaml(C.to_yaml(cfg)) == cfg
    path = tmp_path / "run" / "config.yaml"
    C.to_yaml(cfg, path)
    back = C.from_yaml(path)
    assert back == cfg
    assert isinstance(back.data.seq_units, tuple)
    assert C.from_dict(C.to_dict(cfg)) == cfg


def test_paper_defaults_are_the_papers_values():
    cfg = C.preset("paper")
    du, co, st = cfg.dance_unit, cfg.composer, cfg.style
    assert (du.init_hidden, du.z_init, du.enc_hidden, du.z_movement, du.dec_hidden) == (
        64,
        10,
        1024,
        512,
        1024,
    )
    assert (du.w_kl, du.w_init_recon, du.w_unit_recon, du.w_cross_recon, du.w_mov_dist) == (
        0.01,
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert du.latent_dropout == 0.3 and du.grad_clip == 0.5 and du.unit_frames == 32
    assert (co.z_dance, co.dance_dec_hidden, co.style_dim, co.noise_dim) == (512, 1024, 30, 30)
    assert (co.w_gan, co.w_kl, co.w_kl_dance, co.w_mov_recon, co.w_seq_recon, co.w_mov_dist) == (
        1.0,
        0.01,
        0.01,
        1.0,
        10.0,
        1.0,
    )
    assert (st.hidden, st.num_layers, st.window, st.feature_dim, st.code_dim) == (30, 1, 30, 28, 30)
    for stage in ("style", "decomp", "comp"):
        assert cfg.train_for(stage).lr == 2e-4
    assert cfg.train_decomp.batch_size == 256


def test_improved_preset_changes_only_the_style_extractor():
    paper, improved = C.preset("paper"), C.preset("improved")
    assert improved.style.hidden == 512 and improved.style.num_layers == 2
    assert improved.style.code_dim == 30 and improved.style.project
    assert improved.style.dropout > 0 and improved.style.window > paper.style.window
    assert dataclasses.replace(improved, style=paper.style, preset="paper") == paper


def test_book_preset_is_the_same_architecture_smaller():
    paper, book = C.preset("paper"), C.preset("book")
    assert book.dance_unit.rnn == paper.dance_unit.rnn
    assert book.dance_unit.z_init == paper.dance_unit.z_init
    assert book.dance_unit.enc_hidden < paper.dance_unit.enc_hidden
    assert book.dance_unit.z_movement < paper.dance_unit.z_movement
    assert book.composer.z_dance < paper.composer.z_dance
    assert book.train_decomp.batch_size < paper.train_decomp.batch_size


def _doc_value(text: str):
    """A docstring table cell: 100k -> 100000, yes/no -> bool, else a number."""
    if text in ("yes", "no"):
        return text == "yes"
    return int(text[:-1]) * 1000 if text.endswith("k") else float(text)


def _doc_rows():
    """(section, field, paper, book, smoke) for each field the docstring's size table names:
    rows like ``a.x / y, b.z`` (fields of one section after ``/``, ``,`` starts a new dotted
    path, parentheses are notes) with values split the same way, or one value for all."""
    rows = []
    for line in C.__doc__.splitlines():
        m = re.match(r"^([a-z_]+\.[\w /,.()]+?)\s{2,}(\S+)\s{2,}(\S+)\s{2,}(\S+)\s*$", line)
        if not m or m.group(1).startswith("field"):
            continue
        names, section = [], ""
        for part in re.split(r"\s*[/,]\s*", re.sub(r"\s*\(.*?\)", "", m.group(1))):
            if "." in part:
                section, part = part.split(".")
            names.append((section, part))
        cells = [[_doc_value(v) for v in col.split("/")] for col in m.groups()[1:]]
        for i, (section, name) in enumerate(names):
            rows.append((section, name, *(c[i] if len(c) > 1 else c[0] for c in cells)))
    return rows


def test_docstring_size_table_matches_the_presets():
    rows = _doc_rows()
    assert len(rows) >= 25
    for section, name, *values in rows:
        for preset_name, value in zip(("paper", "book", "smoke"), values, strict=True):
            got = getattr(getattr(C.preset(preset_name), section), name)
            assert got == pytest.approx(value), (section, name, preset_name)


def test_config_hash_is_stable_short_and_sensitive():
    a, b = C.preset("paper"), C.preset("paper")
    h = C.config_hash(a)
    assert re.fullmatch(r"[0-9a-f]{10}", h)
    assert C.config_hash(b) == h
    assert C.config_hash(C.from_yaml(C.to_yaml(a))) == h
    changed = dataclasses.replace(a, train_decomp=dataclasses.replace(a.train_decomp, lr=1e-4))
    assert C.config_hash(changed) != h
    hashes = {C.config_hash(C.preset(n)) for n in C.PRESETS}
    assert len(hashes) == len(C.PRESETS)


def test_ablation_switches_set_the_weights_to_zero():
    cfg = C.preset("smoke")
    assert C.ablation(cfg, "no_style_regressor").composer.w_style_reg == 0
    assert C.ablation(cfg, "no_movement_alignment").composer.w_mov_dist == 0
    assert C.ablation(cfg, "no_dance_alignment").composer.w_dance_gan == 0
    assert C.ablation(cfg, "none") == cfg
    with pytest.raises(ConfigError, match="unknown ablation"):
        C.ablation(cfg, "no_gan")


def test_unknown_rnn_type_names_the_field():
    with pytest.raises(ConfigError, match=r"DanceUnitConfig\.rnn"):
        C.DanceUnitConfig(rnn="transformer")


def test_negative_size_names_the_field():
    with pytest.raises(ConfigError, match=r"ComposerConfig\.z_dance"):
        C.ComposerConfig(z_dance=-3)
    with pytest.raises(ConfigError, match=r"DanceUnitConfig\.enc_hidden"):
        C.DanceUnitConfig(enc_hidden=0)


def test_dropout_of_one_or_more_names_the_field():
    with pytest.raises(ConfigError, match=r"DanceUnitConfig\.latent_dropout 1\.0 must be < 1"):
        C.DanceUnitConfig(latent_dropout=1.0)
    with pytest.raises(ConfigError, match=r"StyleConfig\.dropout must be below 1, got 1\.5"):
        C.StyleConfig(dropout=1.5)
    assert C.DanceUnitConfig(latent_dropout=0.99).latent_dropout == 0.99


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown preset"):
        C.preset("huge")


def test_unknown_yaml_key_is_named_with_its_path():
    text = C.to_yaml(C.preset("smoke")).replace("  z_init:", "  z_initial:")
    with pytest.raises(ConfigError, match=r"dance_unit\.z_initial"):
        C.from_yaml(text)


def test_wrong_types_are_rejected():
    with pytest.raises(ConfigError, match=r"TrainConfig\.batch_size"):
        C.TrainConfig(batch_size="64")
    with pytest.raises(ConfigError, match=r"TrainConfig\.batch_size"):
        C.TrainConfig(batch_size=True)
    with pytest.raises(ConfigError, match=r"StyleConfig\.project"):
        C.StyleConfig(project=1)
    with pytest.raises(ConfigError, match="style"):
        C.from_dict({"style": 3})
    assert C.TrainConfig(lr=1).lr == 1.0 and isinstance(C.TrainConfig(lr=1).lr, float)


def test_inconsistent_style_code_size_is_rejected():
    cfg = C.preset("paper")
    with pytest.raises(ConfigError, match="style_dim"):
        dataclasses.replace(cfg, composer=dataclasses.replace(cfg.composer, style_dim=8))
    with pytest.raises(ConfigError, match="code_dim"):
        C.StyleConfig(hidden=64, code_dim=30, project=False)


def test_bad_yaml_file_error_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train_decomp:\n  device: tpu\n")
    with pytest.raises(ConfigError) as info:
        C.from_yaml(path)
    assert str(path) in str(info.value) and "device" in str(info.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="YAML"):
        C.from_yaml(broken)


def test_partial_yaml_keeps_paper_defaults():
    cfg = C.from_yaml("dance_unit:\n  rnn: lstm\n")
    assert cfg.dance_unit.rnn == "lstm"
    assert cfg.dance_unit.z_movement == 512
    assert cfg.train_comp == C.preset("paper").train_comp


def test_train_for_unknown_stage_raises():
    with pytest.raises(ConfigError, match="unknown stage"):
        C.preset("smoke").train_for("gen")


def test_resolve_device_auto_and_errors():
    assert C.resolve_device("cpu").type == "cpu"
    assert C.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError):
        C.resolve_device("tpu")
