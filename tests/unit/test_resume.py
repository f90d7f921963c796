"""A training process SIGKILLed mid-run resumes from its checkpoint and finishes with
metrics identical to an uninterrupted run (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from rethinkgen.data.splits import load_split, save_split
from rethinkgen.training.engine import train
from rethinkgen.training.settings import TrainConfig
from tests.conftest import make_split

REPO = Path(__file__).resolve().parents[2]
MAX_EPOCHS = 16
# Dropout (global torch RNG), random crops and flip/rotation (data generator) and
# momentum buffers all have to be restored exactly for the curves to match.
RUN = {
    "dataset": "tiny",
    "model": "mlp",
    "corruption": "random_labels",
    "regularizer": "aug",
    "seed": 7,
    "model_spec": {"arch": "mlp", "hidden": [256], "lr": 0.02},
    "regularizer_spec": {
        "random_crop": True,
        "augment": True,
        "dropout": 0.3,
        "weight_decay": 1e-4,
    },
    "training": {
        "max_epochs": MAX_EPOCHS,
        "batch_size": 32,
        "crop_size": 12,
        "stop_when_fitted": False,
        "num_threads": 1,
    },
}

TRAINER = textwrap.dedent("""
    import sys
    from rethinkgen.data.splits import load_split
    from rethinkgen.io import write_json, write_parquet
    from rethinkgen.training.settings import TrainConfig
    from rethinkgen.training.engine import train

    run, data_dir, checkpoint, out_dir = eval(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    result = train(TrainConfig.from_dict(run), load_split(data_dir + "/train.npz"),
                   load_split(data_dir + "/test.npz"), checkpoint_path=checkpoint)
    write_parquet(result.metrics, out_dir + "/metrics.parquet")
    write_json(result.info, out_dir + "/run_info.json")
""")


def _command(tmp_path: Path, name: str) -> list[str]:
    out = tmp_path / name
    out.mkdir()
    return [
        sys.executable,
        str(tmp_path / "trainer.py"),
        repr(RUN),
        str(tmp_path / "data"),
        str(tmp_path / name / "last.pt"),
        str(out),
    ]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH")) if p
    )
    return env


def _checkpoint_epoch(path: Path) -> int:
    # Read-only peek while the trainer writes: load_checkpoint could race the writer's
    # checksum update and move the live checkpoint aside.
    ckpt = torch.load(path, weights_only=True) if path.exists() else None
    return ckpt["state"]["epoch"] if ckpt else 0


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "trainer.py").write_text(TRAINER)
    (tmp_path / "data").mkdir()
    save_split(make_split(n=2000, h=16, w=16, c=1, seed=11), tmp_path / "data" / "train.npz")
    save_split(make_split(n=100, h=16, w=16, c=1, seed=12), tmp_path / "data" / "test.npz")
    return tmp_path


def test_sigkill_then_rerun_matches_uninterrupted_run(workdir: Path):
    # The uninterrupted reference runs in-process (interpreter start-ups cost seconds).
    reference = train(
        TrainConfig.from_dict(RUN),
        load_split(workdir / "data" / "train.npz"),
        load_split(workdir / "data" / "test.npz"),
    )

    command = _command(workdir, "killed")
    checkpoint = Path(command[4])
    proc = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    # Kill as soon as a mid-run checkpoint exists (no grace: SIGKILL at an arbitrary point).
    while _checkpoint_epoch(checkpoint) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "training finished before it could be killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _checkpoint_epoch(checkpoint)
    assert 2 <= killed_at < MAX_EPOCHS
    assert not (checkpoint.parent / "metrics.parquet").exists()

    # Rerun (in-process, like a restarted job) from the killed run's checkpoint.
    resumed = train(
        TrainConfig.from_dict(RUN),
        load_split(workdir / "data" / "train.npz"),
        load_split(workdir / "data" / "test.npz"),
        checkpoint_path=checkpoint,
    )
    assert resumed.info["resumed_from_epoch"] >= killed_at
    assert resumed.info["epochs"] == MAX_EPOCHS

    timing = ["wall_time_s", "images_per_s"]
    expected = reference.metrics.drop(columns=timing)
    actual = resumed.metrics.drop(columns=timing)
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)


def test_rng_state_round_trip_restores_generators():
    from rethinkgen.training.checkpoint import capture_rng_states, restore_rng_states

    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(4)
    states = capture_rng_states({"data": gen})
    first = (torch.rand(3, generator=gen), torch.rand(3))
    restore_rng_states(states, {"data": gen})
    assert torch.equal(torch.rand(3, generator=gen), first[0])
    assert torch.equal(torch.rand(3), first[1])
