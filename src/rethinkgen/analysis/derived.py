"""Metrics derived from runs.parquet and curves.parquet for the figures and the scorecard."""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis.aggregate import KEY_COLUMNS


def relative_time_to_fit(runs: pd.DataFrame) -> pd.DataFrame:
    """Fig. 1b's y-value: epochs_to_fit at corruption p / epochs_to_fit at p = 0.

    Computed per (dataset, model, regularizer, seed), so seeds become a spread. Only
    label corruptions (corruption_prob not null) take part. A run that never fitted
    gets NaN, never a made-up number.
    """
    label_runs = runs[runs["corruption_prob"].notna()].copy()
    group = ["dataset", "model", "regularizer", "seed"]
    base = (
        label_runs[label_runs["corruption_prob"] == 0.0]
        .set_index(group)["epochs_to_fit"]
        .rename("base_epochs_to_fit")
    )
    label_runs = label_runs.join(base, on=group)
    label_runs["relative_time_to_fit"] = label_runs["epochs_to_fit"].astype(float) / label_runs[
        "base_epochs_to_fit"
    ].astype(float)
    return label_runs


def cumulative_best(curves: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Accuracy curves of one split with `best_so_far`: the early-stopping envelope."""
    run_keys = KEY_COLUMNS
    rows = curves[curves["split"] == split].sort_values(run_keys + ["step"]).copy()
    rows["best_so_far"] = rows.groupby(run_keys)["accuracy"].cummax()
    return rows
