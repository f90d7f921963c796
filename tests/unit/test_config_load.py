"""One config loader (rethinkgen.config_load) for the workflow, `rethinkgen` and status."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rethinkgen import cli, config_load, status
from rethinkgen.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "config/smoke.yaml"


def test_loading_fills_schema_defaults_and_descriptions():
    config = config_load.load_config([SMOKE])
    assert config["models"]["mlp_1x512"]["init"] == "default"  # the schema's default
    assert all(e.get("description") for e in config["experiments"].values())


def test_the_workflow_cli_and_status_load_the_same_config():
    assert cli.load_checked_config([str(SMOKE)]) == status.load_config([str(SMOKE)])
    assert config_load.load_config([SMOKE]) == cli.load_checked_config([str(SMOKE)])


def test_every_loader_refuses_what_the_workflow_refuses(tmp_path):
    config = yaml.safe_load(SMOKE.read_text())
    config["override"] = {"num_threads": 2}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="override.num_threads: cannot take effect"):
        config_load.load_config([bad])
    with pytest.raises(SystemExit, match="override.num_threads"):
        status.load_config([str(bad)])
    config["override"] = {"max_epochs": "three"}  # the schema, named by its key
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="max_epochs"):
        config_load.load_config([bad])
    with pytest.raises(ConfigError, match="not found"):
        config_load.load_config([tmp_path / "missing.yaml"])


def test_command_line_strings_are_typed_before_validation():
    """Snakemake passes nested --config values as strings: '3' becomes 3 as the schema asks."""
    config = yaml.safe_load(SMOKE.read_text())
    config["override"] = {"max_epochs": "3"}
    checked = config_load.check_loaded_config(config, ROOT / "workflow/schemas")
    assert checked["override"]["max_epochs"] == 3
