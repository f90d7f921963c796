"""Captions and descriptions written from the config (rethinkgen.describe), and targets
that have nothing to make (rethinkgen.targets.nothing_to_make)."""

import copy
from pathlib import Path

import pytest
import yaml

from rethinkgen import describe, targets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def smoke():
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    config["training"].setdefault("stop_when_fitted", False)
    return config


def test_experiment_without_description_gets_one_from_its_outputs(smoke):
    assert "description" not in smoke["experiments"]["fig1bc"]
    words = describe.experiment_description(smoke, "fig1bc")
    assert words.startswith("time to fit against label corruption (Figure 1b); test error against")
    assert "mlp_1x512" in words and "3 runs" in words
    describe.fill_descriptions(smoke)
    assert smoke["experiments"]["fig1bc"]["description"] == words
    assert describe.experiment_description(smoke, "table1").startswith("regularizers (Table 1)")


def test_given_description_is_kept(smoke):
    smoke["experiments"]["fig1a"]["description"] = "mine"
    assert describe.experiment_description(smoke, "fig1a") == "mine"


def test_settings_caption_names_the_runs_models_data_budgets_and_seeds(smoke):
    text = describe.settings_caption(smoke, "fig2b")
    assert "``inception`` (small_inception, BatchNorm)" in text
    assert "``inception_nobn`` (small_inception, no BatchNorm)" in text
    assert "mlp_1x512" not in text  # only fig2b's models
    assert "``fashion_mnist_tiny`` (fashion_mnist, 256 training / 128 test images)" in text
    assert "``inception`` 2 epochs" in text and "Training seeds: 0 (2 runs)" in text


def test_budgets_follow_model_and_experiment_overrides(smoke):
    config = copy.deepcopy(smoke)
    config["models"]["inception_nobn"]["training"] = {"max_epochs": 7}
    assert "``inception_nobn`` 7 epochs" in describe.settings_caption(config, "fig2b")


def test_empty_targets_say_why(smoke):
    assert "no `beyond:` section" in targets.nothing_to_make(smoke, "beyond")
    assert "no `theory:` section" in targets.nothing_to_make(smoke, "table3")
    assert targets.nothing_to_make(smoke, "fig1a") is None
    with pytest.raises(ValueError, match="nothing to make"):
        targets.require_something(smoke, "beyond", [])
    quick = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert targets.nothing_to_make(quick, "beyond") is None
