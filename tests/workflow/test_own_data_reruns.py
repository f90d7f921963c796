"""Your own data belongs to a run's identity, end to end (issue 30 item 1): a run trained on
an npz file, then the file overwritten with other data: `snakemake -n` rebuilds the
prepared split and retrains the run, and `rethinkgen status` shows it outdated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rethinkgen.status import main as status_main
from tests.workflow.dag import ROOT

RUN = "fashion_mnist_tiny/mlp_1x512/true_labels/none/seed0"
TARGET = f"results/runs/{RUN}/metrics.parquet"


def write_npz(path: Path, n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = np.arange(n) % k
    np.savez(path, x_train=x, y_train=y, x_test=x[: 2 * k], y_test=y[: 2 * k])


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(workdir),
            "--configfile",
            str(config),
            "--cores",
            "1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.slow
def test_an_overwritten_npz_retrains_its_run(tmp_path, capsys, monkeypatch):
    data = tmp_path / "mine.npz"
    write_npz(data, 64, 4, seed=0)
    config = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    config["datasets"]["fashion_mnist_tiny"] = {"name": "npz", "root": str(data)}
    config["training"] |= {"max_epochs": 1, "amp": "off", "crop_size": None}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    trained = snakemake(work, path, TARGET)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "Nothing to be done" in snakemake(work, path, TARGET, "-n").stdout

    write_npz(data, 200, 7, seed=1)  # the case: other images, other classes
    dry = snakemake(work, path, TARGET, "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "prepare_dataset" in dry.stdout and "train_model" in dry.stdout

    monkeypatch.chdir(work)
    status_main(["--configfile", str(path), "--experiment", "fig1a"])
    out = capsys.readouterr().out
    assert "outdated (finished at epoch 1" in out and "the dataset's files" in out
