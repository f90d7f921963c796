"""Aggregation: every run's curves and one row per run (curves.parquet, runs.parquet),
each built from the run's metrics.parquet and run_info.json alone.

Tidy layout: key columns first, one row per observation (one metrics row, one run). The
schemas are rethinkgen.schemas.CURVES and RUNS. A run's design columns come from the spec
it recorded; the values an experiment reports are read at its own epoch of the run
(rethinkgen.analysis.readout).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa

from rethinkgen.analysis.readout import read_out
from rethinkgen.analysis.run_settings import settings_of
from rethinkgen.io import read_parquet
from rethinkgen.paper import paper_model_of
from rethinkgen.run import RUN_KEYS
from rethinkgen.schemas import CURVES, DESIGN_FIELDS, RUN_FACT_FIELDS, RUNS, to_arrow

KEY_COLUMNS = list(RUN_KEYS)
DESIGN_COLUMNS = [name for name, _ in DESIGN_FIELDS]
RUN_FACTS = [name for name, _ in RUN_FACT_FIELDS]
_PIXEL_CONDITIONS = ("shuffled_pixels", "random_pixels", "gaussian")


def paper_condition_of(spec: dict) -> str | None:
    kind = spec["kind"]
    if kind == "none":
        return "true_labels"
    if kind == "random_labels":
        return "random_labels" if spec.get("prob", 1.0) == 1.0 else "partially_corrupted_labels"
    return kind if kind in _PIXEL_CONDITIONS else None


def design_columns(spec: dict) -> dict:
    """The experimental design of a run, from the spec it recorded (run_info.json)."""
    corruption, reg, model = spec["corruption_spec"], spec["regularizer_spec"], spec["model_spec"]
    kind = corruption["kind"]
    prob = {"none": 0.0, "random_labels": corruption.get("prob", 1.0)}.get(kind, math.nan)
    return {
        "dataset_name": spec["dataset_spec"]["name"],
        "data_seed": spec["data_seed"],
        "corruption_kind": kind,
        "corruption_prob": prob,
        "paper_condition": paper_condition_of(corruption),
        "weight_decay": float(reg.get("weight_decay", 0.0)),
        "random_crop": bool(reg.get("random_crop", False)),
        "augment": bool(reg.get("augment", False)),
        "dropout": float(reg.get("dropout", 0.0)),
        "model_arch": model["arch"],
        "batch_norm": bool(model.get("batch_norm", False)),
        "paper_model": paper_model_of(model),
    }


def summarize_run(info: dict, metrics: pd.DataFrame, readout: dict | None = None) -> dict:
    """One runs.parquet row: design, facts and the values read at the experiment's epoch.

    ``readout``: the experiment's {"max_epochs", "stop_when_fitted"} for this run; without
    it (the all-runs table), the epoch the run ended at.
    """
    criterion = info.get("fit_criterion", {})
    readout = readout or {"max_epochs": info["epochs"], "stop_when_fitted": False}
    data = info.get("data", {})
    return {
        **info["keys"],
        **design_columns(info["spec"]),
        **{
            k: info.get(k)
            for k in (
                "status",
                "epochs",
                "steps",
                "fit_held_from_epoch",
                "num_params",
                "device",
                "gpu_name",
                "precision",
                "wall_time_s",
                "max_epochs",
                "mixed_code",
            )
        },
        **{k: data.get(k) for k in ("n_train", "n_test", "num_classes")},
        "params_per_example": info["num_params"] / data["n_train"] if data.get("n_train") else None,
        "fit_metric": criterion.get("metric"),
        "fit_threshold": criterion.get("threshold"),
        "lr_decay": settings_of(info).lr_decay,  # as the run resolved it, defaults included
        **read_out(info, metrics, int(readout["max_epochs"]), bool(readout["stop_when_fitted"])),
    }


def aggregate_runs(
    infos: list[str | Path], metrics_files: list[str | Path], readouts: list[dict] | None = None
) -> tuple[pa.Table, pa.Table]:
    """Read every run's run_info.json and metrics.parquet (the rule's inputs, in the same
    order); return (curves, runs) as Arrow tables.

    ``readouts``: one experiment's budget per run (keys plus max_epochs and
    stop_when_fitted); absent runs are read at their own budget.
    """
    from rethinkgen.io import read_json  # local: keeps this module importable alone

    if len(infos) != len(metrics_files):
        raise ValueError(f"{len(infos)} run_info files but {len(metrics_files)} metrics files")
    budgets = {tuple(r[k] for k in KEY_COLUMNS): r for r in readouts or []}
    frames, rows = [], []
    for info_path, metrics_path in zip(infos, metrics_files):
        metrics = read_parquet(metrics_path)
        info = read_json(info_path)
        keys = tuple(info["keys"][k] for k in KEY_COLUMNS)
        frames.append(metrics)
        rows.append(summarize_run(info, metrics, budgets.get(keys)))
    runs = (
        pd.DataFrame(rows, columns=[f.name for f in RUNS])
        if rows
        else pd.DataFrame(columns=[f.name for f in RUNS])
    )
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY_COLUMNS)
    curves = curves.merge(
        runs[KEY_COLUMNS + RUN_FACTS + DESIGN_COLUMNS],
        on=KEY_COLUMNS,
        how="left",
        validate="many_to_one",
    )
    return to_arrow(curves, CURVES), to_arrow(runs, RUNS)
