"""Run cost estimates, which order training jobs longest first (Snakemake priority)."""

from __future__ import annotations

import pytest

from rethinkgen.training import cost


def run(arch: str, n_train: int | None = 500, epochs: int = 35, **extra) -> dict:
    model_spec = {"arch": arch, **extra.pop("model", {})}
    return {
        "model_spec": model_spec,
        "dataset_spec": {"name": "fashion_mnist", "n_train": n_train},
        "training": {"max_epochs": epochs, **extra},
    }


def test_costs_order_the_offline_runs_as_measured():
    # The offline default's benchmark files (single-thread CPU seconds): Inception on 500
    # images for 35 epochs ~190, AlexNet 120 epochs ~100, MLP 3x512 on 10,000 images for
    # 150 epochs ~85, MLP 1x512 ~36.
    inception = cost.estimated_seconds(run("small_inception"))
    alexnet = cost.estimated_seconds(run("small_alexnet", epochs=120))
    mlp3 = cost.estimated_seconds(run("mlp", 10_000, 150, model={"hidden": [512] * 3}))
    mlp1 = cost.estimated_seconds(run("mlp", 10_000, 150, model={"hidden": [512]}))
    assert inception > alexnet > mlp3 > mlp1
    assert inception == pytest.approx(190, rel=0.1) and alexnet == pytest.approx(100, rel=0.1)
    assert mlp3 == pytest.approx(85, rel=0.1) and mlp1 == pytest.approx(36, rel=0.1)


def test_cost_grows_with_budget_and_data_and_shrinks_with_fewer_test_passes():
    base = cost.estimated_seconds(run("small_inception"))
    assert cost.estimated_seconds(run("small_inception", epochs=70)) == pytest.approx(2 * base)
    assert cost.estimated_seconds(run("small_inception", n_train=1000)) == pytest.approx(2 * base)
    assert cost.estimated_seconds(run("small_inception", eval_test_every=3)) < base
    # a whole dataset (no n_train) counts its full size
    assert cost.estimated_seconds(run("small_inception", n_train=None)) == pytest.approx(120 * base)


def test_priority_is_a_bounded_integer_that_keeps_the_order():
    priorities = [
        cost.priority(run("mlp", 10_000, 150, model={"hidden": [512]})),
        cost.priority(run("small_alexnet", epochs=120)),
        cost.priority(run("small_inception", epochs=60)),
        cost.priority(run("inception_v3", n_train=None, epochs=100)),
    ]
    assert priorities == sorted(priorities) and len(set(priorities)) == 4
    assert all(isinstance(p, int) and 0 <= p <= 100 for p in priorities)
