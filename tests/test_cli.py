"""Tests for the `d2m` command: one-line errors, exit codes, and the data -> train -> generate path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from d2mlib import cli

pytestmark = pytest.mark.usefixtures("one_thread")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def wav_file(tmp_path_factory) -> Path:
    import soundfile as sf

    from d2mlib import synth

    clip = synth.style_clip("ballet", 2, seconds=6.0)
    path = tmp_path_factory.mktemp("audio") / "ballet.wav"
    sf.write(path, clip.wav, 22050, subtype="PCM_16")
    return path


def test_train_with_missing_data_dir_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "no_such_data"
    code, _, err = run_cli(
        ["train", "decomp", "--preset", "smoke", "--data", str(missing), "--out", str(tmp_path)],
        capsys,
    )
    assert code == 1
    assert_one_line_error(err, str(missing), "not found")


def test_train_with_bad_config_file_names_the_file_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_decomp:\n  batch_size: -3\n")
    argv = [
        "train",
        "decomp",
        "--config",
        str(bad),
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path),
    ]
    code, _, err = run_cli(argv, capsys)
    assert code == 1
    assert_one_line_error(err, str(bad), "batch_size")


def test_train_with_unreadable_yaml_names_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("train_decomp: [unclosed\n")
    argv = [
        "train",
        "decomp",
        "--config",
        str(bad),
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path),
    ]
    code, _, err = run_cli(argv, capsys)
    assert code == 1
    assert_one_line_error(err, str(bad))


def test_generate_with_missing_audio_names_the_file(tmp_path, capsys):
    missing = tmp_path / "song.wav"
    code, _, err = run_cli(["generate", str(missing), "--out", str(tmp_path / "d.npz")], capsys)
    assert code == 1
    assert_one_line_error(err, str(missing), "not found")


def test_generate_with_garbage_audio_names_the_file(tmp_path, capsys):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 50)
    code, _, err = run_cli(["generate", str(junk), "--out", str(tmp_path / "d.npz")], capsys)
    assert code == 1
    assert_one_line_error(err, str(junk))


@pytest.mark.slow
def test_generate_without_a_trained_run_names_the_runs_dir(tmp_path, wav_file, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    argv = ["generate", str(wav_file), "--run", str(runs), "--out", str(tmp_path / "d.npz")]
    code, _, err = run_cli(argv, capsys)
    assert code == 1
    assert_one_line_error(err, str(runs), "no finished composition run")


def test_generate_refuses_an_output_that_is_not_npz(tmp_path, wav_file, capsys):
    code, _, err = run_cli(["generate", str(wav_file), "--out", str(tmp_path / "d.csv")], capsys)
    assert code == 1
    assert_one_line_error(err, "d.csv", ".npz")


def test_bad_arguments_exit_with_usage_status(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "dance-everything", "--data", "x", "--out", "y"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_evaluate_and_bench_are_registered_when_their_modules_exist():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"data", "train", "generate"} <= set(sub.choices)
    for name, (module, _, _) in cli.DELEGATED.items():
        assert (name in sub.choices) == cli._module_exists(module)


def test_errors_in_a_fresh_process_are_one_line_without_traceback(tmp_path):
    missing = tmp_path / "missing.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "d2mlib.cli", "generate", str(missing), "--out", "x.npz"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, str(missing))


@pytest.mark.slow
def test_data_train_generate_end_to_end(tmp_path, wav_file, capsys):
    data_dir, runs = tmp_path / "data", tmp_path / "runs"
    assert run_cli(["data", "--preset", "smoke", "--out", str(data_dir), "--quiet"], capsys)[0] == 0
    train_args = ["--preset", "smoke", "--data", str(data_dir), "--out", str(runs), "--quiet"]
    code, out, _ = run_cli(["train", "comp", *train_args, "--device", "cpu"], capsys)
    assert code == 0 and "trained comp run" in out
    # style and decomposition were trained first, beside the composition run
    runs_made = [p.name.split("-")[0] for p in runs.iterdir() if not p.name.startswith(".")]
    assert sorted(runs_made) == ["comp", "decomp", "style"]  # (.locks: the runs' file locks)
    code, out, _ = run_cli(["train", "comp", *train_args, "--device", "cpu"], capsys)
    assert code == 0 and "reused comp run" in out
    npz = tmp_path / "dance.npz"
    code, out, err = run_cli(
        ["generate", str(wav_file), "--run", str(runs), "--out", str(npz), "--seed", "3"], capsys
    )
    assert code == 0, err
    assert "using the newest composition run" in out
    with np.load(npz) as f:
        assert f["poses"].shape == (90, 14, 2)  # 6 s of music at 15 fps
        assert f["style_probs"].shape == (3,)
        assert str(f["style"]) in ("ballet", "zumba", "hiphop")
        assert f["beat_times"].ndim == 1 and len(f["beat_times"]) > 0


def test_data_if_missing_leaves_a_complete_dataset_alone(smoke_data: Path) -> None:
    marker = smoke_data / ".d2m_complete.json"
    before = marker.stat().st_mtime_ns
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "d2mlib.cli",
            "data",
            "--preset",
            "smoke",
            "--out",
            str(smoke_data),
            "--if-missing",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stdout
    assert marker.stat().st_mtime_ns == before
