"""`rethinkgen export`: finished runs to TensorBoard and MLflow, read back with each
tracker's own reader, and exporting twice adds no second copy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from rethinkgen import cli
from rethinkgen.export.runs import finished_runs
from rethinkgen.schemas import METRIC_COLUMNS

KEYS = {
    "dataset": "fashion_mnist_tiny",
    "model": "mlp_1x512",
    "corruption": "random_labels",
    "regularizer": "none",
    "seed": 0,
}


def write_run(results: Path, seed: int = 0, epochs: int = 3) -> Path:
    keys = {**KEYS, "seed": seed}
    folder = results / "runs" / "/".join(str(keys[k]) for k in list(keys)[:4]) / f"seed{seed}"
    folder.mkdir(parents=True)
    rows = [
        {
            **keys,
            "epoch": e,
            "step": 4 * e,
            "split": split,
            "loss": 2.3 - 0.5 * e - (split == "test"),
            "accuracy": 0.1 + 0.2 * e + 0.01 * seed,
            "top5_accuracy": None,
            "lr": 0.01 * 0.95**e,
            "wall_time_s": float(e),
            "images_per_s": 1000.0,
        }
        for e in range(1, epochs + 1)
        for split in ("train_online", "train", "test")
    ]
    pd.DataFrame(rows, columns=METRIC_COLUMNS).to_parquet(folder / "metrics.parquet")
    final = {
        s: {"epoch": epochs, "accuracy": 0.1 + 0.2 * epochs, "loss": 0.8, "top5_accuracy": None}
        for s in ("train_online", "train", "test")
    }
    info = {
        "keys": keys,
        "status": "max_epochs",
        "fitted": False,
        "epochs": epochs,
        "epochs_to_fit": None,
        "steps_to_fit": None,
        "best_test_accuracy": 0.7,
        "num_params": 407050,
        "final": final,
        "identity": {
            "model_spec": {"arch": "mlp", "hidden": [512], "lr": 0.01},
            "max_epochs": epochs,
            "batch_size": 128,
            "amp": "off",
        },
    }
    (folder / "run_info.json").write_text(json.dumps(info))
    return folder


def test_finished_runs_flatten_settings(tmp_path):
    write_run(tmp_path)
    (run,) = finished_runs(tmp_path)
    assert run.name == "fashion_mnist_tiny/mlp_1x512/random_labels/none/seed0"
    params = run.params()
    assert params["model_spec.hidden"] == "[512]" and params["max_epochs"] == 3
    assert params["seed"] == 0 and run.final_metrics()["final/test_accuracy"] == pytest.approx(0.7)
    # every final value with the epoch it was measured at
    assert {run.final_metrics()[f"final/{s}_epoch"] for s in ("train_online", "train", "test")} == {
        3.0
    }


def test_export_without_runs_says_what_to_do(tmp_path):
    with pytest.raises(SystemExit, match="no finished run"):
        cli.main(["export", "tensorboard", "--results", str(tmp_path)])


def test_tensorboard_export_reads_back_and_is_idempotent(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    from tensorboard.plugins.hparams import plugin_data_pb2

    write_run(tmp_path / "results")
    out = tmp_path / "tb"
    for _ in range(2):  # the second export replaces the first
        assert (
            cli.main(
                ["export", "tensorboard", "--results", str(tmp_path / "results"), "--out", str(out)]
            )
            == 0
        )
    run_dir = out / "fashion_mnist_tiny/mlp_1x512/random_labels/none/seed0"
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={"scalars": 0, "tensors": 0}
    )
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"loss/train", "accuracy/test", "lr", "final/test_accuracy"} <= set(tags)
    assert [e.step for e in acc.Scalars("accuracy/test")] == [1, 2, 3]
    assert acc.Scalars("accuracy/test")[-1].value == pytest.approx(0.7)
    content = acc.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = session.session_start_info.hparams
    assert hparams["model"].string_value == "mlp_1x512"
    assert hparams["max_epochs"].number_value == 3
    assert hparams["model_spec.hidden"].string_value == "[512]"


def test_mlflow_export_reads_back_and_is_idempotent(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("alembic")
    from mlflow.tracking import MlflowClient

    from rethinkgen.export.mlflow_store import tracking_uri

    results = tmp_path / "results"
    write_run(results, seed=0)
    write_run(results, seed=1)
    (results / "figures").mkdir()
    (results / "figures/fig1a_learning_curves.png").write_bytes(b"\x89PNG fake")
    out = tmp_path / "mlflow"
    args = ["export", "mlflow", "--results", str(results), "--out", str(out)]
    assert cli.main(args) == 0
    assert cli.main(args) == 0  # nothing changed: nothing logged again
    client = MlflowClient(tracking_uri=tracking_uri(out))
    experiment = client.get_experiment_by_name("rethinkgen")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [
        "fashion_mnist_tiny/mlp_1x512/random_labels/none/seed0",
        "fashion_mnist_tiny/mlp_1x512/random_labels/none/seed1",
        "figures",
    ]
    seed1 = next(r for r in runs if r.info.run_name.endswith("seed1"))
    assert seed1.data.params["seed"] == "1" and seed1.data.params["batch_size"] == "128"
    history = client.get_metric_history(seed1.info.run_id, "accuracy_test")
    assert [(m.step, round(m.value, 4)) for m in history] == [(1, 0.31), (2, 0.51), (3, 0.71)]
    figures = next(r for r in runs if r.info.run_name == "figures")
    assert [a.path for a in client.list_artifacts(figures.info.run_id, "figures")] == [
        "figures/fig1a_learning_curves.png"
    ]
    # A changed run replaces its earlier export instead of adding a second one.
    info = results / "runs/fashion_mnist_tiny/mlp_1x512/random_labels/none/seed1/run_info.json"
    info.write_text(info.read_text().replace('"max_epochs"', '"fitted"', 1))
    assert cli.main(args) == 0
    names = [r.info.run_name for r in client.search_runs([experiment.experiment_id])]
    assert (
        len(names) == 3
        and names.count("fashion_mnist_tiny/mlp_1x512/random_labels/none/seed1") == 1
    )


def test_a_damaged_run_is_skipped_with_one_line(tmp_path, capsys):
    """One truncated metrics file and one run_info.json that is not JSON: both skipped,
    one line each, and the intact run is exported (issue 30)."""
    write_run(tmp_path, seed=0)
    damaged = write_run(tmp_path, seed=1)
    (damaged / "metrics.parquet").write_bytes((damaged / "metrics.parquet").read_bytes()[:50])
    (write_run(tmp_path, seed=2) / "run_info.json").write_text("{not json")
    skipped: list[str] = []
    runs = finished_runs(tmp_path, skipped)
    assert [run.name.rsplit("/", 1)[1] for run in runs] == ["seed0"]
    assert len(skipped) == 2 and all(line.startswith("skipped ") for line in skipped)
    assert "seed1: " in skipped[0] and "metrics.parquet cannot be read" in skipped[0]
    pytest.importorskip("tensorboard")
    out = str(tmp_path / "tb")
    assert cli.main(["export", "tensorboard", "--results", str(tmp_path), "--out", out]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err
