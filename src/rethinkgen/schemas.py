"""The tables' schemas, defined once in Arrow: a run's metrics rows (metrics.parquet,
live_metrics.parquet), every run's curves (curves.parquet) and one row per run
(runs.parquet). pandas dtypes are derived from them (``pandas_dtypes``).

Pinned schemas mean no reader sees a column change type because, say, every value of a
column happened to be null.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from rethinkgen.run import RUN_KEYS

KEY_FIELDS = [(key, pa.int64() if key == "seed" else pa.string()) for key in RUN_KEYS]
METRIC_FIELDS = [
    ("epoch", pa.int64()),
    ("step", pa.int64()),
    ("split", pa.string()),  # train_online | train | test | train_clean | train_corrupted
    ("loss", pa.float64()),
    ("accuracy", pa.float64()),
    ("top5_accuracy", pa.float64()),
    ("lr", pa.float64()),
    ("wall_time_s", pa.float64()),
    ("images_per_s", pa.float64()),
]
METRICS = pa.schema(KEY_FIELDS + METRIC_FIELDS)

# The experimental design of a run, from its spec in run_info.json.
DESIGN_FIELDS = [
    ("dataset_name", pa.string()),  # the dataset spec's name, e.g. fashion_mnist
    ("data_seed", pa.int64()),  # the seed of its subset and corruption draw
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
# Per run, also in the curves: resolved by the engine, never re-derived from the config.
RUN_FACT_FIELDS = [
    ("num_classes", pa.int64()),
    ("n_test", pa.int64()),  # test-set size, for binomial tolerances
    ("max_epochs", pa.int64()),  # what the run trained for (the longest of its experiments')
    ("lr_decay", pa.float64()),
]
# One experiment's read-out of a run (rethinkgen.analysis.readout; docs/design.md).
READOUT_FIELDS = [
    ("budget", pa.int64()),  # this experiment's max_epochs (a cap when it stops at fit)
    ("stops_at_fit", pa.bool_()),  # this experiment stops at fit
    ("outcome", pa.string()),  # fitted | budget | censored | diverged | unfinished
    ("readout_epoch", pa.int64()),  # the epoch every final_* value was measured at
    ("censored", pa.bool_()),  # not fitted within this experiment's cap: a lower bound
    # the epoch each split's final_* values were measured at (= readout_epoch; null: none)
    ("final_train_online_epoch", pa.int64()),
    ("final_train_epoch", pa.int64()),
    ("final_test_epoch", pa.int64()),
]
RUN_FIELDS = [
    ("status", pa.string()),  # how the run ended: fitted | max_epochs | diverged
    ("epochs", pa.int64()),
    ("steps", pa.int64()),
    ("n_train", pa.int64()),
    ("num_params", pa.int64()),
    ("params_per_example", pa.float64()),  # num_params / n_train (the paper: 24-33)
    ("fit_metric", pa.string()),  # the fit criterion: online_loss | online_accuracy | ...
    ("fit_threshold", pa.float64()),
    ("fitted", pa.bool_()),  # met the criterion within this experiment's budget
    ("steps_to_fit", pa.int64()),
    ("epochs_to_fit", pa.int64()),  # first epoch meeting the criterion
    ("fit_stop_epoch", pa.int64()),  # the criterion held for fit_patience evaluations
    ("fit_held_from_epoch", pa.int64()),  # it held from this epoch to the end
    ("final_train_online_accuracy", pa.float64()),  # what the paper calls training accuracy
    ("final_train_online_loss", pa.float64()),
    ("final_train_online_top5_accuracy", pa.float64()),
    ("final_train_accuracy", pa.float64()),  # whole training set, eval mode
    ("final_train_loss", pa.float64()),
    ("final_test_accuracy", pa.float64()),
    ("final_test_top5_accuracy", pa.float64()),
    ("final_test_loss", pa.float64()),
    ("best_test_accuracy", pa.float64()),  # the best test accuracy up to readout_epoch
    ("best_test_epoch", pa.int64()),
    ("device", pa.string()),
    ("gpu_name", pa.string()),
    ("precision", pa.string()),  # fp32 | bf16
    ("wall_time_s", pa.float64()),
    ("mixed_code", pa.bool_()),  # resumed across a code change (run_info code_versions)
]
# One run's per-example record (examples.parquet, training.record_examples): one row per
# training example and whole-training-set evaluation. Compact: the keys dictionary-encoded,
# the values int8/float16 (a margin's float16 rounding is < 0.1% of it).
EXAMPLE_FIELDS = [
    ("epoch", pa.int16()),
    ("example", pa.int32()),  # its index in the run's train.npz (before any hold-out)
    ("correct", pa.int8()),  # 1: classified as its training (assigned) label
    ("margin", pa.float16()),  # its label's logit minus the largest other logit
    ("corrupted", pa.int8()),  # 1: its training label differs from the true one
]
EXAMPLES = pa.schema(
    [
        (key, pa.int64() if key == "seed" else pa.dictionary(pa.int8(), pa.string()))
        for key in RUN_KEYS
    ]
    + EXAMPLE_FIELDS
)
CURVES = pa.schema(KEY_FIELDS + METRIC_FIELDS + RUN_FACT_FIELDS + DESIGN_FIELDS)
RUNS = pa.schema(KEY_FIELDS + DESIGN_FIELDS + RUN_FACT_FIELDS + READOUT_FIELDS + RUN_FIELDS)

_PANDAS = {
    pa.string(): "string",
    pa.int64(): "int64",
    pa.float64(): "float64",
    pa.bool_(): "boolean",
}


def pandas_dtypes(schema: pa.Schema) -> dict[str, str]:
    """{column: pandas dtype} of a schema, in its column order."""
    return {f.name: _PANDAS[f.type] for f in schema}


METRIC_DTYPES = pandas_dtypes(METRICS)


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


METRIC_COLUMNS = list(METRIC_DTYPES)


def last_evaluation(
    metrics: pd.DataFrame, split: str, until_epoch: int | None = None
) -> dict | None:
    """A split's last evaluation (at or before ``until_epoch``): epoch, accuracy, loss,
    top5_accuracy (None where not measured); None when the split has none."""
    rows = metrics[metrics["split"] == split]
    if until_epoch is not None:
        rows = rows[rows["epoch"] <= until_epoch]
    if rows.empty:
        return None
    last = rows.iloc[-1]
    top5 = last["top5_accuracy"]
    return {
        "epoch": int(last["epoch"]),
        "accuracy": float(last["accuracy"]),
        "loss": float(last["loss"]),
        "top5_accuracy": None if pd.isna(top5) else float(top5),
    }
