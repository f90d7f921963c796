"""Every class of bad config is rejected with a message naming the key."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from rethinkgen.config import ConfigError, all_runs, check_config, experiment_runs, run_spec
from rethinkgen.run import RunKeys as Run

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
CONFIGS = ["config/paper.yaml", "config/config.yaml"]


def load(name="config/config.yaml"):
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_are_valid(name):
    config = load(name)
    validate(config, SCHEMA)
    check_config(config)


def schema_error(config) -> str:
    with pytest.raises(WorkflowError) as err:
        validate(config, SCHEMA)
    return str(err.value)


def test_misspelled_key_is_rejected():
    config = load()
    config["training"]["lr_decayy"] = 0.9
    assert "'lr_decayy' was unexpected" in schema_error(config)
    config = load()
    config["seed"] = 3
    assert "'seed' was unexpected" in schema_error(config)


def test_probability_outside_unit_interval_is_rejected():
    config = load()
    config["corruptions"]["labels_p020"]["prob"] = 1.2
    message = schema_error(config)
    assert "1.2 is greater than the maximum of 1" in message and "labels_p020" in message


def test_unknown_corruption_kind_and_bad_key_are_rejected():
    config = load()
    config["corruptions"]["labels_p020"]["kind"] = "random_label"
    assert "'random_label' is not one of" in schema_error(config)
    config = load()
    config["models"]["MLP-1"] = config["models"]["mlp_1x512"]
    assert "does not match" in schema_error(config)


def test_experiment_naming_unknown_model():
    config = load()
    config["experiments"]["fig1a"]["grids"][0]["models"] = ["inceptoin"]
    with pytest.raises(
        ConfigError, match=r"experiments\.fig1a\.grids\[0\]\.models: 'inceptoin' is not defined"
    ):
        check_config(config)


def test_pixel_corruption_on_imagenet():
    config = load()
    config["datasets"]["imagenet"] = {"name": "imagenet", "root": "/data/ilsvrc2012"}
    config["models"]["inception_v3"] = {"arch": "inception_v3", "lr": 0.1}
    config["experiments"]["fig2a"] = {
        "grids": [
            {
                "datasets": ["imagenet"],
                "models": ["inception_v3"],
                "corruptions": ["random_labels", "shuffled_pixels"],
                "regularizers": ["none"],
            }
        ]
    }
    with pytest.raises(
        ConfigError,
        match="pixel corruption 'shuffled_pixels'.*only label randomization on ImageNet",
    ):
        check_config(config)


def test_small_model_on_imagenet_and_test_label_corruption():
    config = load()
    config["datasets"]["imagenet"] = {"name": "imagenet", "root": "/data"}
    config["experiments"]["fig1a"]["grids"][0]["datasets"] = ["imagenet"]
    config["corruptions"]["random_labels"]["splits"] = ["train", "test"]
    with pytest.raises(ConfigError) as err:
        check_config(config)
    assert "cannot train on dataset 'imagenet'" in str(err.value)
    assert "keeps test labels true" in str(err.value)


def test_runs_shared_by_experiments_are_counted_once():
    config = load()
    runs = all_runs(config)
    assert len(runs) == len(set(runs))
    shared = Run("fashion_mnist_500", "inception", "true_labels", "none", 0)
    assert all(shared in experiment_runs(config, e) for e in ("fig1a", "fig1bc", "table1", "fig2b"))


def test_regularizer_overrides_training_settings():
    config = load()
    resolved = run_spec(
        config, Run("fashion_mnist_500", "inception", "random_labels", "aug_slow", 0)
    )
    assert resolved.training["lr_decay"] == 0.999
    assert resolved.training["batch_size"] == 128
    assert "training" not in resolved.regularizer_spec
    assert config["regularizers"]["aug_slow"]["training"]["lr_decay"] == 0.999  # config untouched


def test_bad_config_fails_before_any_job(tmp_path):
    config = load()
    config["experiments"]["fig1a"]["grids"][0]["models"] = ["inceptoin"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "'inceptoin' is not defined under 'models:'" in result.stdout + result.stderr


def test_theory_naming_unknown_dataset():
    config = load()
    config["theory"]["kernel_solves"]["fashion_mnist_gabor"]["dataset"] = "fashion_mnst"
    with pytest.raises(
        ConfigError, match=r"theory\.kernel_solves\.fashion_mnist_gabor\.dataset: 'fashion_mnst'"
    ):
        check_config(config)


def test_experiment_budgets_combine_for_shared_runs():
    config = load()
    config["training"] |= {"max_epochs": 10, "stop_when_fitted": False}
    config["experiments"]["fig1bc"]["training"] = {"max_epochs": 50, "stop_when_fitted": True}
    config["experiments"]["fig1a"]["training"] = {"max_epochs": 30}
    shared = Run("fashion_mnist_500", "inception", "true_labels", "none", 0)  # fig1a, fig1bc, ...
    only_1bc = Run("fashion_mnist_500", "alexnet", "labels_p050", "none", 0)
    keys = ("max_epochs", "stop_when_fitted", "min_epochs", "readout_epochs", "score_at_fit")
    assert {k: run_spec(config, only_1bc).training[k] for k in keys} == {
        "max_epochs": 50,
        "stop_when_fitted": True,
        "min_epochs": 0,
        "readout_epochs": [50],
        "score_at_fit": True,
    }
    # shared with experiments that train the whole curve (fig1a's 30, table1's and fig2b's
    # model-level 40): at least their longest budget, then on to fit or fig1bc's cap 50;
    # scored at every experiment's read-out epoch and at its fit
    config["models"]["inception"]["training"] = {"max_epochs": 40}
    assert {k: run_spec(config, shared).training[k] for k in keys} == {
        "max_epochs": 50,
        "stop_when_fitted": True,
        "min_epochs": 40,
        "readout_epochs": [30, 40, 50],
        "score_at_fit": True,
    }


def test_model_level_training_override_is_resolved():
    config = load()
    config["models"]["mlp_1x512"]["training"] = {"max_epochs": 7}
    run = Run("fashion_mnist_10k", "mlp_1x512", "true_labels", "none", 0)
    assert run_spec(config, run).training["max_epochs"] >= 7


BEYOND_SCHEMA = str(ROOT / "workflow/schemas/beyond.schema.yaml")


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_beyond_sections_are_valid_and_kept_out_of_all(name):
    from rethinkgen.config import target_runs
    from rethinkgen.targets import check_beyond

    config = load(name)
    validate(config, BEYOND_SCHEMA)
    assert check_beyond(config) == []
    assert len(config["beyond"]) == 5
    beyond_runs = set(target_runs(config, "beyond"))
    assert beyond_runs and not beyond_runs & set(all_runs(config))


def test_beyond_output_needs_a_beyond_experiment():
    from rethinkgen.targets import check_beyond

    config = load()
    config["experiments"]["beyond_capacity"].pop("target")
    assert any("beyond_capacity' must set `target: beyond`" in p for p in check_beyond(config))
    config["beyond"]["memorization_dynamics"]["kind"] = "memorisation"
    with pytest.raises(WorkflowError):
        validate(config, BEYOND_SCHEMA)
