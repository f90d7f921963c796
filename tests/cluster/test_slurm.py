"""The workflow through `snakemake --profile slurm` on a real one-node Slurm cluster.

Smallest slice of the offline default (tests/cluster/slurm-slice.yaml) with a fake GPU; then
a training job killed in the middle (scancel, as a time limit or preemption would) and a job
requeued by Slurm (preemption with requeue) both continue from their checkpoint instead of
restarting.
Run: .ci/slurm-smoke.sh   (or, with a cluster up: pytest -m slurm tests/cluster)
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import finish, jobs, run_snakemake, start_snakemake, tail, wait_for

pytestmark = pytest.mark.slurm

SMOKE = ["--configfile", "tests/cluster/slurm-slice.yaml"]
PREEMPT = ["--configfile", "tests/cluster/slurm-slice.yaml", "tests/cluster/preempt.yaml"]
RUN = "fashion_mnist_500/mlp_1x512/{corruption}/none/seed0"
EPOCHS = yaml.safe_load((Path(__file__).parent / "preempt.yaml").read_text())["training"][
    "max_epochs"
]


def run_dir(workdir: Path, corruption: str) -> Path:
    return workdir / target(corruption).rsplit("/", 1)[0]


def target(corruption: str) -> str:
    """A run's final output, relative to the working directory (as Snakemake wants it)."""
    return f"results/slurm-slice/runs/{RUN.format(corruption=corruption)}/run_info.json"


def checkpoint(workdir: Path, corruption: str) -> Path:
    checkpoints = workdir / "results/slurm-slice/checkpoints"
    return checkpoints / RUN.format(corruption=corruption) / "last.pt"


def train_jobs(workdir: Path, corruption: str, states: str = "all") -> list[dict]:
    return [
        j
        for j in jobs(workdir, states)
        if j["Comment"].startswith("rule_train_model") and corruption in j["Comment"]
    ]


def assert_run_complete(workdir: Path, corruption: str, epochs: int) -> dict:
    out = run_dir(workdir, corruption)
    info = json.loads((out / "run_info.json").read_text())
    assert info["epochs"] == epochs, info
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert metrics["epoch"].max() == epochs
    assert not metrics.duplicated(["epoch", "split"]).any(), "an epoch was logged twice"
    assert (out / "model.pt").stat().st_size > 0
    assert not checkpoint(workdir, corruption).exists(), "checkpoint left after success"
    return info


def test_smoke_slice_via_slurm_profile(workdir):
    """Both runs train as Slurm jobs on the gpu partition, each with --gpus=1."""
    rc, output = run_snakemake(workdir, *SMOKE, log_name="smoke.log", timeout=300)
    assert rc == 0, tail(workdir / "smoke.log")
    for corruption in ("true_labels", "random_labels"):
        info = assert_run_complete(workdir, corruption, epochs=2)
        assert info["resumed_from_epoch"] is None
        (job,) = train_jobs(workdir, corruption)
        assert job["State"] == "COMPLETED", job
        assert job["Partition"] == "gpu", job
        assert job["tres-per-job"] == "gres:gpu:1", job  # the plugin's standard `gpu` resource
        assert job["NumCPUs"] == "2" and job["MinMemory"] == "8000M", job
    # Cheap rules (localrules) ran on the submit host, the tables from both runs exist.
    runs = pd.read_parquet(workdir / "results/slurm-slice/tables/runs.parquet")
    assert len(runs) == 2
    assert "localrule make_scorecard" in output and "rule train_model" in output


def test_killed_training_job_resumes_on_rerun(workdir):
    """scancel a running training job: Snakemake reports it with its Slurm log; the rerun
    continues from the last checkpoint."""
    corruption = "random_labels"
    proc = start_snakemake(
        workdir, target(corruption), "--retries", "0", *PREEMPT, log_name="killed.log"
    )
    wait_for(
        lambda: checkpoint(workdir, corruption).exists(), 240, "the first checkpoint", proc=proc
    )
    (job,) = train_jobs(workdir, corruption, states="RUNNING")
    subprocess.run(["scancel", job["JobID"]], check=True)
    output = finish(proc, workdir, "killed.log", timeout=240)
    assert proc.returncode != 0
    assert f"SLURM-job '{job['JobID']}' failed, SLURM status is: 'CANCELLED'" in output
    # The failed job's Slurm log is named in Snakemake's error message and kept.
    logs = re.findall(r"(/\S+/\.snakemake/slurm_logs/rule_train_model/\S+?\.log)", output)
    assert logs and Path(logs[0]).name == f"{job['JobID']}.log", output
    assert Path(logs[0]).is_file()
    assert checkpoint(workdir, corruption).exists(), "the checkpoint must survive the kill"
    assert not (run_dir(workdir, corruption) / "run_info.json").exists()

    rc, _ = run_snakemake(workdir, target(corruption), *PREEMPT, log_name="rerun.log")
    assert rc == 0, tail(workdir / "rerun.log")
    info = assert_run_complete(workdir, corruption, epochs=EPOCHS)
    assert 1 <= (info["resumed_from_epoch"] or 0) < EPOCHS, info


def test_requeued_training_job_resumes(workdir):
    """Preemption with requeue (the profile submits with --requeue): Slurm restarts the same
    job, Snakemake keeps waiting, and the job continues from its checkpoint."""
    corruption = "true_labels"
    proc = start_snakemake(workdir, target(corruption), *PREEMPT, log_name="requeued.log")
    wait_for(
        lambda: checkpoint(workdir, corruption).exists(), 240, "the first checkpoint", proc=proc
    )
    (job,) = train_jobs(workdir, corruption, states="RUNNING")
    subprocess.run(["scontrol", "requeue", job["JobID"]], check=True)
    # A requeued job waits ~2 min (BeginTime) before it may start again, which also lets the
    # old attempt die: after SIGTERM it trains on until SIGKILL (KillWait). Here: wait until
    # it stopped checkpointing, then let the job start at once.
    wait_for(
        lambda: any(j["State"] == "PENDING" for j in train_jobs(workdir, corruption)),
        60,
        "the requeued job to be pending",
    )
    wait_for(
        lambda: time.time() - checkpoint(workdir, corruption).stat().st_mtime > 2,
        30,
        "the old attempt to stop",
    )
    subprocess.run(["scontrol", "update", f"JobId={job['JobID']}", "StartTime=now"], check=True)
    output = finish(proc, workdir, "requeued.log", timeout=240)
    assert proc.returncode == 0, tail(workdir / "requeued.log")
    assert output.count("submitted with SLURM jobid") == 1, "Slurm, not Snakemake, restarted it"
    info = assert_run_complete(workdir, corruption, epochs=EPOCHS)
    assert 1 <= (info["resumed_from_epoch"] or 0) < EPOCHS, info
