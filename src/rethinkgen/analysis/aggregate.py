"""Aggregation: every run's curves and one summary row per run (curves.parquet,
runs.parquet), with the experimental-design columns the config names.

Tidy layout: key columns first, one row per observation (one metrics row, one run).
The Parquet schemas are pinned (CURVES_SCHEMA, RUNS_SCHEMA) so downstream readers
never see a column change type because, say, every value of a column happened to be
null. A run's resolved settings and outcome come from its run_info.json only.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa

from rethinkgen.analysis.paper import paper_model_of
from rethinkgen.io import read_parquet

KEY_COLUMNS = ["dataset", "model", "corruption", "regularizer", "seed"]

_KEY_FIELDS = [(c, pa.string()) for c in KEY_COLUMNS[:4]] + [("seed", pa.int64())]
_DESIGN_FIELDS = [
    ("dataset_name", pa.string()),  # config["datasets"][key]["name"], e.g. fashion_mnist
    ("corruption_kind", pa.string()),
    ("corruption_prob", pa.float64()),  # label-corruption p; 0 for none, null for pixel kinds
    ("paper_condition", pa.string()),  # the paper's name for the condition (Fig. 1a legend)
    ("weight_decay", pa.float64()),
    ("random_crop", pa.bool_()),
    ("augment", pa.bool_()),
    ("dropout", pa.float64()),
    ("model_arch", pa.string()),
    ("batch_norm", pa.bool_()),
    ("paper_model", pa.string()),  # which paper architecture this is, or null
]
DESIGN_COLUMNS = [name for name, _ in _DESIGN_FIELDS]
_METRIC_FIELDS = [
    ("epoch", pa.int64()),
    ("step", pa.int64()),
    ("split", pa.string()),
    ("loss", pa.float64()),
    ("accuracy", pa.float64()),
    ("top5_accuracy", pa.float64()),
    ("lr", pa.float64()),
    ("wall_time_s", pa.float64()),
    ("images_per_s", pa.float64()),
]
# Resolved per run by the engine (run_info.json), never re-derived from the config.
_RUN_FACT_FIELDS = [
    ("num_classes", pa.int64()),
    ("n_test", pa.int64()),  # test-set size, for binomial tolerances
    ("max_epochs", pa.int64()),  # the budget
    ("lr_decay", pa.float64()),
]
_RUN_FIELDS = [
    ("status", pa.string()),  # fitted (stopped at fit) | max_epochs (whole budget) | diverged
    ("epochs", pa.int64()),
    ("steps", pa.int64()),
    ("n_train", pa.int64()),
    ("fit_metric", pa.string()),  # the fit criterion: online_loss | online_accuracy | ...
    ("fit_threshold", pa.float64()),
    ("fitted", pa.bool_()),  # met the criterion at some epoch within the budget
    ("steps_to_fit", pa.int64()),
    ("epochs_to_fit", pa.int64()),  # first epoch meeting the criterion
    ("fit_held_from_epoch", pa.int64()),  # it held from this epoch to the end (null: not at the end)
    ("final_train_online_accuracy", pa.float64()),  # what the paper calls training accuracy
    ("final_train_accuracy", pa.float64()),  # whole training set, eval mode
    ("final_test_accuracy", pa.float64()),
    ("final_test_top5_accuracy", pa.float64()),
    ("final_train_online_top5_accuracy", pa.float64()),
    ("final_train_online_loss", pa.float64()),
    ("final_test_loss", pa.float64()),
    ("best_test_accuracy", pa.float64()),
    ("best_test_epoch", pa.int64()),
    ("num_params", pa.int64()),
    ("device", pa.string()),
    ("gpu_name", pa.string()),
    ("precision", pa.string()),  # fp32 | bf16
    ("wall_time_s", pa.float64()),
]
CURVES_SCHEMA = pa.schema(_KEY_FIELDS + _METRIC_FIELDS + _RUN_FACT_FIELDS + _DESIGN_FIELDS)
RUNS_SCHEMA = pa.schema(_KEY_FIELDS + _DESIGN_FIELDS + _RUN_FACT_FIELDS + _RUN_FIELDS)

_PIXEL_CONDITIONS = {"shuffled_pixels": "shuffled_pixels", "random_pixels": "random_pixels",
                     "gaussian": "gaussian"}


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Cast a frame to a pinned schema (column order and types); missing columns are null."""
    columns = {}
    for field in schema:
        values = df[field.name] if field.name in df else pd.Series([None] * len(df))
        if pa.types.is_integer(field.type):
            values = pd.to_numeric(values).astype("Int64")  # nullable: NaN -> null
        elif pa.types.is_boolean(field.type):
            values = values.astype("boolean")
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)


