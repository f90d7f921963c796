"""Training one run alone by its output path, with a `--config` override, and which config
edits retrain a finished run (docs/operations.md, "One run alone")."""

import json
from pathlib import Path

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config, validate

from rethinkgen.config import (
    OVERRIDE_REFUSED,
    override_problems,
    retype_cli_strings,
    run_spec,
    spec_defaults,
)
from rethinkgen.run import RunKeys as Run
from tests.workflow.dag import copy_checkout, dry_run_counts, snakemake

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
ONE_RUN = "results/runs/fashion_mnist_tiny/mlp_1x512/true_labels/none/seed0/run_info.json"


def test_one_run_by_its_output_path_plans_one_training_job():
    counts = dry_run_counts(
        ONE_RUN,
        "--configfile",
        "config/smoke.yaml",
        "--config",
        "training={max_epochs: 3, tensorboard: true}",
    )
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
        "training={max_epochs: 3, tensorboard: true, lr_decay_every_steps: null}", "seeds=[0, 1]"
    )
    spec = run_spec(config, Run("fashion_mnist_tiny", "mlp_1x512", "true_labels", "none", 0))
    training = spec.training
    assert training["max_epochs"] == 3 and config["training"]["tensorboard"] is True
    assert "tensorboard" not in spec.identity()  # how to run, not what: no retraining
    assert training["lr_decay_every_steps"] is None
    assert training["batch_size"] == 128  # the other keys stay: the override is merged
    assert config["seeds"] == [0, 1]


def test_strings_the_schema_allows_stay_strings():
    config = _with_cli_overrides(
        "training={amp: 'off', device: cpu}", "models={mlp_1x512: {lr: 0.05}}"
    )
    assert config["training"]["amp"] == "off" and config["training"]["device"] == "cpu"
    assert config["models"]["mlp_1x512"] == {
        "arch": "mlp",
        "hidden": [512],
        "lr": 0.05,
        "init": "default",
    }  # the schema's default


def test_an_override_that_cannot_take_effect_is_refused_with_the_keys_that_can(tmp_path):
    """A training job takes the threads Snakemake gives it, so `num_threads` in an override
    would do nothing: refused, with every key an override may set. (`device` and
    `runs_per_gpu` reach the GPU claim and the check at start: accepted.)"""
    result = snakemake(
        "-n",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(ROOT / "config/smoke.yaml"),
        "--directory",
        str(tmp_path),
        "--config",
        "override={num_threads: 2}",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "override.num_threads: cannot take effect in a run" in output, output[-2000:]
    assert "An override may set: amp, batch_size," in output and "max_epochs" in output
    config = _with_cli_overrides("override={runs_per_gpu: 4, num_threads: 2, max_epochs: 3}")
    problems = override_problems(config)
    assert [p.split(":")[0] for p in problems] == ["override.num_threads"]
    allowed = problems[0].split("An override may set: ")[1].split(", ")
    schema_keys = yaml.safe_load(SCHEMA.read_text())["$defs"]["training"]["properties"]
    assert set(allowed) == set(schema_keys) - set(OVERRIDE_REFUSED)  # every settable key
    assert {"device", "runs_per_gpu"} <= set(allowed)
    assert override_problems(_with_cli_overrides("override={device: cuda}")) == []


def test_an_override_of_the_wrong_type_is_still_refused():
    with pytest.raises(Exception, match="max_epochs"):
        _with_cli_overrides("training={max_epochs: three}")


ONE_RUN_COMMAND = (
    ONE_RUN,
    "--configfile",
    "config/smoke.yaml",
    "--cores",
    "1",
    "--config",
    "override={max_epochs: 3}",
)


@pytest.fixture(scope="module")
def trained_one_run(tmp_path_factory) -> Path:
    """The one-run command of docs/operations.md, run for real in a copy of the checkout."""
    checkout = copy_checkout(tmp_path_factory.mktemp("one_run") / "repo")
    result = snakemake(*ONE_RUN_COMMAND, cwd=checkout, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return checkout


@pytest.mark.slow
def test_the_documented_override_trains_exactly_its_epochs(trained_one_run: Path):
    """`--config override=...` wins over every experiment's and model's budget."""
    info = json.loads((trained_one_run / ONE_RUN).read_text())
    assert info["epochs"] == info["max_epochs"] == 3
    assert info["spec"]["training"]["max_epochs"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["eval_batch_size: 7", "tensorboard: true", "checkpoint_every: 5"])
def test_editing_a_scheduling_setting_retrains_nothing(trained_one_run: Path, edit: str):
    result = snakemake(
        *ONE_RUN_COMMAND[:-1], "override={max_epochs: 3, " + edit + "}", "-n", cwd=trained_one_run
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, edit


@pytest.mark.slow
def test_editing_an_identity_setting_retrains_the_run(trained_one_run: Path):
    result = snakemake(
        *ONE_RUN_COMMAND[:-1], "override={max_epochs: 3, batch_size: 64}", "-n", cwd=trained_one_run
    )
    assert "train_model" in result.stdout, result.stdout[-2000:]


def test_identity_settings_are_pinned():
    """Which settings say what a result is (a change retrains) and which say how it runs."""
    from rethinkgen.training.settings import SCHEDULING_SETTINGS

    assert set(SCHEDULING_SETTINGS) == {
        "eval_batch_size",
        "device",
        "num_threads",
        "channels_last",
        "compile",
        "checkpoint_every",
        "num_workers",
        "nproc_per_node",
        "tensorboard",
    }
    config = _with_cli_overrides("training={num_threads: 2, eval_batch_size: 7}")
    defaults = spec_defaults(yaml.safe_load(SCHEMA.read_text()))
    identity = run_spec(
        config, Run("fashion_mnist_tiny", "mlp_1x512", "true_labels", "none", 0), defaults
    ).identity()
    assert {"num_threads", "eval_batch_size"}.isdisjoint(identity)
    assert identity["max_epochs"] == 2 and identity["data_seed"] == 20170424
    assert identity["corruption_spec"] == {"kind": "none"}  # schema defaults left out
