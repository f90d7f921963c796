"""Several runs per GPU: the resources each train job declares, locally and under Slurm."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
PAPER_RUNS = 55


def paper_config(tmp_path: Path, **training) -> Path:
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    config["training"].update(training)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(tmp_path: Path, *args: str, dry: bool = True) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        *(["-n"] if dry else []),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(tmp_path / "work"),
        *args,
        "--workflow-profile",
        "none",
    ]  # the per-job blocks are read
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def train_resources(output: str) -> list[str]:
    blocks = re.findall(r"rule train_model:.*?resources: ([^\n]*)", output, re.S)
    assert len(blocks) == PAPER_RUNS, output[-2000:]
    return blocks


@pytest.mark.parametrize(
    "runs_per_gpu, slots, claims_gpu",
    [
        (4, 8, "gpu=0,"),  # several runs share each GPU through gpu_slots
        (1, 2, "gpu=1,"),  # one run per GPU claims a whole GPU
    ],
)
def test_local_runs_claim_gpu_slots(tmp_path, runs_per_gpu, slots, claims_gpu):
    config = paper_config(tmp_path, device="cuda", runs_per_gpu=runs_per_gpu)
    result = snakemake(
        tmp_path, "--cores", "8", "--resources", "gpu=2", "--configfile", str(config)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"gpu_slots={slots}: 2 GPU(s) x {runs_per_gpu} training run(s) per GPU" in result.stderr
    for resources in train_resources(result.stdout):
        assert claims_gpu in resources and "gpu_slots=1" in resources


def test_device_auto_claims_no_gpu(tmp_path):
    config = paper_config(tmp_path, device="auto")
    result = snakemake(tmp_path, "--cores", "8", "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-3000:]
    for resources in train_resources(result.stdout):
        assert "gpu=0," in resources and "gpu_slots=0" in resources


def test_slurm_packed_profile_groups_runs_onto_one_gpu_job(tmp_path):
    config = paper_config(tmp_path, device="cuda", runs_per_gpu=4)
    result = snakemake(
        tmp_path, "--profile", "slurm", "--profile", "slurm/packed", "--configfile", str(config)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gpu_slots=4: 1 GPU(s) x 4 training run(s) per GPU" in result.stderr
    groups = result.stdout.split("Group job train")[1:]
    assert len(groups) == -(-PAPER_RUNS // 8)  # group-components: 8 runs per Slurm job
    # Members are indented; the next unindented job header ends the group.
    members = [
        len(re.findall(r"^ {4}rule train_model:", re.split(r"\n(?=\[|rule )", g, 1)[0], re.M))
        for g in groups
    ]
    assert sum(members) == PAPER_RUNS and max(members) == 8
    for resources in train_resources(result.stdout):
        assert re.search(r"gpu=0, gpu_slots=1, gres=gpu:1", resources), resources


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_device_without_gpu_stops_before_any_job(tmp_path):
    config = paper_config(tmp_path, device="cuda")
    result = snakemake(tmp_path, "--cores", "1", "--configfile", str(config), dry=False)
    assert result.returncode != 0
    assert "training.device is 'cuda'" in result.stderr
    assert not (tmp_path / "work" / "resources").exists()
    assert not (tmp_path / "work" / "results").exists()
