"""The `rethinkgen` command: its help tree, version, completion, unknown commands, the
checkout check, status, targets, check-config, compare (export: test_export.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rethinkgen import cli

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "config/smoke.yaml")


def test_check_config_accepts_the_shipped_configs(capsys):
    for name in ("smoke", "config", "large", "paper", "evidence"):  # your_model: its folder
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
    assert "results/smoke/figures/fig1a_learning_curves.{png,pdf,parquet}" in lines["fig1a"]
    assert "no `own_model:` section" in lines["memorize"]
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


def test_unknown_command_is_named_with_the_list(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err
    assert "status, targets, check-config, compare, export, completion" in err


def test_every_command_has_a_description(capsys):
    assert cli.main(["--help"]) == 0
    listing = capsys.readouterr().out
    for name, command in cli.app.commands.items():
        assert command.help and len(command.help.split(".")[0]) > 10, name
        assert f"  {name}  " in listing or f"  {name} " in listing
        assert cli.main([name, "--help"]) == 0
        page = capsys.readouterr().out
        assert page.startswith(f"Usage: rethinkgen {name}"), page[:80]
        assert command.help.splitlines()[0] in page


def test_version_is_the_package_version(capsys):
    from importlib.metadata import version

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"rethinkgen, version {version('rethinkgen')}"


def test_completion_script_and_completions(capsys, monkeypatch):
    assert cli.main(["completion", "bash"]) == 0
    assert "_RETHINKGEN_COMPLETE=bash_complete" in capsys.readouterr().out
    monkeypatch.setenv("_RETHINKGEN_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "rethinkgen sta")
    monkeypatch.setenv("COMP_CWORD", "1")
    with pytest.raises(SystemExit) as done:
        cli.app.main(args=[], prog_name="rethinkgen", complete_var="_RETHINKGEN_COMPLETE")
    assert done.value.code == 0
    assert capsys.readouterr().out.split() == ["plain,status"]


def test_outside_a_checkout_says_where_to_run_from(tmp_path, monkeypatch, capsys):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert "run rethinkgen from the repository root" in err and "not found" not in err
    monkeypatch.chdir(ROOT / "config")  # a subdirectory of the checkout: names the root
    assert cli.main(["targets"]) == 1
    assert f"cd {ROOT} first" in capsys.readouterr().err


def test_configs_and_results_resolve_as_in_the_workflow(monkeypatch):
    monkeypatch.chdir(ROOT)
    files, config = cli.resolved_config([])
    assert files == ["config/config.yaml"] and config["results"] == "results/config"
    _, config = cli.resolved_config(["config/smoke.yaml", "config/smoke.yaml"])
    assert config["results"] == "results/smoke+smoke"


def test_compare_two_results_folders(tmp_path, capsys):
    import pandas as pd

    for name, slowdown in (("a", 2.0), ("b", 3.5)):
        folder = tmp_path / name / "figures"
        folder.mkdir(parents=True)
        pd.DataFrame(
            {
                "dataset": [f"data_{name}"] * 2,
                "model": ["mlp", "mlp"],
                "corruption": ["true_labels", "random_labels"],
                "relative_time_to_fit": [1.0, slowdown],
                "outcome": ["fitted", "fitted" if name == "a" else "budget"],
            }
        ).to_parquet(folder / "fig1b_convergence_slowdown.parquet")
    (tmp_path / "b" / "tables").mkdir()
    pd.DataFrame({"model": ["mlp"], "test_accuracy": [0.5]}).to_parquet(
        tmp_path / "b/tables/table1.parquet"
    )
    out = tmp_path / "compare.md"
    args = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert text.strip() == out.read_text().strip()
    assert "## figures/fig1b_convergence_slowdown" in text and "2 rows in both" in text
    row = next(line for line in text.splitlines() if "random_labels" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == ["mlp", "random_labels", "2", "3.5", "1.5", "fitted", "budget"]
    assert "Only in B: tables/table1" in text
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "nowhere")]) == 1
    assert "nowhere does not exist" in capsys.readouterr().err


def test_console_script_is_declared():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"rethinkgen": "rethinkgen.cli:main"}
