"""The status table: every state classified from planted files, and a real training job
watched while it runs."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from rethinkgen.data.splits import save_split
from rethinkgen.io import write_json, write_parquet
from rethinkgen.run import RunKeys as Run
from rethinkgen.run import RunPaths
from rethinkgen.status import format_duration, grid_status, main, render_table, summary_line
from rethinkgen.training.live import read_live_metrics
from tests.conftest import make_split
from tests.unit.test_live import metrics_frame

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=timezone.utc)


def run_of(corruption: str) -> Run:
    return Run("fashion_mnist_tiny", "mlp_1x512", corruption, "none", 0)


def plant_progress(
    run: Run,
    results: Path,
    epoch: int,
    *,
    max_epochs: int = 10,
    status: str | None = None,
    age_s: float = 5.0,
    pid: int | None = None,
    host: str | None = None,
) -> RunPaths:
    files = run.paths(results)
    write_parquet(metrics_frame(epoch), files.live_metrics)
    write_json(
        {
            "epoch": epoch,
            "max_epochs": max_epochs,
            "step": 10 * epoch,
            "status": status,
            "epochs_to_fit": None,
            "wall_time_s": 10.0 * epoch,
            "updated_at": (NOW - timedelta(seconds=age_s)).isoformat(),
            "pid": os.getpid() if pid is None else pid,
            "host": socket.gethostname() if host is None else host,
        },
        files.progress,
    )
    return files


def plant_run_info(
    run: Run, results: Path, status: str, epochs: int, epochs_to_fit: int | None
) -> RunPaths:
    files = run.paths(results)
    last = {"epoch": epochs, "accuracy": 0.9, "loss": 0.3}
    write_json(
        {
            "status": status,
            "epochs": epochs,
            "epochs_to_fit": epochs_to_fit,
            "final": {
                "train_online": last,
                "train": {**last, "accuracy": 0.95},
                "test": {**last, "accuracy": 0.8},
            },
            "wall_time_s": 125.0,
        },
        files.info,
    )
    return files


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_every_state_is_classified_from_its_files(tmp_path: Path, dead_pid: int):
    results = tmp_path / "results"
    runs = {
        name: run_of(name)
        for name in (
            "untouched",
            "running_here",
            "running_remote",
            "crashed_here",
            "stale_remote",
            "fitted",
            "max_epochs",
            "diverged",
            "rerun",
            "writing_outputs",
        )
    }
    plant_progress(runs["running_here"], results, 3)
    plant_progress(runs["running_remote"], results, 4, host="gpu-node-17", age_s=60)
    plant_progress(runs["crashed_here"], results, 2, pid=dead_pid)
    plant_progress(runs["stale_remote"], results, 5, host="gpu-node-17", age_s=3 * 3600)
    plant_run_info(runs["fitted"], results, "fitted", 12, 11)
    plant_run_info(runs["max_epochs"], results, "max_epochs", 20, None)
    plant_run_info(runs["diverged"], results, "diverged", 2, None)
    plant_progress(runs["diverged"], results, 2, status="diverged", age_s=30, pid=dead_pid)
    info = plant_run_info(runs["rerun"], results, "max_epochs", 20, None).info
    old = time.time() - 3600
    os.utime(info, (old, old))
    plant_progress(runs["rerun"], results, 1)
    plant_progress(runs["writing_outputs"], results, 6, status="fitted")

    statuses = {
        s.run.corruption: s
        for s in grid_status(list(runs.values()), results, stale_after_s=1800, now=NOW)
    }
    details = {name: s.detail for name, s in statuses.items()}
    assert details == {
        "untouched": "not started",
        "running_here": "running at epoch 3 of 10",
        "running_remote": "running at epoch 4 of 10",
        "crashed_here": "failed after epoch 2 of 10",
        "stale_remote": "stale, last seen 3h00m ago at epoch 5 of 10 on gpu-node-17",
        "fitted": "fitted at epoch 11",
        "max_epochs": "finished at epoch 20, not fitted",
        "diverged": "diverged at epoch 2",
        "rerun": "running at epoch 1 of 10",
        "writing_outputs": "running at epoch 6 of 10",
    }
    running = statuses["running_here"]
    # 10 s per epoch so far, 7 epochs left, the last progress 5 s ago.
    assert running.elapsed_s == pytest.approx(35.0)
    assert running.remaining_s == pytest.approx(65.0)
    expected = metrics_frame(3)
    assert running.test_accuracy == expected[expected["split"] == "test"]["accuracy"].iloc[-1]
    assert running.train_accuracy == expected[expected["split"] == "train"]["accuracy"].iloc[-1]
    assert statuses["writing_outputs"].remaining_s == 0.0
    plant_progress(runs["untouched"], results, 0)  # only the epoch-0 evaluation is timed
    assert grid_status([runs["untouched"]], results, now=NOW)[0].remaining_s is None
    fitted = statuses["fitted"]
    assert (fitted.train_accuracy, fitted.test_accuracy, fitted.elapsed_s) == (0.95, 0.8, 125.0)
    assert statuses["crashed_here"].log == (
        tmp_path / "logs/train_model/fashion_mnist_tiny/mlp_1x512/crashed_here/none/seed0.log"
    )

    summary = summary_line(list(statuses.values()))
    assert summary.startswith(
        "3 of 10 runs finished (1 fitted, 1 at max_epochs, 1 diverged), "
        "4 running, 1 failed, 1 not started, 1 stale"
    )


def test_a_remote_run_with_slow_epochs_is_not_called_stale_early(tmp_path: Path):
    run = run_of("true_labels")
    # 10 s per epoch recorded; 50 s quiet < 3 epochs' time, though > stale_after_s.
    plant_progress(run, tmp_path, 1, host="gpu-node-3", age_s=25)
    assert grid_status([run], tmp_path, stale_after_s=10, now=NOW)[0].state == "running"
    plant_progress(run, tmp_path, 1, host="gpu-node-3", age_s=31)
    assert grid_status([run], tmp_path, stale_after_s=10, now=NOW)[0].state == "stale"


def test_durations_read_naturally():
    assert [format_duration(s) for s in (None, 7, 65, 3 * 3600 + 125)] == [
        "",
        "7s",
        "1m05s",
        "3h02m",
    ]


def test_command_prints_the_grid_and_a_summary(tmp_path: Path, capsys, monkeypatch):
    results = tmp_path / "results"
    plant_run_info(run_of("true_labels"), results, "fitted", 12, 11)
    plant_progress(run_of("random_labels"), results, 3)
    main(
        [
            "--configfile",
            str(REPO / "config/smoke.yaml"),
            "--results",
            str(results),
            "--experiment",
            "fig1a",
        ]
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:6] == [
        "dataset",
        "model",
        "corruption",
        "regularizer",
        "seed",
        "status",
    ]
    assert len([line for line in lines if line.startswith("fashion_mnist_tiny")]) == 5
    assert "fitted at epoch 11" in out and "running at epoch 3 of 10" in out
    assert lines[-1].startswith(
        "1 of 5 runs finished (1 fitted, 0 at max_epochs, 0 diverged), "
        "1 running, 0 failed, 3 not started"
    )
    assert "╭" not in out  # plain text when not a terminal
    assert "╭" in render_table(grid_status([run_of("x")], results), tty=True)


def test_unknown_experiment_or_missing_config_says_what_to_do(tmp_path: Path):
    with pytest.raises(SystemExit, match="configured: fig1a"):
        main(["--configfile", str(REPO / "config/smoke.yaml"), "--experiment", "fig9"])
    with pytest.raises(SystemExit, match="not found"):
        main(["--configfile", str(tmp_path / "nope.yaml")])


# ----------------------------------------------------------------------------- live job

WATCHED = Run("tiny", "mlp", "random_labels", "none", 0)
MAX_EPOCHS = 30
TRAINER = textwrap.dedent("""
    import sys
    from rethinkgen.data.splits import load_split
    from rethinkgen.io import write_json, write_parquet
    from rethinkgen.training.settings import TrainConfig
    from rethinkgen.training.engine import train
    from rethinkgen.training.live import epoch_hook
    from rethinkgen.run import RunKeys

    run, data, results = eval(sys.argv[1]), sys.argv[2], sys.argv[3]
    paths = RunKeys.of(run).paths(results)
    cfg = TrainConfig.from_dict(run)
    result = train(cfg, load_split(data + "/train.npz"), load_split(data + "/test.npz"),
                   checkpoint_path=paths.checkpoint,
                   on_epoch=epoch_hook(paths, tensorboard=cfg.tensorboard))
    write_parquet(result.metrics, paths.metrics)
    write_json(result.info, paths.info)
