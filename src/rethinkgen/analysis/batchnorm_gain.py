"""Figure 2b's number: how much BatchNorm adds to test accuracy, read so that one noisy
evaluation cannot make it.

Per (dataset, seed), the BatchNorm run and the run without it are each read over their
last ``last`` test evaluations up to the experiment's read-out epoch; the gain is the
difference of those means, with the sd of the paired differences over the evaluations.
Across seeds: the mean gain, its sd and n. The row also says whether both nets fitted
(whole-training-set accuracy at the read-out at least ``FIT_ACCURACY``): a gain between
a fitted and an unfitted net mixes BatchNorm with training progress.
"""

from __future__ import annotations

import math

import pandas as pd

from rethinkgen.analysis.readout import RESULT_OUTCOMES, outcome_of
from rethinkgen.run import RUN_KEYS

BN_MODEL, NO_BN_MODEL = "inception", "inception_nobn"
FIT_ACCURACY = 0.99  # whole training set, eval mode
LAST_EVALUATIONS = 5


def _last_test_accuracies(curves: pd.DataFrame, run: pd.Series, last: int) -> pd.Series:
    mine = curves[
        (curves[list(RUN_KEYS)] == run[list(RUN_KEYS)].to_numpy()).all(axis=1)
        & (curves["split"] == "test")
        & (curves["epoch"] <= run["readout_epoch"])
    ]
    return mine.sort_values("epoch").drop_duplicates("epoch", keep="last")["accuracy"].tail(last)


def batchnorm_gains(
    curves: pd.DataFrame, runs: pd.DataFrame, last: int = LAST_EVALUATIONS
) -> pd.DataFrame:
    """One row per (dataset, seed) with a BatchNorm and a no-BatchNorm true-label run."""
    runs = runs.assign(outcome=outcome_of(runs))
    runs = runs[
        (runs["paper_condition"] == "true_labels")
        & runs["paper_model"].isin([BN_MODEL, NO_BN_MODEL])
        & runs["outcome"].isin(RESULT_OUTCOMES)
    ]
    rows = []
    for (dataset, seed), cell in runs.groupby(["dataset", "seed"], sort=True):
        by_model = {r["paper_model"]: r for _, r in cell.iterrows()}
        if set(by_model) != {BN_MODEL, NO_BN_MODEL}:
            continue
        bn, no_bn = by_model[BN_MODEL], by_model[NO_BN_MODEL]
        bn_acc = _last_test_accuracies(curves, bn, last).to_numpy()
        no_bn_acc = _last_test_accuracies(curves, no_bn, last).to_numpy()
        n = min(len(bn_acc), len(no_bn_acc))
        paired = bn_acc[-n:] - no_bn_acc[-n:] if n else []
        both_fitted = bool(
            bn["final_train_accuracy"] >= FIT_ACCURACY
            and no_bn["final_train_accuracy"] >= FIT_ACCURACY
        )
        rows.append(
            {
                "dataset": dataset,
                "seed": seed,
                "bn_model": bn["model"],
                "no_bn_model": no_bn["model"],
                "readout_epoch_bn": int(bn["readout_epoch"]),
                "readout_epoch_no_bn": int(no_bn["readout_epoch"]),
                "evaluations": n,
                "bn_test_accuracy": float(bn_acc[-n:].mean()) if n else math.nan,
                "no_bn_test_accuracy": float(no_bn_acc[-n:].mean()) if n else math.nan,
                "gain": float(pd.Series(paired).mean()) if n else math.nan,
                "gain_sd_over_evaluations": float(pd.Series(paired).std(ddof=1))
                if n > 1
                else math.nan,
                "bn_train_accuracy": float(bn["final_train_accuracy"]),
                "no_bn_train_accuracy": float(no_bn["final_train_accuracy"]),
                "both_fitted": both_fitted,
            }
        )
    return pd.DataFrame(rows)


def summarize_gains(gains: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and model pair: mean gain over seeds, its sd and n, and how many seeds
    had both nets fitted."""
    if gains.empty:
        return gains
    grouped = gains.groupby(["dataset", "bn_model", "no_bn_model"], sort=True)
    return grouped.agg(
        gain_mean=("gain", "mean"),
        gain_sd=("gain", "std"),
        n=("gain", "size"),
        both_fitted=("both_fitted", "sum"),
        bn_test_accuracy=("bn_test_accuracy", "mean"),
        no_bn_test_accuracy=("no_bn_test_accuracy", "mean"),
    ).reset_index()
