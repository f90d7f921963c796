"""Aggregation and paper-comparison tables on hand-made frames (the scorecard:
test_scorecard.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from rethinkgen import schemas
from rethinkgen.analysis import aggregate, derived, tables
from rethinkgen.paper import read_paper_table, read_reference_csv
from tests.conftest import design_of, spec_of

CONFIG = {
    "datasets": {
        "cifar10": {"name": "cifar10"},
        "fmnist_1k": {"name": "fashion_mnist", "n_test": 1000},
    },
    "models": {
        "inception": {"arch": "small_inception", "batch_norm": True},
        "inception_nobn": {"arch": "small_inception", "batch_norm": False},
        "mlp_1x512": {"arch": "mlp", "hidden": [512]},
        "tiny_mlp": {"arch": "mlp", "hidden": [64]},
    },
    "corruptions": {
        "true_labels": {"kind": "none"},
        "labels_p050": {"kind": "random_labels", "prob": 0.5},
        "random_labels": {"kind": "random_labels", "prob": 1.0},
        "gaussian": {"kind": "gaussian"},
    },
    "regularizers": {
        "none": {},
        "crop_slow": {"random_crop": True, "training": {"lr_decay": 0.999}},
    },
    "training": {"lr_decay": 0.95, "max_epochs": 10},
}


def write_run(root, keys: dict, test_acc=(0.5, 0.7, 0.6), status="fitted", epochs_to_fit=3):
    """A run directory exactly as docs/design.md specifies, three epochs long."""
    run_dir = root / "_".join(str(v) for v in keys.values())
    run_dir.mkdir(parents=True)
    rows = []
    for epoch, acc in enumerate(test_acc, start=1):
        for split, accuracy, loss in (
            ("train_online", 0.3 * epoch, 2.0 / epoch),
            ("train", 0.33 * epoch, 1.0),
            ("test", acc, 1.5),
        ):
            rows.append(
                keys
                | dict(
                    epoch=epoch,
                    step=10 * epoch,
                    split=split,
                    loss=loss,
                    accuracy=accuracy,
                    top5_accuracy=math.nan,
                    lr=0.1,
                    wall_time_s=float(epoch),
                    images_per_s=100.0,
                )
            )
    pd.DataFrame(rows).to_parquet(run_dir / "metrics.parquet", index=False)
    last = {
        split: {"epoch": 3, "accuracy": accuracy, "loss": loss, "top5_accuracy": None}
        for split, accuracy, loss in (
            ("train_online", 0.9, 2.0 / 3),
            ("train", 0.99, 1.0),
            ("test", test_acc[-1], 1.5),
        )
    }
    best = max(range(3), key=lambda i: test_acc[i])
    spec = spec_of(CONFIG, *list(keys.values()))
    spec["training"] |= {"max_epochs": 3, "lr_decay": 0.95}
    info = {
        "keys": keys,
        "spec": spec,
        "data": {"n_train": 100, "n_test": 1000, "num_classes": 10},
        "status": status,
        "max_epochs": 3,
        "epochs": 3,
        "steps": 30,
        "fit_criterion": {"metric": "online_loss", "threshold": 0.1, "stop_when_fitted": False},
        "steps_to_fit": None if epochs_to_fit is None else 10 * epochs_to_fit,
        "epochs_to_fit": epochs_to_fit,
        "fit_held_from_epoch": epochs_to_fit,
        "best_test_accuracy": test_acc[best],
        "best_test_epoch": best + 1,
        "final": last,
        "num_params": 1234,
        "device": "cpu",
        "gpu_name": None,
        "precision": "fp32",
        "wall_time_s": 3.0,
    }
    (run_dir / "run_info.json").write_text(json.dumps(info))
    return run_dir


def keys(
    model="inception", corruption="true_labels", regularizer="none", seed=0, dataset="cifar10"
):
    return dict(
        dataset=dataset, model=model, corruption=corruption, regularizer=regularizer, seed=seed
    )


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """Runs-table rows: run keys + overrides, design columns filled in from CONFIG."""
    out = []
    for row in rows:
        k = keys(**{f: row.pop(f) for f in list(row) if f in aggregate.KEY_COLUMNS})
        base = dict(
            status="fitted",
            num_params=1,
            final_train_online_accuracy=1.0,
            final_train_accuracy=1.0,
            final_test_accuracy=0.5,
            best_test_accuracy=0.5,
            epochs_to_fit=10,
            fitted=True,
            max_epochs=20,
            num_classes=10,
            n_test=1000 if k["dataset"] == "fmnist_1k" else 10_000,
        )
        out.append(k | design_of(CONFIG, *list(k.values())[:4]) | base | row)
    return pd.DataFrame(out)


def test_design_columns_read_the_spec_and_map_to_paper_names():
    d = design_of(CONFIG, "fmnist_1k", "inception_nobn", "labels_p050", "crop_slow")
    assert d["dataset_name"] == "fashion_mnist"
    assert d["corruption_kind"] == "random_labels" and d["corruption_prob"] == 0.5
    assert d["paper_condition"] == "partially_corrupted_labels"
    assert d["paper_model"] == "inception_nobn" and d["batch_norm"] is False
    assert d["random_crop"] is True and d["weight_decay"] == 0.0
    pixel = design_of(CONFIG, "cifar10", "tiny_mlp", "gaussian", "none")
    assert math.isnan(pixel["corruption_prob"]) and pixel["paper_model"] is None
    assert pixel["paper_condition"] == "gaussian"


def run_files(run_dirs) -> tuple[list, list]:
    """The aggregation rule's inputs: each run's run_info.json and metrics.parquet."""
    return [d / "run_info.json" for d in run_dirs], [d / "metrics.parquet" for d in run_dirs]


def test_runs_table_reports_the_resolved_settings_of_run_info(tmp_path):
    """The spec a run recorded is the only source: no workflow config is read."""
    run_dir = write_run(tmp_path, keys(model="inception_nobn"))
    info = json.loads((run_dir / "run_info.json").read_text())
    info["spec"]["training"] = {"max_epochs": 30, "lr_decay": 0.999}
    info["spec"]["dataset_spec"]["name"] = "mnist"
    info["max_epochs"], info["data"]["n_test"] = 30, 1000
    (run_dir / "run_info.json").write_text(json.dumps(info))
    curves, runs = aggregate.aggregate_runs(*run_files([run_dir]))
    row = runs.to_pandas().iloc[0]
    assert (row["max_epochs"], row["lr_decay"], row["n_test"], row["num_classes"]) == (
        30,
        0.999,
        1000,
        10,
    )
    assert row["dataset_name"] == "mnist" and row["params_per_example"] == pytest.approx(12.34)
    info["spec"]["training"] = {"max_epochs": 30}  # lr_decay left at its default
    (run_dir / "run_info.json").write_text(json.dumps(info))
    _, runs = aggregate.aggregate_runs(*run_files([run_dir]))
    assert runs.to_pandas().iloc[0]["lr_decay"] == 0.95  # what the run trained with
    assert set(curves.to_pandas()["max_epochs"]) == {30}


def test_aggregate_runs_pins_schema_and_summarizes(tmp_path):
    dirs = [
        write_run(tmp_path, keys()),
        write_run(
            tmp_path,
            keys(corruption="random_labels"),
            test_acc=(0.1, 0.09, 0.11),
            status="max_epochs",
            epochs_to_fit=None,
        ),
    ]
    curves, runs = aggregate.aggregate_runs(*run_files(dirs))
    assert curves.schema.equals(schemas.CURVES) and runs.schema.equals(schemas.RUNS)
    assert curves.num_rows == 18 and runs.num_rows == 2
    runs = runs.to_pandas().set_index("corruption")
    assert runs.loc["true_labels", "final_test_accuracy"] == pytest.approx(0.6)
    assert runs.loc["true_labels", "best_test_accuracy"] == pytest.approx(0.7)
    assert runs.loc["true_labels", "best_test_epoch"] == 2
    assert runs.loc["true_labels", "final_train_online_accuracy"] == pytest.approx(0.9)
    assert runs.loc["true_labels", "fitted"] and not runs.loc["random_labels", "fitted"]
    assert pd.isna(runs.loc["random_labels", "epochs_to_fit"])  # null, still an int64 column


def test_aggregate_runs_schema_is_stable_when_no_run_fitted(tmp_path):
    run = write_run(tmp_path, keys(), status="diverged", epochs_to_fit=None)
    _, runs = aggregate.aggregate_runs(*run_files([run]))
    assert runs.schema.equals(schemas.RUNS)  # all-null columns keep their types


def test_relative_time_to_fit_divides_by_p0_per_seed_and_keeps_unfitted_nan():
    runs = runs_frame(
        [
            dict(corruption="true_labels", epochs_to_fit=10),
            dict(corruption="labels_p050", epochs_to_fit=25),
            dict(corruption="random_labels", epochs_to_fit=None),
            dict(corruption="gaussian", epochs_to_fit=12),
        ]
    )
    rel = derived.relative_time_to_fit(runs).set_index("corruption")["relative_time_to_fit"]
    assert rel["true_labels"] == 1.0 and rel["labels_p050"] == 2.5
    assert math.isnan(rel["random_labels"]) and "gaussian" not in rel  # pixel kinds have no p


def test_cumulative_best_is_running_maximum():
    curves = pd.DataFrame(
        [keys() | dict(split="test", step=s, accuracy=a) for s, a in ((1, 0.5), (2, 0.7), (3, 0.6))]
    )
    assert derived.cumulative_best(curves)["best_so_far"].tolist() == [0.5, 0.7, 0.7]


def test_table1_comparison_has_paper_ours_difference_and_not_run_rows():
    runs = runs_frame(
        [dict(final_test_accuracy=0.86, seed=0), dict(final_test_accuracy=0.88, seed=1)]
    )
    long = tables.compare_with_paper(runs, "table1")
    cell = long[
        (long["paper_model"] == "inception")
        & (long["paper_condition"] == "true_labels")
        & ~long["random_crop"]
        & ~long["weight_decay_on"]
        & (long["metric"] == "test_accuracy_pct")
    ]
    assert len(cell) == 1
    cell = cell.iloc[0]
    assert cell["paper"] == 85.75 and cell["ours"] == pytest.approx(87.0)
    assert cell["difference"] == pytest.approx(1.25) and cell["n_seeds"] == 2
    assert cell["ours_sd"] == pytest.approx(np.std([86, 88], ddof=1))
    assert cell["num_params_paper"] == 1_649_402
    assert (long.loc[long["ours"].isna(), "note"] == "not run").all()
    assert len(long) == len(read_paper_table("table1"))  # every paper row is present once


def test_table4_marks_diverged_runs_failed_to_converge():
    runs = runs_frame(
        [
            dict(
                corruption="random_labels",
                regularizer="crop_slow",
                status="diverged",
                final_train_online_accuracy=0.1,
            )
        ]
    )
    long, display, notes = tables.build_table("table4", runs)
    crop = long[long["random_crop"] & (long["paper_model"] == "inception")].iloc[0]
    assert crop["note"].startswith(tables.FAILED_TEXT) and pd.isna(crop["ours"])
    assert crop["paper"] == 99.93
    alexnet = long[long["paper_model"] == "alexnet"].iloc[0]
    assert pd.isna(alexnet["paper"]) and alexnet["paper_note"] == "failed to converge"
    assert {
        "train accuracy % (paper)",
        "train accuracy % (ours)",
        "train accuracy % (difference)",
    } <= set(display)
    markdown = tables.render_markdown(display, "Table 4", notes)
    assert "100.00" in markdown and tables.FAILED_TEXT in markdown


def test_dataset_note_flags_other_data():
    runs = runs_frame([dict(dataset="fmnist_1k")])
    note = tables.dataset_note(tables.compare_with_paper(runs, "table1"), "cifar10")
    assert "Fashion-MNIST" in note and "not a like-for-like" in note


def test_paper_reference_data_is_shipped():
    fig1b = read_reference_csv("fig1b_convergence_slowdown.csv")
    assert (
        fig1b.query("model == 'inception' and label_corruption == 1.0")[
            "relative_time_to_overfit"
        ].item()
        == 3.6
    )
