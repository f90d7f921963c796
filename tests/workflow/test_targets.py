"""Each figure/table target trains only the runs its experiment needs (dry-run job counts).

Runs the real Snakefile on the real config files. The expected counts come from the
experiment grids (rethinkgen.config.experiment_runs) and, for the offline default,
also as literal numbers worked out by hand from config/quick.yaml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rethinkgen import targets
from rethinkgen.config import all_runs, experiment_runs
from tests.workflow.dag import dry_run_counts

ROOT = Path(__file__).resolve().parents[2]


def load(configfile: str) -> dict:
    return yaml.safe_load((ROOT / configfile).read_text())


# Hand-counted from config/quick.yaml's grids (fig1bc: 2x2 + 1 + 6; table1: 2 + 3 + 1 + 1
# + 4 + 2; table4: 1 + 2; scorecard and all: every distinct run).
QUICK_TRAIN_JOBS = {
    "fig1a": 5,
    "fig1b": 11,
    "fig1c": 11,
    "table1": 13,
    "table4": 3,
    "fig2b": 2,
    "scorecard": 24,
    "all": 24,
}


@pytest.mark.parametrize("target, expected", QUICK_TRAIN_JOBS.items())
def test_quick_targets_train_only_their_runs(target, expected):
    counts = dry_run_counts(target, "--configfile", "config/quick.yaml")
    assert counts.get("train_model", 0) == expected


@pytest.mark.parametrize("configfile", ["config/quick.yaml", "config/config.yaml"])
def test_figure_file_targets_match_experiment_grids(configfile):
    config = load(configfile)
    for key, spec in config["figures"].items():
        if spec["experiment"] not in config["experiments"]:
            continue  # e.g. Fig. 2a without an ImageNet experiment is not buildable
        counts = dry_run_counts(f"results/figures/{key}.png", "--configfile", configfile)
        assert counts["train_model"] == len(experiment_runs(config, spec["experiment"])), key
        assert counts["plot_figure"] == 1 and counts.get("aggregate_runs", 0) == 0, key


def test_all_builds_every_run_once_and_no_imagenet_outputs():
    config = load("config/config.yaml")
    counts = dry_run_counts("all", "--configfile", "config/config.yaml")
    assert counts["train_model"] == len(all_runs(config))
    assert counts["plot_figure"] == 4  # fig1a, fig1b, fig1c, fig2b; fig2a needs ImageNet
    assert counts["make_table"] == 2  # table1, table4; table2 needs ImageNet
    assert counts["make_scorecard"] == 1


def test_scorecard_has_its_own_rule():
    config = load("config/smoke.yaml")
    counts = dry_run_counts("scorecard", "--configfile", "config/smoke.yaml")
    assert counts["make_scorecard"] == 1 and "make_table" not in counts
    assert counts["train_model"] == len(all_runs(config))
    # each check reads its experiment's read-outs, not the all-runs table
    assert "aggregate_runs" not in counts and counts["aggregate_experiment_runs"] >= 1
    assert "assemble_kernel_table" not in counts  # config/smoke.yaml has no theory section


def test_scorecard_reads_the_theory_tables_when_the_config_has_them():
    counts = dry_run_counts("results/tables/scorecard.md", "--configfile", "config/quick.yaml")
    assert counts["make_scorecard"] == 1
    assert counts["assemble_expressivity_table"] == counts["assemble_kernel_table"] == 1


def test_scorecard_and_theory_target_lists():
    config = load("config/quick.yaml")
    inputs = targets.scorecard_inputs(config)
    experiments = targets.scorecard_experiments(config)
    assert experiments["table1"] == [config["tables"]["table1"]["experiment"]]
    assert experiments["table2"] == []  # Table 2 needs ImageNet
    for name in {e for names in experiments.values() for e in names}:
        assert inputs[f"runs_{name}"] == f"results/tables/experiments/{name}/runs.parquet"
        assert inputs[f"curves_{name}"] == f"results/tables/experiments/{name}/curves.parquet"
    assert inputs["expressivity"] == "results/tables/expressivity.parquet"
    assert inputs["kernels"] == "results/tables/table3_kernels.parquet"
    draws = targets.scorecard_draws(config)
    assert draws and all(d["corruption"] == "random_labels" for d in draws)
    assert inputs["draws"] == [d[s] for d in draws for s in ("train", "test")]
    no_theory = {k: v for k, v in config.items() if k != "theory"}
    assert not {"expressivity", "kernels"} & set(targets.scorecard_inputs(no_theory))
    assert targets.theory_targets(no_theory) == []
    assert "results/tables/table3_kernels.md" in targets.theory_targets(config)
    assert targets.short_targets(config)["scorecard"] == targets.scorecard_files()
    assert set(targets.scorecard_files()) <= set(targets.report_targets(config))
