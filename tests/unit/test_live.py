"""The on_epoch hook: live metrics with metrics.parquet's schema, progress.json, and
TensorBoard scalars that survive a resume."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rethinkgen import schemas
from rethinkgen.io import read_json, write_parquet
from rethinkgen.run import RunKeys
from rethinkgen.schemas import METRIC_COLUMNS, METRIC_DTYPES
from rethinkgen.training.live import LiveFiles, epoch_hook

LIVE_METRICS, PROGRESS = "live_metrics.parquet", "progress.json"  # RunPaths' names


def live_files(folder: Path, tensorboard=None) -> LiveFiles:
    return LiveFiles(folder / LIVE_METRICS, folder / PROGRESS, tensorboard)


KEYS = {
    "dataset": "tiny",
    "model": "mlp",
    "corruption": "random_labels",
    "regularizer": "none",
    "seed": 3,
}
MAX_EPOCHS = 5


def metrics_frame(last_epoch: int) -> pd.DataFrame:
    """Rows of epochs 0..last_epoch as the engine builds them (docs/design.md types)."""
    rows = []
    for epoch in range(last_epoch + 1):
        lr = 0.01 * 0.95 ** max(epoch - 1, 0)
        splits = ("train", "test") if epoch == 0 else ("train_online", "train", "test")
        for index, split in enumerate(splits):
            rows.append(
                {
                    **KEYS,
                    "epoch": epoch,
                    "step": 10 * epoch,
                    "split": split,
                    "loss": 2.3 - 0.1 * epoch - 0.01 * index,
                    "accuracy": 0.1 + 0.05 * epoch + 0.001 * index,
                    "top5_accuracy": float("nan"),
                    "lr": lr,
                    "wall_time_s": 1.5 * epoch,
                    "images_per_s": 100.0,
                }
            )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS).astype(METRIC_DTYPES)


def progress(epoch: int, status: str | None = None) -> dict:
    return {
        "epoch": epoch,
        "max_epochs": MAX_EPOCHS,
        "step": 10 * epoch,
        "status": status,
        "epochs_to_fit": None,
        "wall_time_s": 1.5 * epoch,
    }


def test_live_metrics_has_the_metrics_schema_after_every_epoch(tmp_path: Path):
    hook = live_files(tmp_path / "run")
    final = tmp_path / "metrics.parquet"
    for epoch in range(MAX_EPOCHS + 1):
        hook(metrics_frame(epoch), progress(epoch))
        live = tmp_path / "run" / LIVE_METRICS
        read = pd.read_parquet(live)
        assert read["epoch"].max() == epoch
        pd.testing.assert_frame_equal(read, metrics_frame(epoch))
    # The schema metrics.parquet gets (the cli writes the engine's frame as is).
    write_parquet(metrics_frame(MAX_EPOCHS), final, schema=schemas.METRICS)
    assert pq.read_schema(live).equals(pq.read_schema(final))
    # Atomic replacement leaves no temporary files behind.
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LIVE_METRICS, PROGRESS]


def test_progress_json_names_epoch_process_and_host(tmp_path: Path):
    hook = live_files(tmp_path)
    hook(metrics_frame(2), progress(2))
    record = read_json(tmp_path / PROGRESS)
    assert record["epoch"] == 2 and record["max_epochs"] == MAX_EPOCHS
    assert record["status"] is None and record["step"] == 20
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert record["updated_at"].endswith("+00:00")
    hook(metrics_frame(3), progress(3, status="fitted"))
    assert read_json(tmp_path / PROGRESS)["status"] == "fitted"


def test_a_frame_without_the_metric_columns_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="lacks columns"):
        live_files(tmp_path)(metrics_frame(1).drop(columns=["split"]), progress(1))


def test_a_failed_write_warns_and_training_goes_on(tmp_path: Path, caplog):
    (tmp_path / "run").write_text("a file where the run's directory should be")
    live_files(tmp_path / "run")(metrics_frame(1), progress(1))
    assert "could not write the live files" in caplog.text


def test_epoch_hook_writes_beside_the_checkpoint(tmp_path: Path):
    paths = RunKeys(**KEYS).paths(tmp_path / "results")
    hook = epoch_hook(paths)
    hook(metrics_frame(1), progress(1))
    assert paths.live_metrics.exists() and paths.progress.exists()
    assert paths.live_metrics.parent == paths.checkpoint.parent
    assert not (tmp_path / "results/tensorboard").exists()


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(log_dir))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def test_tensorboard_event_files_hold_the_runs_scalars(tmp_path: Path):
    pytest.importorskip("tensorboard")
    paths = RunKeys(**KEYS).paths(tmp_path / "results")
    hook = epoch_hook(paths, tensorboard=True)
    for epoch in range(MAX_EPOCHS + 1):
        hook(metrics_frame(epoch), progress(epoch, "max_epochs" if epoch == MAX_EPOCHS else None))
    scalars = _scalars(tmp_path / "results/tensorboard/tiny/mlp/random_labels/none/seed3")
    expected = metrics_frame(MAX_EPOCHS)
    assert set(scalars) == {
        "lr",
        *(f"{m}/{s}" for m in ("loss", "accuracy") for s in ("train_online", "train", "test")),
    }
    for split, rows in expected.groupby("split"):
        for metric in ("loss", "accuracy"):
            steps = [step for step, _ in scalars[f"{metric}/{split}"]]
            values = [value for _, value in scalars[f"{metric}/{split}"]]
            assert steps == rows["epoch"].tolist()
            assert values == pytest.approx(rows[metric].tolist(), rel=1e-6)
    assert [step for step, _ in scalars["lr"]] == list(range(MAX_EPOCHS + 1))


def test_tensorboard_shows_each_epoch_once_after_a_resume(tmp_path: Path):
    pytest.importorskip("tensorboard")
    log_dir = tmp_path / "tb"
    first = live_files(tmp_path / "run", log_dir)
    for epoch in range(4):
        first(metrics_frame(epoch), progress(epoch))
    # Killed after epoch 3 was logged; the checkpoint of epoch 2 is what resumes, so the
    # new process is first called at epoch 3 with every row so far.
    resumed = live_files(tmp_path / "run", log_dir)
    for epoch in range(3, MAX_EPOCHS + 1):
        resumed(metrics_frame(epoch), progress(epoch))
    resumed.tensorboard.close()
    scalars = _scalars(log_dir)
    assert [step for step, _ in scalars["accuracy/test"]] == list(range(MAX_EPOCHS + 1))
    assert [step for step, _ in scalars["loss/train_online"]] == list(range(1, MAX_EPOCHS + 1))


def test_tensorboard_missing_package_says_how_to_install(tmp_path: Path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("TensorBoard logging requires TensorBoard version 1.15 or above")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[tensorboard\]'"):
        live_files(tmp_path, tmp_path / "tb")
