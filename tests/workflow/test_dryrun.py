"""The DAG of both shipped configs: every run once, every corruption drawn once."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rethinkgen.config import all_runs, used_dataset_corruptions
from tests.workflow.dag import dry_run_counts, snakemake

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml"])
def test_dry_run_lists_each_run_and_corruption_once(configfile):
    config = yaml.safe_load((ROOT / configfile).read_text())
    counts = dry_run_counts("all", "--configfile", configfile)
    pairs = used_dataset_corruptions(config)
    assert counts["train_model"] == len(all_runs(config))
    assert counts["corrupt_dataset"] == len(pairs)
    theory = config.get("theory", {})
    theory_datasets = set(theory.get("expressivity", {}).get("datasets", []))
    theory_datasets |= {row["dataset"] for row in theory.get("kernel_solves", {}).values()}
    assert counts["prepare_dataset"] == len({dataset for dataset, _ in pairs} | theory_datasets)
    assert counts["solve_kernel"] == len(theory.get("kernel_solves", {}))


def test_paper_grid_size():
    # New runs per experiment, in order: Fig. 1a 5; Fig. 1b/c 33 less 2 shared with 1a;
    # Table 1 6 + 5 + 2 (crop/wd, no-crop models, random labels); Table 4 6; Fig. 2b none new.
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    assert len(all_runs(config)) == 5 + 31 + 13 + 6 + 0


def test_costliest_training_jobs_have_the_highest_priority(tmp_path):
    result = snakemake(
        "-n",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path),
        "all",
        "--workflow-profile",
        "none",
        cwd=tmp_path,
    )  # per-job blocks
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(
        r"rule train_model:.*?wildcards: dataset=\S+ model=(\w+),.*?priority: (\d+)",
        result.stdout,
        re.S,
    )
    by_model = {}
    for model, priority in jobs:
        by_model.setdefault(model, set()).add(int(priority))
    assert len(jobs) == len(all_runs(yaml.safe_load((ROOT / "config/config.yaml").read_text())))
    # Inception without BatchNorm (60 epochs) > Inception (35) > AlexNet > MLP 1x512
    assert min(by_model["inception_nobn"]) > max(by_model["inception"])
    assert min(by_model["inception"]) > max(by_model["alexnet"]) > max(by_model["mlp_1x512"])
    # the data jobs that unlock them come before any of them
    data = re.findall(r"rule (?:prepare|corrupt)_dataset:.*?priority: (\d+)", result.stdout, re.S)
    assert data and min(map(int, data)) > max(int(p) for _, p in jobs)


def test_default_config_is_the_offline_one():
    counts_default = dry_run_counts("all")
    counts_quick = dry_run_counts("all", "--configfile", "config/config.yaml")
    assert counts_default == counts_quick


def test_lint_passes():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_clean():
    files = ["Snakefile", *map(str, sorted((ROOT / "workflow/rules").glob("*.smk")))]
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
