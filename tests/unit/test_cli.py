"""The training command: data digests in the fingerprint, SIGTERM, per-run log history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rethinkgen.data.splits import load_split, save_split
from rethinkgen.run import RunKeys, RunPaths
from rethinkgen.training import cli, engine
from rethinkgen.training.checkpoint import checksum_path, save_checkpoint
from rethinkgen.training.engine import TrainResult, train
from rethinkgen.training.records import metrics_frame
from rethinkgen.training.settings import TrainConfig
from tests.conftest import make_split
from tests.unit.test_train import run_dict


@pytest.fixture
def inputs(tmp_path):
    save_split(make_split(n=256, h=8, w=8, c=1, seed=1), tmp_path / "train.npz")
    save_split(make_split(n=64, h=8, w=8, c=1, seed=2), tmp_path / "test.npz")
    return tmp_path / "train.npz", tmp_path / "test.npz"


def test_input_digest_follows_content_not_path(inputs, tmp_path):
    train_path, test_path = inputs
    digest = cli.input_digest(train_path, test_path)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(train_path.read_bytes())
    assert cli.input_digest(copy, test_path) == digest
    assert cli.input_digest(test_path, train_path) != digest
    flipped = bytearray(train_path.read_bytes())
    flipped[-100] ^= 1
    copy.write_bytes(bytes(flipped))
    assert cli.input_digest(copy, test_path) != digest


def test_data_digest_covers_the_dataset_spec(inputs):
    run = run_dict() | {"dataset_spec": {"name": "imagenet", "root": "/data/a"}}
    moved = run | {"dataset_spec": {"name": "imagenet", "root": "/data/b"}}
    assert cli.data_digest(run, *inputs) != cli.data_digest(moved, *inputs)
    assert cli.data_digest(run, *inputs) == cli.data_digest(dict(run), *inputs)


def test_rerun_after_the_data_changed_does_not_resume(inputs, tmp_path):
    """The issue's case: a killed run's checkpoint, then n_train 256 -> 320, then a rerun."""
    train_path, test_path = inputs
    checkpoint = tmp_path / "ckpt" / "last.pt"
    run = run_dict(max_epochs=2) | {"dataset_spec": {"name": "tiny", "n_train": 256}}
    first = train(
        cli.train_config(run, train_path, test_path),
        load_split(train_path),
        load_split(test_path),
        checkpoint_path=checkpoint,
    )
    assert first.info["epochs"] == 2 and checkpoint.exists()  # as a killed run leaves it

    same = train(
        cli.train_config(run, train_path, test_path),
        load_split(train_path),
        load_split(test_path),
        checkpoint_path=checkpoint,
    )
    assert same.info["resumed_from_epoch"] == 2  # unchanged data: resumes

    save_split(make_split(n=320, h=8, w=8, c=1, seed=1), train_path)
    run["dataset_spec"]["n_train"] = 320
    rerun = train(
        cli.train_config(run, train_path, test_path),
        load_split(train_path),
        load_split(test_path),
        checkpoint_path=checkpoint,
    )
    assert rerun.info["resumed_from_epoch"] is None


def fake_result() -> TrainResult:
    metrics = metrics_frame(
        [
            {
                "epoch": 0,
                "step": 0,
                "split": "test",
                "loss": 2.3,
                "accuracy": 0.1,
                "top5_accuracy": float("nan"),
                "lr": 0.1,
                "wall_time_s": 0.0,
                "images_per_s": float("nan"),
            }
        ],
        TrainConfig.from_dict(run_dict()),
    )
    return TrainResult(
        metrics=metrics, info={"status": "max_epochs"}, model_state={"weight": torch.zeros(2)}
    )


def run_paths(tmp_path) -> RunPaths:
    """The files of run_dict()'s run under tmp_path/results."""
    return RunKeys.of(run_dict()).paths(tmp_path / "results")


def outputs(tmp_path) -> dict:
    paths = run_paths(tmp_path)
    return {"metrics": paths.metrics, "info": paths.info, "model": paths.model}


def test_sigterm_checkpoints_and_exits_with_the_retry_status(inputs, tmp_path, monkeypatch):
    interrupted = getattr(engine, "Interrupted", None) or type("Interrupted", (Exception,), {})
    monkeypatch.setattr(engine, "Interrupted", interrupted, raising=False)
    checkpoint = run_paths(tmp_path).checkpoint

    def train_until_signal(cfg, train_split, test_split, checkpoint_path, should_stop, **hooks):
        save_checkpoint({"fingerprint": "x", "state": {"epoch": 1}}, checkpoint_path)
        os.kill(os.getpid(), signal.SIGTERM)  # Slurm's time limit, mid-epoch
        assert should_stop()  # what the engine polls after the epoch's checkpoint
        raise interrupted("stop requested")

    monkeypatch.setattr(cli, "train_run", train_until_signal)
    with pytest.raises(SystemExit) as exit_info:
        cli.train_until_stopped(
            TrainConfig.from_dict(run_dict()), run_paths(tmp_path), train=inputs[0], test=inputs[1]
        )
    assert exit_info.value.code == 143
    assert checkpoint.exists() and checksum_path(checkpoint).exists()  # kept for the retry
    assert not any(path.exists() for path in outputs(tmp_path).values())


def test_finished_run_removes_checkpoint_checksum_and_log_history(inputs, tmp_path, monkeypatch):
    paths = run_paths(tmp_path)
    checkpoint = paths.checkpoint
    save_checkpoint({"fingerprint": "x"}, checkpoint)
    paths.history.write_text("epoch 1 of an earlier attempt\n")
    monkeypatch.setattr(cli, "train_run", lambda *args, **kwargs: fake_result())
    cli.train_and_write(TrainConfig.from_dict(run_dict()), paths, train=inputs[0], test=inputs[1])
    assert all(path.exists() for path in outputs(tmp_path).values())
    assert list(checkpoint.parent.iterdir()) == []
    assert list(outputs(tmp_path)["model"].parent.glob("*.sha256")) == []  # plain output


def test_sigterm_then_retry_resumes_from_the_checkpoint(inputs, tmp_path):
    """The training command as a job: SIGTERM mid-run, exit 143, then the retry resumes."""
    repo = Path(__file__).resolve().parents[2]
    run = run_dict(max_epochs=40, batch_size=8)
    (tmp_path / "run.json").write_text(json.dumps(run))
    checkpoint = run_paths(tmp_path).checkpoint
    command = [
        sys.executable,
        "-m",
        "rethinkgen.training.cli",
        "--run-config",
        str(tmp_path / "run.json"),
        "--train",
        str(inputs[0]),
        "--test",
        str(inputs[1]),
        "--threads",
        "1",
        *[f"--{name}={path}" for name, path in outputs(tmp_path).items()],
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo / "src"), str(repo)]))
    job = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        assert job.poll() is None, job.stderr.read()
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)
    stderr = job.communicate(timeout=120)[1]
    assert job.returncode == 143, stderr
    stopped_at = torch.load(checkpoint, weights_only=True)["state"]["epoch"]
    assert 1 <= stopped_at < 40

    retry = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert retry.returncode == 0, retry.stderr
    info = json.loads(outputs(tmp_path)["info"].read_text())
    assert info["resumed_from_epoch"] == stopped_at
