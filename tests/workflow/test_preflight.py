"""Checks when a run starts: the GPU check stops only training jobs, and a Slurm profile
without Slurm's commands names the missing command."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from rethinkgen.preflight import missing_executor_commands, runs_training
from tests.workflow.dag import ROOT

SMOKE = str(ROOT / "config/smoke.yaml")
DATA = "resources/datasets/fashion_mnist_tiny/data_seed20170424/train.npz"
TRAINED = "results/runs/fashion_mnist_tiny/mlp_1x512/true_labels/none/seed0/metrics.parquet"
NEEDS_CUDA = not __import__("torch").cuda.is_available()


def run(tmp_path: Path, *args: str, env: dict | None = None):
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT / "src")}
    import subprocess

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            SMOKE,
            "--cores",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_missing_slurm_commands_are_named():
    assert missing_executor_commands("local") is None and missing_executor_commands(None) is None
    message = missing_executor_commands("slurm", which=lambda c: None if c == "sbatch" else "/x")
    assert "sbatch is not on PATH" in message and "login node" in message
    assert missing_executor_commands("slurm", which=lambda c: "/usr/bin/" + c) is None


def test_training_rule_is_recognised_also_under_a_module_prefix():
    assert runs_training(["prepare_dataset", "train_model"])
    assert runs_training(["rethinkgen_train_model"])
    assert not runs_training(["prepare_dataset", "corrupt_dataset", "solve_kernel", "all"])


@pytest.mark.skipif(not NEEDS_CUDA, reason="a GPU is present: the check lets everything run")
def test_device_cuda_without_a_gpu_stops_training_but_not_data_jobs(tmp_path):
    cuda = ("--config", "training={device: cuda}")
    data = run(tmp_path, DATA, *cuda)
    assert data.returncode == 0, data.stderr[-3000:]
    assert (tmp_path / DATA).is_file()
    training = run(tmp_path, TRAINED, *cuda)
    assert training.returncode != 0
    assert "training.device is 'cuda' for run " in training.stderr
    assert not (tmp_path / "results/data").exists()  # stopped before the first job


def path_without_slurm(folder: Path) -> str:
    """A PATH of this machine's commands minus Slurm's, whatever the machine has."""
    folder.mkdir()
    for directory in reversed(os.environ["PATH"].split(os.pathsep)):
        for command in Path(directory).glob("*") if Path(directory).is_dir() else ():
            if not command.name.startswith(("sbatch", "squeue", "sacct", "sinfo", "srun")):
                (folder / command.name).unlink(missing_ok=True)
                (folder / command.name).symlink_to(command)
    return os.pathsep.join([os.path.dirname(sys.executable), str(folder)])


def test_slurm_profile_without_slurm_names_the_missing_command(tmp_path):
    result = run(
        tmp_path / "work",
        TRAINED,
        "--profile",
        str(ROOT / "profiles/slurm"),
        env={"PATH": path_without_slurm(tmp_path / "bin")},
    )
    assert result.returncode != 0
    assert "needs the commands sbatch, squeue, but sbatch, squeue are not on PATH" in result.stderr
    assert not (tmp_path / "work/resources").exists()  # before any job, local ones included


def test_unknown_target_lists_the_short_targets(tmp_path):
    from rethinkgen.targets import unknown_target_message

    assert unknown_target_message(["fig1a", "results/a.pdf"], ["fig1a", "all"]) is None
    result = run(tmp_path, "fig9", "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no target named 'fig9'. Targets: " in output and "fig1a, fig1b, fig1c" in output
    assert "--list-target-rules" in output and "MissingRuleException" not in output
    (tmp_path / "notes").write_text("a file, not a target\n")  # an existing file is no error
    assert run(tmp_path, "notes", "-n").returncode == 0
    listing = run(tmp_path, "-n", "--quiet", "rules")  # the default target plans no such job
    assert listing.returncode == 0 and "train_model" in listing.stdout
    assert not re.search(r"^unknown_target\s", listing.stdout, re.M)


@pytest.mark.skipif(not NEEDS_CUDA, reason="a GPU is present: the check lets everything run")
def test_device_cuda_by_override_stops_before_any_job(tmp_path):
    """`override=` reaches the run by another road than `training:`: the same stop."""
    training = run(tmp_path, TRAINED, "--config", "override={device: cuda}")
    assert training.returncode != 0
    assert "training.device is 'cuda' for run fashion_mnist_tiny/" in training.stderr
    assert not (tmp_path / "results/data").exists()  # stopped before the first job
