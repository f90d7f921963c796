"""What one experiment reads from one run: its own point of the run's curve.

A run shared by experiments trains once, to the longest budget or cap among them
(rethinkgen.config.shared_budget), and is scored on the whole training and test sets at
every experiment's read-out epoch. Each experiment then reads (docs/design.md,
"Read-out epochs"):

* an experiment that trains a whole budget B: the values at epoch B (``budget``);
* an experiment that stops at fit with cap C: the values at the epoch the fit criterion
  first held for ``fit_patience`` evaluations (``fitted``), or, not fitted by C, the
  values at C, a lower bound on the time to fit (``censored``);
* ``diverged`` when the run diverged before that point (its values are not results);
* ``unfinished`` when the run stopped before that point without a reason that would
  have ended it (trained under another config): never drawn as a result.
"""

from __future__ import annotations

import math

import pandas as pd

from rethinkgen.schemas import last_evaluation

OUTCOMES = ("fitted", "budget", "censored", "diverged", "unfinished")
RESULT_OUTCOMES = ("fitted", "budget", "censored")  # the others are never drawn as results
SPLITS = ("train_online", "train", "test")
# The stricter fit: whole training set (eval mode) accuracy at least this, at every size
# (the scorecard's fitting checks and Figure 1b/1c's strict-fit read-out).
STRICT_FIT_ACCURACY = 0.99


def readout_point(info: dict, max_epochs: int, stops_at_fit: bool) -> tuple[str, int]:
    """(outcome, epoch) of an experiment with this budget (``max_epochs``) reading this run."""
    budget = max_epochs
    epochs, status = int(info["epochs"]), info["status"]
    fit_stop = info.get("fit_stop_epoch")
    if stops_at_fit and fit_stop is not None and fit_stop <= budget:
        return "fitted", int(fit_stop)
    if status == "diverged" and epochs <= budget:
        return "diverged", epochs
    if epochs >= budget:
        return ("censored" if stops_at_fit else "budget"), budget
    return "unfinished", epochs


class ReadoutError(ValueError):
    """A final value measured at another epoch than the read-out's."""


def read_out(info: dict, metrics: pd.DataFrame, max_epochs: int, stops_at_fit: bool) -> dict:
    """The run's row for one experiment: outcome, read-out epoch and every final value,
    each with the epoch it was measured at (``final_<split>_epoch``), which must be the
    read-out epoch; the best test accuracy so far stops there too."""
    outcome, epoch = readout_point(info, max_epochs, stops_at_fit)
    row = {
        "budget": max_epochs,
        "stops_at_fit": stops_at_fit,
        "outcome": outcome,
        "readout_epoch": epoch,
        "censored": outcome == "censored",
    }
    for split in SPLITS:
        # the engine scores every read-out epoch: a split measured there or not at all
        value = last_evaluation(metrics, split, epoch) or {}
        measured = value.get("epoch")
        if measured is not None and measured != epoch:
            raise ReadoutError(
                f"{run_name(info)}: {split} was last measured at epoch {measured}, not at the "
                f"read-out epoch {epoch} (a run trained before every read-out was scored?)"
            )
        row[f"final_{split}_epoch"] = measured
        for key in ("accuracy", "loss", "top5_accuracy"):
            row[f"final_{split}_{key}"] = value.get(key, math.nan)
    row |= best_test_until(metrics, epoch)
    fit_epoch = info.get("epochs_to_fit")
    within = fit_epoch is not None and fit_epoch <= epoch
    row |= {
        "fitted": within,
        "epochs_to_fit": fit_epoch if within else None,
        "steps_to_fit": info.get("steps_to_fit") if within else None,
        "fit_stop_epoch": info.get("fit_stop_epoch") if within else None,
    }
    return row


def best_test_until(metrics: pd.DataFrame, epoch: int) -> dict:
    """The best test accuracy measured at or before ``epoch`` and its epoch (early stopping
    within this experiment's read-out, never past it)."""
    test = metrics[(metrics["split"] == "test") & (metrics["epoch"] <= epoch)]
    if test.empty:
        return {"best_test_accuracy": math.nan, "best_test_epoch": None}
    best = test.loc[test["accuracy"].idxmax()]
    return {"best_test_accuracy": float(best["accuracy"]), "best_test_epoch": int(best["epoch"])}


def run_name(info: dict) -> str:
    keys = info.get("keys", {})
    names = [str(keys.get(k, "?")) for k in ("dataset", "model", "corruption", "regularizer")]
    return "/".join(names) + f"/seed{keys.get('seed', '?')}"


def outcome_of(runs: pd.DataFrame) -> pd.Series:
    """Each run's outcome (tables from before read-outs existed: its status)."""
    if "outcome" in runs:
        return runs["outcome"].astype(object)
    status = runs["status"] if "status" in runs else pd.Series("", index=runs.index)
    return status.map({"diverged": "diverged"}).fillna("budget").astype(object)
