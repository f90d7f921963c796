"""Each figure/table target trains only the runs its experiment needs (dry-run job counts).

Runs the real Snakefile on the real config files. The expected counts come from the
experiment grids (rethinkgen.config.experiment_runs) and, for the offline default,
also as literal numbers worked out by hand from config/quick.yaml.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rethinkgen.config import all_runs, experiment_runs

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def dry_run_counts(target: str, configfile: str) -> dict[str, int]:
    """Jobs per rule that `snakemake -n <target>` would run from a clean tree."""
    result = subprocess.run(SNAKEMAKE + ["-n", target, "--configfile", configfile], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


def load(configfile: str) -> dict:
    return yaml.safe_load((ROOT / configfile).read_text())


# Hand-counted from config/quick.yaml's grids: fig1a 1x5, fig1bc 2x3 + 1x6,
# table1 2x4 + 1x2 + 2x2 + 3 + 2, table4 2 + 2 + 2, fig2b 2; 34 distinct runs in all.
QUICK_TRAIN_JOBS = {"fig1a": 5, "fig1b": 12, "fig1c": 12, "table1": 19, "table4": 6, "fig2b": 2,
                    "scorecard": 34, "all": 34}


@pytest.mark.parametrize("target, expected", QUICK_TRAIN_JOBS.items())
def test_quick_targets_train_only_their_runs(target, expected):
    counts = dry_run_counts(target, "config/quick.yaml")
    assert counts.get("train_model", 0) == expected


@pytest.mark.parametrize("configfile", ["config/quick.yaml", "config/config.yaml"])
def test_figure_file_targets_match_experiment_grids(configfile):
    config = load(configfile)
    for key, spec in config["figures"].items():
        if spec["experiment"] not in config["experiments"]:
            continue  # e.g. Fig. 2a without an ImageNet experiment is not buildable
        counts = dry_run_counts(f"results/figures/{key}.png", configfile)
        assert counts["train_model"] == len(experiment_runs(config, spec["experiment"])), key
        assert counts["plot_figure"] == 1 and counts.get("aggregate_runs", 0) == 0, key


def test_all_builds_every_run_once_and_no_imagenet_outputs():
    config = load("config/config.yaml")
    counts = dry_run_counts("all", "config/config.yaml")
    assert counts["train_model"] == len(all_runs(config))
    assert counts["plot_figure"] == 4  # fig1a, fig1b, fig1c, fig2b; fig2a needs ImageNet
    assert counts["make_table"] == 3  # table1, table4, scorecard; table2 needs ImageNet
