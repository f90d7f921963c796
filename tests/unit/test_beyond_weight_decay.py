"""Beyond the paper, weight decay and memorization: the per-epoch weight-norm log, the
momentum-aware shrink against PyTorch's SGD and a closed form, the fc scope, and the
validation split held out from training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from rethinkgen.analysis.weight_decay import (
    decay_factor,
    decay_shrink,
    step_lrs,
    summed_lr_bound,
)
from rethinkgen.data.corruptions import apply_corruption
from rethinkgen.training.engine import train
from rethinkgen.training.norms import weight_norms
from rethinkgen.training.protocol import build_optimizer, epoch_lr
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.validation import hold_out
from tests.conftest import make_split
from tests.unit.test_train import run_dict


def test_weight_norms_are_each_parameters_l2_norm():
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]]))
        model.bias.copy_(torch.tensor([1.0, -1.0]))
    assert weight_norms(model) == {
        "weight": pytest.approx(5.0),
        "bias": pytest.approx(math.sqrt(2)),
    }


def test_engine_logs_weight_norms_every_epoch():
    cfg = TrainConfig.from_dict(run_dict(max_epochs=3))
    result = train(cfg, make_split(64), make_split(16, seed=1))
    log = result.info["weight_norms"]
    assert [e["epoch"] for e in log] == [1, 2, 3] and log[-1]["step"] == result.info["steps"]
    final = {k: float(v.float().norm()) for k, v in result.model_state.items()}
    assert log[-1]["norms"] == pytest.approx({k: final[k] for k in log[-1]["norms"]})


def _sgd_decay_only(lrs, wd, momentum, scope="all"):
    """A linear model whose loss gradient is zero: only weight decay moves it."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    cfg = TrainConfig(
        model_spec={}, lr=lrs[0], weight_decay=wd, weight_decay_scope=scope, momentum=momentum
    )
    optimizer = build_optimizer(model, cfg)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for lr in lrs:
        for group in optimizer.param_groups:
            group["lr"] = lr
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        optimizer.step()
    return start, model.state_dict()


def test_momentum_decay_matches_sgd_and_the_closed_form():
    lr, wd, m, steps = 0.01, 4e-3, 0.9, 384
    start, end = _sgd_decay_only([lr] * steps, wd, m)
    factor = decay_factor([lr] * steps, wd, m)
    assert float(end["weight"].norm() / start["weight"].norm()) == pytest.approx(factor, rel=1e-5)
    # Closed form of the recurrence w' = w - lr v', v' = m v + wd w (v_1 = wd w_0): the roots
    # of r^2 - (1 + m - lr wd) r + m, the slow one about 1 - lr wd / (1 - m).
    a = lr * wd
    r1, r2 = np.roots([1, -(1 + m - a), m])
    # w_0 = 1, w_1 = 1 - a fix the two coefficients
    c2 = (1 - a - r1) / (r2 - r1)
    closed = (1 - c2) * r1**steps + c2 * r2**steps
    assert factor == pytest.approx(float(np.real(closed)), rel=1e-9)
    # The measured gap: momentum-aware ~14% shrink where 1 - exp(-lr wd steps) says 1.5%
    assert 1 - factor == pytest.approx(decay_shrink(lr * steps, wd, m), abs=0.01)
    assert 0.13 < 1 - factor < 0.15 and 1 - math.exp(-a * steps) < 0.016


def test_summed_lr_under_the_paper_schedule_is_bounded():
    cfg = TrainConfig(model_spec={}, lr=0.01, lr_decay_every_steps=391)
    n, batch = 50_000, 128  # CIFAR-10: 391 steps an epoch
    total = sum(epoch_lr(cfg, e, n) * math.ceil(n / batch) for e in range(1, 2000))
    bound = summed_lr_bound(0.01, 0.95, 391)
    assert bound == pytest.approx(78.2) and 0.99 * bound < total <= bound
    small = sum(epoch_lr(cfg, e, 128) for e in range(1, 20_000))  # 1 step an epoch
    assert small <= bound


def test_step_lrs_repeat_each_epochs_lr_over_its_steps():
    import pandas as pd

    curves = pd.DataFrame(
        {
            "split": ["train_online"] * 2 + ["test"],
            "epoch": [1, 2, 2],
            "step": [3, 5, 5],
            "lr": [0.1, 0.05, 0.05],
        }
    )
    assert step_lrs(curves).tolist() == [0.1, 0.1, 0.1, 0.05, 0.05]


def test_fc_scope_decays_hidden_fully_connected_kernels_only():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 4), nn.Linear(4, 2))
    cfg = TrainConfig(model_spec={}, lr=0.1, weight_decay=1e-3, weight_decay_scope="fc")
    decayed = [g for g in build_optimizer(model, cfg).param_groups if g["weight_decay"] > 0]
    assert [p is model[2].weight for p in decayed[0]["params"]] == [True]


def test_validation_split_is_held_out_and_seeded():
    split = apply_corruption(
        {"kind": "random_labels", "prob": 0.5}, make_split(100), make_split(10, seed=1), seed=0
    ).train
    rest, held = hold_out(split, 0.2, seed=3)
    val = held["validation"]
    assert (len(rest), len(val)) == (80, 20)

    def key(s):
        return {(img.tobytes(), int(lab)) for img, lab in zip(s.images, s.labels)}

    assert key(rest) | key(val) == key(split) and not key(rest) & key(val)
    assert val.true_labels is not None
    again = hold_out(split, 0.2, seed=3)[1]["validation"]
    np.testing.assert_array_equal(again.labels, val.labels)
    assert not np.array_equal(hold_out(split, 0.2, seed=4)[1]["validation"].images, val.images)
    assert hold_out(split, 0.0, seed=3) == (split, {})
    with pytest.raises(ValueError, match="validation_fraction"):
        hold_out(make_split(3), 0.1, seed=0)


def test_engine_trains_without_the_validation_split_and_scores_it():
    cfg = TrainConfig.from_dict(run_dict(max_epochs=2, validation_fraction=0.25))
    result = train(cfg, make_split(64), make_split(16, seed=1))
    assert result.info["data"]["n_train"] == 48
    assert result.metrics.loc[result.metrics["split"] == "validation", "epoch"].tolist() == [
        0,
        1,
        2,
    ]
