"""Training one run alone by its output path, with a `--config` override (docs/operations.md, "One run alone")."""

from pathlib import Path

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config, validate

from rethinkgen.config import retype_cli_strings, run_config, Run
from tests.workflow.dag import dry_run_counts

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
ONE_RUN = "results/runs/fashion_mnist_tiny/mlp_1x512/true_labels/none/seed0/run_info.json"


def test_one_run_by_its_output_path_plans_one_training_job():
    counts = dry_run_counts(ONE_RUN, "--configfile", "config/smoke.yaml",
                            "--config", "training={max_epochs: 3, tensorboard: true}")
    assert counts["train_model"] == 1
    assert set(counts) == {"prepare_dataset", "corrupt_dataset", "train_model"}


def _with_cli_overrides(*entries: str) -> dict:
    """What the Snakefile sees: the config file, then Snakemake's parsed --config on top."""
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    update_config(config, parse_config(list(entries)))
    retype_cli_strings(config, yaml.safe_load(SCHEMA.read_text()))
    validate(config, str(SCHEMA))
    return config


def test_nested_overrides_reach_the_run_typed_and_merged():
    config = _with_cli_overrides(
        "training={max_epochs: 3, tensorboard: true, lr_decay_every_steps: null}",
        "seeds=[0, 1]")
    training = run_config(config, Run("fashion_mnist_tiny", "mlp_1x512", "true_labels", "none",
                                      0))["training"]
    assert training["max_epochs"] == 3 and config["training"]["tensorboard"] is True
    assert "tensorboard" not in training  # how to run, not what: no retraining when it changes
    assert training["lr_decay_every_steps"] is None
    assert training["batch_size"] == 128  # the other keys stay: the override is merged
    assert config["seeds"] == [0, 1]


def test_strings_the_schema_allows_stay_strings():
    config = _with_cli_overrides("training={amp: 'off', device: cpu}",
                                 "models={mlp_1x512: {lr: 0.05}}")
    assert config["training"]["amp"] == "off" and config["training"]["device"] == "cpu"
    assert config["models"]["mlp_1x512"] == {"arch": "mlp", "hidden": [512], "lr": 0.05,
                                             "init": "default"}  # the schema's default


def test_an_override_of_the_wrong_type_is_still_refused():
    with pytest.raises(Exception, match="max_epochs"):
        _with_cli_overrides("training={max_epochs: three}")
