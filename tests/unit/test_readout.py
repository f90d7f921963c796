"""Each experiment reads its own point of a shared run, and every final value is measured
at the epoch it is reported for (issue: evidence a researcher can trust)."""

from __future__ import annotations

import dataclasses

import pytest

from rethinkgen.analysis.aggregate import summarize_run
from rethinkgen.analysis.readout import SPLITS, ReadoutError, read_out, readout_point
from rethinkgen.config import shared_budget
from rethinkgen.schemas import RUNS
from rethinkgen.training.engine import train
from tests.conftest import make_split
from tests.unit.test_train import config

FIT_CAP = {"max_epochs": 12, "stop_when_fitted": True}  # Figure 1b: stop at fit, cap 12
WHOLE = {"max_epochs": 8, "stop_when_fitted": False}  # Table 1: the whole budget, 8


def shared_run(**training):
    """A run trained as the two experiments above share it."""
    cfg = dataclasses.replace(
        config(max_epochs=1, eval_train_every=5, eval_test_every=5),
        **shared_budget([FIT_CAP, WHOLE]),
        **training,
    )
    cfg = dataclasses.replace(cfg, readout_epochs=tuple(cfg.readout_epochs))
    return train(cfg, make_split(n=64, seed=2), make_split(n=32, seed=3))


def test_a_shared_run_trains_past_the_short_budget_and_each_experiment_reads_its_epoch():
    # a criterion no run meets: fig1b's run is censored at its cap, table1 reads epoch 8
    result = shared_run(fit_metric="online_loss", fit_threshold=1e-9)
    info, metrics = result.info, result.metrics
    assert info["epochs"] == 12 and info["status"] == "max_epochs"
    fig1b = read_out(info, metrics, **_args(FIT_CAP))
    table1 = read_out(info, metrics, **_args(WHOLE))
    assert (fig1b["outcome"], fig1b["readout_epoch"], fig1b["censored"]) == ("censored", 12, True)
    assert (table1["outcome"], table1["readout_epoch"]) == ("budget", 8)
    for row, epoch in ((fig1b, 12), (table1, 8)):
        at = metrics[metrics["epoch"] == epoch].set_index("split")
        assert row["final_train_accuracy"] == at.loc["train", "accuracy"]  # scored that epoch
        assert row["final_test_accuracy"] == at.loc["test", "accuracy"]
    assert (
        table1["final_test_accuracy"] != fig1b["final_test_accuracy"]
        or table1["final_train_online_loss"] != fig1b["final_train_online_loss"]
    )


def test_a_shared_run_that_fits_early_still_trains_the_whole_budget():
    result = shared_run(fit_metric="online_loss", fit_threshold=100.0)  # fits at epoch 1
    info = result.info
    assert info["fit_stop_epoch"] == 1 and info["epochs"] == 8 and info["status"] == "fitted"
    assert readout_point(info, **_args(FIT_CAP)) == ("fitted", 1)
    assert readout_point(info, **_args(WHOLE)) == ("budget", 8)


def test_a_run_stopped_at_fit_is_scored_on_the_whole_training_set_at_that_epoch():
    cfg = config(
        model_spec={"arch": "mlp", "hidden": [256], "lr": 0.05},
        max_epochs=40,
        lr_decay=1.0,
        batch_size=16,
        fit_metric="online_accuracy",
        fit_threshold=0.9,
        stop_when_fitted=True,
        eval_train_every=10,
        eval_test_every=10,
    )
    result = train(cfg, make_split(n=64, seed=2), make_split(n=32, seed=3))
    stop = result.info["epochs"]
    assert result.info["status"] == "fitted" and stop % 10 != 0  # between scheduled passes
    for split in ("train", "test", "train_online"):
        assert result.info["final"][split]["epoch"] == stop, split
    assert stop in set(result.metrics.loc[result.metrics["split"] == "train", "epoch"])


def test_a_diverged_run_is_scored_where_it_diverged_and_read_as_diverged():
    cfg = config(
        model_spec={"arch": "mlp", "hidden": [64], "lr": 1000.0}, max_epochs=5, divergence_loss=50.0
    )
    result = train(cfg, make_split(n=64, seed=2), make_split(n=32, seed=3))
    info = result.info
    assert info["status"] == "diverged" and info["final"]["test"]["epoch"] == info["epochs"]
    row = read_out(info, result.metrics, max_epochs=5, stops_at_fit=False)
    assert row["outcome"] == "diverged"


def _args(budget: dict) -> dict:
    return {"max_epochs": budget["max_epochs"], "stops_at_fit": budget["stop_when_fitted"]}


def test_every_final_value_carries_the_epoch_it_was_measured_at():
    result = shared_run(fit_metric="online_loss", fit_threshold=1e-9)
    info, metrics = result.info, result.metrics
    for budget, epoch in ((FIT_CAP, 12), (WHOLE, 8)):
        row = read_out(info, metrics, **_args(budget))
        for split in ("train_online", "train", "test"):
            assert row[f"final_{split}_epoch"] == epoch == row["readout_epoch"], split
        test = metrics[(metrics["split"] == "test") & (metrics["epoch"] <= epoch)]
        assert row["best_test_accuracy"] == test["accuracy"].max()  # stops at the read-out
        assert row["best_test_epoch"] <= epoch


def test_a_final_value_measured_at_another_epoch_is_refused():
    result = shared_run(fit_metric="online_loss", fit_threshold=1e-9)
    metrics = result.metrics
    gap = metrics[~((metrics["split"] == "train") & (metrics["epoch"] == 8))]
    with pytest.raises(ReadoutError, match="epoch 8"):
        read_out(result.info, gap, **_args(WHOLE))


def test_runs_parquet_has_a_measured_epoch_for_every_final_value():
    finals = [f.name for f in RUNS if f.name.startswith("final_") and f.name.endswith("_accuracy")]
    for name in finals:
        split = max((s for s in SPLITS if name.startswith(f"final_{s}_")), key=len)
        assert f"final_{split}_epoch" in RUNS.names, name
    result = shared_run(fit_metric="online_loss", fit_threshold=1e-9)
    spec = {
        "dataset_spec": {"name": "tiny"},
        "data_seed": 0,
        "corruption_spec": {"kind": "random_labels"},
        "regularizer_spec": {},
        "model_spec": {"arch": "mlp"},
        "training": {"lr_decay": 1.0},
    }
    row = summarize_run(result.info | {"spec": spec}, result.metrics, WHOLE)
    assert [row[f"final_{s}_epoch"] for s in SPLITS] == [8, 8, 8]