def paper_condition_of(spec: dict) -> str | None:
    kind = spec["kind"]
    if kind == "none":
        return "true_labels"
    if kind == "random_labels":
        return "random_labels" if spec.get("prob", 1.0) == 1.0 else "partially_corrupted_labels"
    return _PIXEL_CONDITIONS.get(kind)


def design_columns(config: dict, dataset: str, model: str, corruption: str,
                   regularizer: str) -> dict:
    """The experimental-design values of one run that the config names (specs and the
    paper's names for them); resolved settings come from run_info.json (summarize_run)."""
    model_spec = config["models"][model]
    corruption_spec, reg = config["corruptions"][corruption], config["regularizers"][regularizer]
    kind = corruption_spec["kind"]
    prob = {"none": 0.0, "random_labels": corruption_spec.get("prob", 1.0)}.get(kind, math.nan)
    return {
        "dataset_name": config["datasets"][dataset]["name"],
        "corruption_kind": kind,
        "corruption_prob": prob,
        "paper_condition": paper_condition_of(corruption_spec),
        "weight_decay": float(reg.get("weight_decay", 0.0)),
        "random_crop": bool(reg.get("random_crop", False)),
        "augment": bool(reg.get("augment", False)),
        "dropout": float(reg.get("dropout", 0.0)),
        "model_arch": model_spec["arch"],
        "batch_norm": bool(model_spec.get("batch_norm", False)),
        "paper_model": paper_model_of(model_spec),
    }


def _final(info: dict, split: str, key: str):
    final = (info.get("final") or {}).get(split)
    value = None if final is None else final.get(key)
    return math.nan if value is None else value


def summarize_run(info: dict) -> dict:
    """One runs.parquet row (without the config's design columns): the run's resolved
    settings and outcome exactly as the engine recorded them in run_info.json."""
    training = info["config"].get("training", {})
    criterion = info.get("fit_criterion", {})
    return {
        **info["keys"],
        **{k: info.get(k) for k in ("status", "epochs", "steps", "steps_to_fit", "epochs_to_fit",
                                    "fit_held_from_epoch", "best_test_accuracy",
                                    "best_test_epoch", "num_params", "device", "gpu_name",
                                    "precision", "wall_time_s")},
        "fitted": info.get("epochs_to_fit") is not None,
        "fit_metric": criterion.get("metric"),
        "fit_threshold": criterion.get("threshold"),
        "max_epochs": info.get("max_epochs", training.get("max_epochs")),
        "lr_decay": training.get("lr_decay"),
        **{k: info.get("data", {}).get(k) for k in ("n_train", "n_test", "num_classes")},
        "final_train_online_accuracy": _final(info, "train_online", "accuracy"),
        "final_train_accuracy": _final(info, "train", "accuracy"),
        "final_test_accuracy": _final(info, "test", "accuracy"),
        "final_test_top5_accuracy": _final(info, "test", "top5_accuracy"),
        "final_train_online_top5_accuracy": _final(info, "train_online", "top5_accuracy"),
        "final_train_online_loss": _final(info, "train_online", "loss"),
        "final_test_loss": _final(info, "test", "loss"),
    }


_DESIGN_KEYS = ["dataset", "model", "corruption", "regularizer"]


def _with_design(df: pd.DataFrame, config: dict) -> pd.DataFrame:
    designs = {
        keys: design_columns(config, *keys)
        for keys in df[_DESIGN_KEYS].drop_duplicates().itertuples(index=False)
    }
    design = pd.DataFrame([dict(zip(_DESIGN_KEYS, k)) | d for k, d in designs.items()],
                          columns=_DESIGN_KEYS + list(DESIGN_COLUMNS))
    return df.merge(design, on=_DESIGN_KEYS, how="left", validate="many_to_one")


_RUN_FACTS = ["num_classes", "n_test", "max_epochs", "lr_decay"]  # per run, also in curves


def aggregate_runs(run_dirs: list[str | Path], config: dict) -> tuple[pa.Table, pa.Table]:
    """Read every run directory; return (curves, runs) as Arrow tables with pinned schemas."""
    from rethinkgen.io import read_json  # local: keeps this module importable alone

    frames, rows = [], []
    for run_dir in map(Path, run_dirs):
        frames.append(read_parquet(run_dir / "metrics.parquet"))
        rows.append(summarize_run(read_json(run_dir / "run_info.json")))
    empty = pd.DataFrame(columns=KEY_COLUMNS + _RUN_FACTS)
    runs = _with_design(pd.DataFrame(rows) if rows else empty, config)
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY_COLUMNS)
    curves = curves.merge(runs[KEY_COLUMNS + _RUN_FACTS + list(DESIGN_COLUMNS)],
                          on=KEY_COLUMNS, how="left", validate="many_to_one")
    return to_arrow(curves, CURVES_SCHEMA), to_arrow(runs, RUNS_SCHEMA)
