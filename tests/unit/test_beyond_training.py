"""Beyond the paper, training side: true labels through corruption and storage, the
engine's clean/corrupted subset rows, and the MLP's activation option."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from torch import nn

from rethinkgen.config import all_runs, target_runs
from rethinkgen.data.corruptions import apply_corruption
from rethinkgen.data.splits import Split, load_split, save_split
from rethinkgen.schemas import METRIC_COLUMNS
from rethinkgen.training.engine import train
from rethinkgen.training.models import ACTIVATIONS, build_model
from rethinkgen.training.session import TRAIN_SUBSETS, label_subsets
from rethinkgen.training.settings import TrainConfig
from tests.conftest import make_split
from tests.unit.test_train import run_dict


def test_random_labels_keep_the_true_labels_and_they_survive_save_and_load(tmp_path):
    train, test = make_split(100), make_split(20, seed=1)
    result = apply_corruption({"kind": "random_labels", "prob": 0.5}, train, test, seed=3)
    np.testing.assert_array_equal(result.train.true_labels, train.labels)
    assert (result.train.labels != train.labels).any()
    save_split(result.train, tmp_path / "train.npz")
    loaded = load_split(tmp_path / "train.npz")
    np.testing.assert_array_equal(loaded.true_labels, train.labels)
    np.testing.assert_array_equal(loaded.subset(np.arange(5)).true_labels, train.labels[:5])
    save_split(test, tmp_path / "test.npz")
    assert load_split(tmp_path / "test.npz").true_labels is None


def test_label_subsets_count_an_unchanged_random_label_as_clean():
    split = Split(
        np.zeros((4, 2, 2, 1), np.uint8),
        np.array([0, 1, 2, 3]),
        ["a", "b", "c", "d"],
        true_labels=np.array([0, 2, 2, 1]),
    )
    subsets = label_subsets(split)
    np.testing.assert_array_equal(subsets["train_clean"].labels, [0, 2])
    np.testing.assert_array_equal(subsets["train_corrupted"].labels, [1, 3])
    assert label_subsets(dataclasses.replace(split, true_labels=None)) == {}
    unchanged = dataclasses.replace(split, true_labels=split.labels)
    assert list(label_subsets(unchanged)) == ["train_clean"]  # empty subsets are left out


def test_engine_scores_clean_and_corrupted_subsets_at_each_train_evaluation():
    train_split, test_split = make_split(96), make_split(32, seed=1)
    noisy = apply_corruption(
        {"kind": "random_labels", "prob": 0.5}, train_split, test_split, seed=0
    )
    cfg = TrainConfig.from_dict(run_dict(max_epochs=4, eval_train_every=2))
    metrics = train(cfg, noisy.train, noisy.test).metrics
    assert list(metrics.columns) == METRIC_COLUMNS
    for split in TRAIN_SUBSETS:
        assert metrics.loc[metrics["split"] == split, "epoch"].tolist() == [0, 2, 4]
    # The whole-set accuracy is the size-weighted mean of the two subsets'.
    changed = (noisy.train.labels != noisy.train.true_labels).mean()
    at = metrics[metrics["epoch"] == 4].set_index("split")["accuracy"]
    expected = (1 - changed) * at["train_clean"] + changed * at["train_corrupted"]
    assert at["train"] == pytest.approx(expected, abs=1e-9)
    clean = train(cfg, train_split, test_split).metrics
    assert not clean["split"].isin(TRAIN_SUBSETS).any()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_activation_option(activation):
    model = build_model({"arch": "mlp", "hidden": [5], "activation": activation}, 10, (1, 4, 4))
    expected = type(ACTIVATIONS[activation]())
    assert isinstance(model.hidden[2], expected)
    default = build_model({"arch": "mlp", "hidden": [5]}, 10, (1, 4, 4))
    assert isinstance(default.hidden[2], nn.ReLU)
    with pytest.raises(KeyError, match="unknown activation"):
        build_model({"arch": "mlp", "hidden": [5], "activation": "swish"}, 10, (1, 4, 4))


def test_beyond_experiments_are_left_out_of_all_runs():
    grid = {"datasets": ["d"], "models": ["m"], "corruptions": ["c"], "regularizers": ["r"]}
    config = {
        "seeds": [0],
        "experiments": {
            "paper": {"grids": [grid]},
            "extra": {"target": "beyond", "grids": [grid | {"models": ["m2"]}]},
        },
    }
    assert [run.model for run in all_runs(config)] == ["m"]
    assert [run.model for run in target_runs(config, "beyond")] == ["m2"]