""")


def test_a_real_training_job_is_watched_as_its_epochs_advance(tmp_path: Path):
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    run = {
        **vars(WATCHED),
        "model_spec": {"arch": "mlp", "hidden": [256], "lr": 0.02},
        "regularizer_spec": {},
        "training": {
            "max_epochs": MAX_EPOCHS,
            "batch_size": 32,
            "crop_size": 12,
            "stop_when_fitted": False,
            "num_threads": 1,
            "tensorboard": tensorboard,
        },
    }
    (tmp_path / "data").mkdir()
    save_split(make_split(n=2000, h=16, w=16, c=1, seed=11), tmp_path / "data/train.npz")
    save_split(make_split(n=100, h=16, w=16, c=1, seed=12), tmp_path / "data/test.npz")
    (tmp_path / "trainer.py").write_text(TRAINER)
    results = tmp_path / "results"
    files = WATCHED.paths(results)
    files.info.parent.mkdir(parents=True)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH")) if p
        ),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            str(tmp_path / "trainer.py"),
            repr(run),
            str(tmp_path / "data"),
            str(results),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    seen = []  # (epoch in the status table, last epoch in the live file) while running
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        status = grid_status([WATCHED], results)[0]
        if status.state == "running":
            live = read_live_metrics(files.live_metrics)
            seen.append((int(status.detail.split()[3]), int(live["epoch"].max())))
            assert status.detail.endswith(f"of {MAX_EPOCHS}")
            assert render_table([status]).count("running at epoch") == 1
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]

    table_epochs = [epoch for epoch, _ in seen]
    print(f"epochs seen in the status table while the job ran: {sorted(set(table_epochs))}")
    assert len(set(table_epochs)) >= 3, f"saw too few epochs while running: {seen}"
    assert table_epochs == sorted(table_epochs)  # they only advance
    assert all(live_epoch >= epoch for epoch, live_epoch in seen)  # rows land before progress

    final = grid_status([WATCHED], results)[0]
    assert final.state == "finished" and final.detail.startswith(f"finished at epoch {MAX_EPOCHS}")
    # The live file ends as the run's metrics.parquet, schema and rows.
    pd.testing.assert_frame_equal(
        pd.read_parquet(files.live_metrics), pd.read_parquet(files.info.parent / "metrics.parquet")
    )
    if tensorboard:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(results / "tensorboard/tiny/mlp/random_labels/none/seed0"))
        events.Reload()
        assert [e.step for e in events.Scalars("accuracy/test")] == list(range(MAX_EPOCHS + 1))
