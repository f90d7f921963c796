# Config validation and the input/params functions of every rule.
import os
import sys

from snakemake.utils import validate

# The package in src/ is importable here and in every job (scripts, conda envs, Slurm
# jobs) whether or not it was pip-installed.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (SRC, os.environ.get("PYTHONPATH")) if p
)

from rethinkgen.config import Run, all_runs, check_config, experiment_runs, run_config
from rethinkgen.config import used_dataset_corruptions


validate(config, schema="../schemas/config.schema.yaml")
check_config(config)

RUN_DIR = "results/runs/{dataset}/{model}/{corruption}/{regularizer}/seed{seed}"


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    model="|".join(config["models"]),
    corruption="|".join(config["corruptions"]),
    regularizer="|".join(config["regularizers"]),
    seed=r"\d+",
    split="train|test",


def run_from_wildcards(wildcards):
    return Run(
        wildcards.dataset,
        wildcards.model,
        wildcards.corruption,
        wildcards.regularizer,
        int(wildcards.seed),
    )


def get_run_config(wildcards):
    """The resolved settings of the run named by the wildcards (see docs/design.md)."""
    return run_config(config, run_from_wildcards(wildcards))


def get_checkpoint_path(wildcards):
    """Where a run checkpoints: not a declared output, so Snakemake keeps it for a resume."""
    return RUN_DIR.replace("results/runs", "results/checkpoints").format(
        **wildcards
    ) + "/last.pt"


def run_files(runs, name):
    """One file (metrics.parquet, run_info.json, ...) of each run."""
    return [RUN_DIR.format(**vars(run)) + "/" + name for run in runs]


def experiment_files(wildcards, name="metrics.parquet"):
    return run_files(experiment_runs(config, wildcards.experiment), name)


def training_targets():
    return run_files(all_runs(config), "run_info.json")


def get_dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def get_corruption_spec(wildcards):
    return config["corruptions"][wildcards.corruption]
