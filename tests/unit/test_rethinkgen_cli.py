"""The `rethinkgen` command: status, targets, check-config (export: test_export.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from rethinkgen import cli

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "config/smoke.yaml")


def test_check_config_accepts_the_shipped_configs(capsys):
    for name in ("smoke", "config", "large", "paper", "your_model"):
        assert cli.main(["check-config", str(ROOT / f"config/{name}.yaml")]) == 0
    out = capsys.readouterr().out
    assert "smoke.yaml: valid. 5 experiments; `snakemake all` trains 11 runs" in out


def test_check_config_reports_a_schema_error_and_a_cross_reference(tmp_path, capsys):
    config = yaml.safe_load(Path(SMOKE).read_text())
    config["training"]["batch_sise"] = 64
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert cli.main(["check-config", str(bad)]) == 1
    assert "batch_sise" in capsys.readouterr().err
    del config["training"]["batch_sise"]
    config["experiments"]["fig1a"]["grids"][0]["models"] = ["resnet"]
    bad.write_text(yaml.safe_dump(config))
    assert cli.main(["check-config", str(bad)]) == 1
    assert "resnet" in capsys.readouterr().err


def test_check_config_refuses_duplicate_keys(tmp_path, capsys):
    bad = tmp_path / "dup.yaml"
    bad.write_text(Path(SMOKE).read_text() + "\nseeds: [1]\n")
    assert cli.main(["check-config", str(bad)]) == 1
    assert "duplicate keys" in capsys.readouterr().err


def test_targets_lists_what_each_makes_and_what_cannot_be_made(capsys):
    assert cli.main(["targets", "--configfile", SMOKE]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "11 runs" in lines["all"]
    assert "results/config/figures/fig1a_learning_curves.{png,pdf,parquet}" in lines["fig1a"]
    assert "nothing to make" in lines["beyond"] and "nothing to make" in lines["table3"]
    words = " ".join(out.split())  # cells wrap over several lines
    assert "(Figure 1a);" in lines["fig1a"] and "experiment fig1a, 5 runs" in words
    assert "no `beyond:` section" in words and "no `theory:` section" in words


def test_targets_on_the_offline_default_has_beyond(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["targets"]) == 0  # the default config/config.yaml
    beyond = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("beyond")
    )
    assert "memorization_dynamics" in beyond and "nothing" not in beyond


def test_status_runs_from_the_command_and_the_module(tmp_path):
    """The console script's entry point and `python -m rethinkgen.status` give the same table."""
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    via_cli = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from rethinkgen.cli import main; sys.exit(main())",
            "status",
            "--configfile",
            SMOKE,
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    via_module = subprocess.run(
        [
            sys.executable,
            "-m",
            "rethinkgen.status",
            "--configfile",
            SMOKE,
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert via_cli.returncode == 0, via_cli.stderr
    assert via_cli.stdout == via_module.stdout
    assert "0 of 11 runs finished" in via_cli.stdout


def test_unknown_command_prints_usage(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "rethinkgen targets" in capsys.readouterr().err


def test_console_script_is_declared():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"rethinkgen": "rethinkgen.cli:main"}
