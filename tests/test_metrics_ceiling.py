"""The decomposition's reconstruction ceiling and scoring a fixed set of dances."""

import numpy as np
import pytest
import torch
from torch import nn

from d2mlib import metrics as M
from d2mlib import skeleton
from d2mlib.errors import MetricError
from d2mlib.models.dance_unit import Gaussian
from tests.test_metrics import fake_eval_data, one_torch_thread, tiny_classifier  # noqa: F401


class PerfectVAE(nn.Module):
    """A stand-in decomposition whose reconstructions are exact (movement code = the unit)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def encode(self, units: torch.Tensor) -> tuple[Gaussian, Gaussian]:
        return Gaussian(units[:, 0], units[:, 0]), Gaussian(units, units)

    def decode(
        self, z_init: torch.Tensor, z_movement: torch.Tensor, pose0: torch.Tensor | None = None
    ) -> torch.Tensor:
        return z_movement


class MeanVAE(PerfectVAE):
    """Every unit decoded as its own mean pose held still (no movement at all)."""

    def decode(
        self, z_init: torch.Tensor, z_movement: torch.Tensor, pose0: torch.Tensor | None = None
    ) -> torch.Tensor:
        return z_movement.mean(dim=1, keepdim=True).expand_as(z_movement)


NORM = skeleton.Normaliser(np.full(28, 100.0), np.full(28, 20.0))


def test_a_perfect_decomposition_reaches_the_dataset_itself() -> None:
    data = fake_eval_data(frames=80)  # 2 whole units and 16 frames left over
    out = M.unit_reconstruction_ceiling(PerfectVAE(), NORM, data)
    assert len(out) == len(data.dances)
    for got, real in zip(out, data.dances, strict=True):
        assert got.shape == real.shape
        np.testing.assert_allclose(got, real, atol=1e-3)


def test_a_still_decomposition_is_far_from_the_data(tiny_classifier) -> None:  # noqa: F811
    data = fake_eval_data()
    still = M.unit_reconstruction_ceiling(MeanVAE(), NORM, data)
    assert all(np.allclose(d[1:32], d[0], atol=1e-3) for d in still)
    cfg = M.EvalConfig(samples_per_music=3, multimodality_clips=4)
    exact = M.score_fixed(
        "perfect",
        M.unit_reconstruction_ceiling(PerfectVAE(), NORM, data),
        data,
        tiny_classifier,
        cfg,
    )
    bad = M.score_fixed("still", still, data, tiny_classifier, cfg)
    fid = {t.system.iloc[0]: t.set_index("metric").loc["fid", "value"] for t in (exact, bad)}
    assert fid["still"] > 10 * max(fid["perfect"], 1e-3)


def test_score_fixed_gives_the_dataset_rows_of_evaluate_systems(tiny_classifier) -> None:  # noqa: F811
    data = fake_eval_data()
    cfg = M.EvalConfig(samples_per_music=3, multimodality_clips=4)
    table = M.evaluate_systems(data, tiny_classifier, {}, seeds=1, config=cfg)
    key = ["metric", "clip"]
    want = table[table.system == "dataset"].set_index(key)["value"]
    got = M.score_fixed("dataset", data.dances, data, tiny_classifier, cfg)
    assert list(got.columns) == ["system", "metric", "seed", "clip", "value"]
    assert (got["seed"] == 0).all() and "multimodality" not in set(got["metric"])
    got_values = got.set_index(key)["value"]
    assert sorted(got_values.index.tolist(), key=str) == sorted(want.index.tolist(), key=str)
    np.testing.assert_allclose(got_values.loc[want.index], want, rtol=1e-9)


def test_ceiling_rejects_a_dance_shorter_than_a_unit() -> None:
    data = fake_eval_data(frames=20)
    with pytest.raises(MetricError, match="shorter than one unit"):
        M.unit_reconstruction_ceiling(PerfectVAE(), NORM, data)


def test_dance_classifier_training_does_not_depend_on_the_global_rng(tmp_path) -> None:
    from tests.test_metrics import styled_dances

    y = np.arange(64) % 3
    data = (styled_dances(y, 32, seed=1), y)
    cfg = M.DanceClassifierConfig(channels=8, embed_dim=8, steps=4, batch_size=32)
    models = []
    for i, state in enumerate((0, 12345)):
        torch.manual_seed(state)  # whatever ran before in the kernel
        torch.rand(state % 7 + 1)
        model, _ = M.train_dance_classifier(data, data, tmp_path / str(i), cfg)
        models.append(model)
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class EchoComposer:
    """A stand-in generator whose composer rebuilds every dance exactly, over `frames` frames."""

    def __init__(self, frames: int | None = None) -> None:
        self.frames, self.names = frames, []

    def rebuild(self, poses: np.ndarray, features: np.ndarray, name: str) -> np.ndarray:
        self.names.append(name)
        n = min(len(poses), len(features), self.frames or len(poses))
        return np.asarray(poses[:n], np.float32) + 1.0  # a known change: every pixel + 1


def test_the_composer_ceiling_rebuilds_each_dance_with_its_music() -> None:
    data = fake_eval_data(frames=80)
    echo = EchoComposer()
    out = M.composer_reconstruction_ceiling(echo, data)
    assert echo.names == [f"dance {i}" for i in range(len(data.dances))]
    for got, real in zip(out, data.dances, strict=True):
        np.testing.assert_allclose(got, real + 1.0, atol=1e-4)
    short = M.composer_reconstruction_ceiling(EchoComposer(frames=50), data)
    for got, real in zip(short, data.dances, strict=True):  # frames past the music stay real
        np.testing.assert_allclose(got[:50], real[:50] + 1.0, atol=1e-4)
        np.testing.assert_allclose(got[50:], real[50:], atol=1e-4)
