"""Checks made once when a workflow run starts (Snakemake's onstart), before any job:
the commands a cluster executor needs, and a GPU only where training jobs will run."""

from __future__ import annotations

import shutil
from typing import Callable, Iterable

# What snakemake-executor-plugin-slurm runs: sbatch submits, squeue or sacct polls.
EXECUTOR_COMMANDS = {"slurm": ("sbatch", "squeue")}
TRAINING_RULE = "train_model"


def missing_executor_commands(
    executor: str | None, which: Callable[[str], str | None] = shutil.which
) -> str | None:
    """Why the chosen executor cannot submit from this machine, or None."""
    missing = [c for c in EXECUTOR_COMMANDS.get(executor or "", ()) if which(c) is None]
    if not missing:
        return None
    return (
        f"--executor {executor} (e.g. from --profile slurm) needs the commands "
        f"{', '.join(EXECUTOR_COMMANDS[executor])}, but {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} not on PATH on this machine. Run "
        "Snakemake on your cluster's login node (where `sinfo` works), or drop "
        "--profile slurm to run locally."
    )


def runs_training(rule_names: Iterable[str]) -> bool:
    """Whether any of the jobs to run trains a model (also under a module's prefix)."""
    return any(n == TRAINING_RULE or n.endswith("_" + TRAINING_RULE) for n in rule_names)


def cuda_run(runs: Iterable, settings_of: Callable) -> tuple[object, dict] | None:
    """(run, its settings) of the first run to train whose resolved ``device`` is CUDA
    (by `training:`, its model's or regularizer's section, or `override`), or None."""
    for run in runs:
        settings = settings_of(run)
        if str(settings.get("device", "auto")).startswith("cuda"):
            return run, settings
    return None
