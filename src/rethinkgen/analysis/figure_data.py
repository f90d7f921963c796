"""What each figure draws, as data: which runs are results, the curves up to each
experiment's budget, and summaries over seeds that respect censoring.

A diverged or unfinished run is never a result: figures mark it with its own legend entry
and leave it out of every line and mean. A run not fitted within its cap (``censored``)
gives a lower bound on its time to fit; a summary over seeds that includes one is the
censoring-aware median, and says how many were censored. Every figure writes the rows it
drew to ``results/figures/<name>.parquet`` (``plotted_rows``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.readout import RESULT_OUTCOMES, STRICT_FIT_ACCURACY, outcome_of
from rethinkgen.run import RUN_KEYS as _RUN_KEYS

KEYS = list(_RUN_KEYS)


def split_results(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs that are results, runs that are not: diverged or unfinished)."""
    ok = outcome_of(runs).isin(RESULT_OUTCOMES)
    return runs[ok.to_numpy()], runs[~ok.to_numpy()]


def curves_to_budget(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The curves of result runs, each up to its read-out epoch in this experiment."""
    results, _ = split_results(runs)
    if "readout_epoch" not in results:
        return curves.merge(results[KEYS], on=KEYS)
    limits = results[KEYS + ["readout_epoch"]]
    merged = curves.merge(limits, on=KEYS)
    return merged[merged["epoch"] <= merged["readout_epoch"]].drop(columns="readout_epoch")


def censored_summary(values: pd.Series, censored: pd.Series) -> dict:
    """Summary of one group of seeds: mean ± sd when none is censored; otherwise the
    median, where a censored value counts as "at least" its value. The median is exact
    when fewer than half are censored and every censored bound lies above it, and a lower
    bound otherwise (``lower_bound``)."""
    values = values.astype(float).to_numpy()
    censored = censored.astype(bool).to_numpy()
    n, k = len(values), int(censored.sum())
    if n == 0:
        return {
            "estimate": np.nan,
            "sd": np.nan,
            "n": 0,
            "n_censored": 0,
            "summary": "none",
            "lower_bound": False,
        }
    if k == 0:
        return {
            "estimate": float(values.mean()),
            "sd": float(values.std(ddof=1)) if n > 1 else np.nan,
            "n": n,
            "n_censored": 0,
            "summary": "mean",
            "lower_bound": False,
        }
    as_infinite = np.where(censored, np.inf, values)
    median_if_unbounded = float(np.median(as_infinite))
    exact = np.isfinite(median_if_unbounded) and bool(
        np.all(values[censored] >= median_if_unbounded)
    )
    return {
        "estimate": median_if_unbounded if exact else float(np.median(values)),
        "sd": np.nan,
        "n": n,
        "n_censored": k,
        "summary": "median",
        "lower_bound": not exact,
    }


def summarize(
    frame: pd.DataFrame, by: list[str], value: str, censored: str | None = None
) -> pd.DataFrame:
    """One summary row per group (censored_summary)."""
    rows = []
    for keys, group in frame.groupby(by, dropna=False, sort=True):
        flags = group[censored] if censored else pd.Series(False, index=group.index)
        rows.append(
            dict(zip(by, keys if isinstance(keys, tuple) else (keys,)))
            | censored_summary(group[value], flags)
        )
    return pd.DataFrame(
        rows, columns=by + ["estimate", "sd", "n", "n_censored", "summary", "lower_bound"]
    )


STRICT_COLUMNS = [
    "strict_epochs_to_fit",  # first epoch with whole-set training accuracy >= 99%
    "strict_censored",  # not reached by the experiment's cap or the run's end: a lower bound
    "strict_relative_time_to_fit",  # strict epochs at p / strict epochs at p = 0
    "strict_test_error",  # 1 - test accuracy at the strict fit
    "strict_test_epoch",  # the epoch that test accuracy was measured at
]


def strict_fit(
    curves: pd.DataFrame, runs: pd.DataFrame, threshold: float = STRICT_FIT_ACCURACY
) -> pd.DataFrame:
    """Each result run read at a stricter fit, from its curves: the first epoch, within the
    experiment's budget, at which the whole training set (eval mode) is at least
    `threshold` correct; not reached, the last such evaluation (``strict_censored``, a lower
    bound). Its test error is the last test evaluation at or before that epoch; its relative
    time divides by the same seed's p = 0 run, and is undefined where that one is censored."""
    results, _ = split_results(runs)
    limit = results["budget"] if "budget" in results else results["max_epochs"]
    limits = results[KEYS + ["corruption_prob"]].assign(limit=limit.to_numpy())
    scored = curves.merge(limits, on=KEYS)
    scored = scored[scored["epoch"] <= scored["limit"]]
    train = scored[scored["split"] == "train"]
    reached = train[train["accuracy"] >= threshold].groupby(KEYS)["epoch"].min()
    last = train.groupby(KEYS)["epoch"].max()
    table = limits.set_index(KEYS).join(reached.rename("reached")).join(last.rename("last"))
    table["strict_censored"] = table["reached"].isna()
    table["strict_epochs_to_fit"] = table["reached"].fillna(table["last"])
    test = scored[scored["split"] == "test"].set_index(KEYS)[["epoch", "accuracy"]]
    at = test.join(table["strict_epochs_to_fit"], how="inner")
    at = at[at["epoch"] <= at["strict_epochs_to_fit"]].reset_index().sort_values("epoch")
    at = at.groupby(KEYS).last()
    table["strict_test_error"] = 1 - at["accuracy"]
    table["strict_test_epoch"] = at["epoch"]
    table = table.reset_index()
    group = ["dataset", "model", "regularizer", "seed"]
    base = table[(table["corruption_prob"] == 0.0) & ~table["strict_censored"]]
    base = base.set_index(group)["strict_epochs_to_fit"].rename("base")
    table = table.join(base, on=group)
    table["strict_relative_time_to_fit"] = table["strict_epochs_to_fit"] / table["base"]
    return table[KEYS + STRICT_COLUMNS]


def plotted_rows(
    drawn: pd.DataFrame, failed: pd.DataFrame, x: str, y: str, extra: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The figure's data file: every drawn row (ours and the paper's) with its run's
    outcome, plus the runs that are not results (diverged, unfinished), marked as such;
    `extra` columns (e.g. STRICT_COLUMNS) follow."""
    ours = drawn["source"] == "ours" if "source" in drawn else pd.Series(True, index=drawn.index)
    drawn = drawn.assign(outcome=outcome_of(drawn).where(ours, "paper")).reset_index(drop=True)
    failed = failed.assign(source="ours", outcome=outcome_of(failed))
    columns = [
        c
        for c in dict.fromkeys(
            [
                "source",
                *KEYS,
                "model_label",
                x,
                y,
                "outcome",
                "censored",
                "readout_epoch",
                "split",
                *extra,
            ]
        )
        if c in drawn or c in failed
    ]
    return pd.concat(
        [drawn.reindex(columns=columns), failed.reindex(columns=columns)], ignore_index=True
    )
