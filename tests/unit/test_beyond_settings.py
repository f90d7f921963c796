"""Beyond the paper, the new training settings (all off by default, so no existing run's
identity changes): decoupled weight decay, the epoch-mean gradient log, the test halves,
AlexNet with BatchNorm, and beyond replicates drawing their own data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rethinkgen.config import RunKeys, data_seed_of
from rethinkgen.training.engine import train
from rethinkgen.training.models import build_model
from rethinkgen.training.norms import EpochGradients
from rethinkgen.training.protocol import DecoupledSGD, build_optimizer
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.validation import split_test_halves
from tests.conftest import make_split
from tests.unit.test_train import run_dict


def test_new_settings_at_default_change_no_identity():
    identity = TrainConfig.from_dict(run_dict()).identity()
    assert "test_halves" not in identity and "weight_decay_decoupled" not in identity
    on = TrainConfig.from_dict(
        run_dict(
            regularizer_spec={"weight_decay": 1e-3, "weight_decay_decoupled": True},
            test_halves=True,
        )
    ).identity()
    assert on["test_halves"] is True and on["weight_decay_decoupled"] is True


def _one_step(decoupled: bool, grad: float):
    torch.manual_seed(0)
    model = nn.Linear(3, 2, bias=False)
    cfg = TrainConfig(
        model_spec={},
        lr=0.1,
        weight_decay=0.01,
        weight_decay_scope="all",
        weight_decay_decoupled=decoupled,
        momentum=0.9,
    )
    optimizer = build_optimizer(model, cfg)
    w0 = model.weight.detach().clone()
    model.weight.grad = torch.full_like(w0, grad)
    optimizer.step()
    return optimizer, w0, model.weight.detach()


def test_decoupled_decay_is_sgdw_and_off_is_pytorchs_sgd():
    optimizer, w0, w1 = _one_step(False, 0.5)
    assert type(optimizer) is torch.optim.SGD  # default: unchanged
    torch.testing.assert_close(w1, w0 - 0.1 * (0.5 + 0.01 * w0))
    optimizer, w0, w1 = _one_step(True, 0.5)
    assert isinstance(optimizer, DecoupledSGD)
    # w <- (1 - lr wd) w - lr g; the momentum buffer holds the loss gradient alone
    torch.testing.assert_close(w1, (1 - 0.1 * 0.01) * w0 - 0.1 * 0.5)
    buffer = optimizer.state[optimizer.param_groups[0]["params"][0]]["momentum_buffer"]
    torch.testing.assert_close(buffer, torch.full_like(w0, 0.5))


def test_epoch_gradients_average_the_loss_gradient_over_steps():
    model = nn.Linear(2, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    gradients = EpochGradients(model, optimizer)
    for g in ([3.0, 0.0], [1.0, 4.0]):
        model.weight.grad = torch.tensor([g])
        optimizer.step()
    assert gradients.take() == {"weight": pytest.approx(np.hypot(2.0, 2.0))}
    model.weight.grad = torch.tensor([[0.0, 1.0]])
    optimizer.step()
    assert gradients.take() == {"weight": pytest.approx(1.0)}  # a new epoch


def test_engine_logs_gradients_and_decayed_parameters_under_weight_decay():
    spec = {"weight_decay": 1e-3, "weight_decay_scope": "fc"}
    mlp = {"arch": "mlp", "hidden": [8, 8], "lr": 0.05}
    result = train(
        TrainConfig.from_dict(run_dict(mlp, spec, max_epochs=2)), make_split(64), make_split(16)
    )
    assert result.info["decayed_parameters"] == ["hidden.1.weight", "hidden.3.weight"]
    gradients = result.info["weight_norms"][-1]["gradient_norms"]
    assert set(gradients) >= {"hidden.1.weight"} and gradients["hidden.1.weight"] > 0
    plain = train(TrainConfig.from_dict(run_dict(max_epochs=1)), make_split(64), make_split(16))
    assert plain.info["decayed_parameters"] == []
    assert "gradient_norms" not in plain.info["weight_norms"][-1]


def test_test_halves_are_disjoint_seeded_and_scored():
    split = make_split(21)
    halves = split_test_halves(split, seed=4)
    assert (len(halves["test_pick"]), len(halves["test_score"])) == (10, 11)
    both = np.concatenate([halves["test_pick"].images, halves["test_score"].images])
    assert sorted(map(bytes, both)) == sorted(map(bytes, split.images))
    again = split_test_halves(split, seed=4)["test_pick"].images
    np.testing.assert_array_equal(again, halves["test_pick"].images)
    cfg = TrainConfig.from_dict(run_dict(max_epochs=2, test_halves=True))
    metrics = train(cfg, make_split(64), make_split(20, seed=1)).metrics
    for split_name in ("test_pick", "test_score"):
        assert metrics.loc[metrics["split"] == split_name, "epoch"].tolist() == [0, 1, 2]
    # the two halves' accuracies average (by size) to the whole test set's
    at = metrics[metrics["epoch"] == 2].set_index("split")["accuracy"]
    assert at["test"] == pytest.approx((at["test_pick"] + at["test_score"]) / 2)


def test_alexnet_batch_norm_is_opt_in():
    plain = build_model({"arch": "small_alexnet"}, 10, (1, 28, 28))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    bn = build_model({"arch": "small_alexnet", "batch_norm": True}, 10, (1, 28, 28))
    norms = [m for m in bn.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 4 and bn.features[0].bias is None
    assert bn(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_beyond_replicates_draw_their_own_data():
    grid = {"datasets": ["d"], "models": ["m"], "corruptions": ["c"], "regularizers": ["r"]}
    config = {
        "data_seed": 100,
        "seeds": [0, 3],
        "experiments": {
            "paper": {"grids": [grid]},
            "extra": {"target": "beyond", "grids": [grid | {"models": ["m2"]}]},
            "shared": {
                "target": "beyond",
                "replicate_data_seeds": False,
                "grids": [grid | {"models": ["m3"]}],
            },
        },
    }
    assert data_seed_of(config, RunKeys("d", "m", "c", "r", 3)) == 100  # paper: shared draw
    assert data_seed_of(config, RunKeys("d", "m2", "c", "r", 3)) == 103  # beyond: its own
    assert data_seed_of(config, RunKeys("d", "m3", "c", "r", 3)) == 100  # opted out
    assert (
        data_seed_of(config | {"replicate_data_seeds": True}, RunKeys("d", "m", "c", "r", 3)) == 103
    )
