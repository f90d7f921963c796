"""The chance level of a random-label run, measured on its own label draw, and the chance
test of the scorecard (checks 3 and 15; checks_common.RULES["chance"]).

A net trained on random labels can only learn, for an image of true class c, the labels
its training images of class c were given. If it predicts them as they were drawn, its
expected test accuracy is the draw's expected chance level

    sum over c of pi_test(c) * P(random label = c | true class c),

with pi_test the test set's class frequencies and P measured on the saved training labels
(results/data/<dataset>/<corruption>/data_seed<n>/train.npz holds both the corrupted and
the true labels). It is 1/K in expectation over draws, and moves with a small training
set's draw.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rethinkgen.analysis.checks_common import (
    CELL_KEYS,
    MIN_SEEDS_FOR_SPREAD,
    SD_MULTIPLE,
    few_runs,
)

DRAW_KEYS = ["dataset", "corruption", "data_seed"]


def expected_chance_level(
    true_train: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray, num_classes: int
) -> float:
    """sum_c pi_test(c) * P(train label = c | true class c), from the arrays of one draw."""
    true_train, train_labels = np.asarray(true_train), np.asarray(train_labels)
    test_share = np.bincount(np.asarray(test_labels), minlength=num_classes) / len(test_labels)
    level = 0.0
    for c in range(num_classes):
        of_class = true_train == c
        if of_class.any():
            level += test_share[c] * float(np.mean(train_labels[of_class] == c))
    return level


def chance_levels(draws: list[dict]) -> pd.DataFrame:
    """One row per label draw (DRAW_KEYS, expected_chance): each draw a dict of its keys and
    its `train` and `test` .npz files. A draw whose training file has no true labels (an
    uncorrupted split) is left out."""
    rows = []
    for draw in draws:
        with np.load(draw["train"]) as train, np.load(draw["test"]) as test:
            if "true_labels" not in train:
                continue
            classes = len(train["classes"])
            level = expected_chance_level(
                train["true_labels"], train["labels"], test["labels"], classes
            )
        rows.append({k: draw[k] for k in DRAW_KEYS} | {"expected_chance": level})
    return pd.DataFrame(rows, columns=DRAW_KEYS + ["expected_chance"])


def with_chance_level(runs: pd.DataFrame, levels: pd.DataFrame | None) -> pd.DataFrame:
    """Runs with `chance` (their draw's expected chance level, else 1/K) and `chance_source`."""
    runs = runs.copy()
    uniform = 1.0 / runs["num_classes"].astype(float)
    measured = pd.Series(np.nan, index=runs.index)
    if levels is not None and len(levels):
        keys = runs[DRAW_KEYS].astype({"data_seed": "int64"})
        merged = keys.merge(
            levels.astype({"data_seed": "int64"}), on=DRAW_KEYS, how="left"
        ).set_axis(runs.index)
        measured = merged["expected_chance"].astype(float)
    runs["chance"] = measured.fillna(uniform)
    runs["chance_source"] = np.where(measured.notna(), "draw", "1/K")
    return runs


def chance_cells(runs: pd.DataFrame, levels: pd.DataFrame | None) -> pd.DataFrame:
    """Per cell: mean test accuracy, its chance level (mean of its runs' draws), the null
    sd sqrt(c(1 - c)/n_test), the run-to-run sd over replicates, the tolerance and the
    verdict (checks_common.RULES["chance"])."""
    runs = with_chance_level(runs, levels)
    cells = (
        runs.groupby(CELL_KEYS, dropna=False)
        .agg(
            mean=("final_test_accuracy", "mean"),
            spread=("final_test_accuracy", "std"),
            seeds=("seed", "nunique"),
            n_test=("n_test", "min"),
            num_classes=("num_classes", "first"),
            chance=("chance", "mean"),
            source=("chance_source", lambda s: "/".join(sorted(set(s)))),
        )
        .reset_index()
    )
    null_var = cells["chance"] * (1 - cells["chance"]) / cells["n_test"].astype(float)
    run_var = cells["spread"].fillna(0.0) ** 2
    cells["null_sd"] = np.sqrt(null_var)
    cells["tol"] = SD_MULTIPLE * np.sqrt(null_var + run_var)
    within = (cells["mean"] - cells["chance"]).abs() <= cells["tol"]
    cells["verdict"] = [
        ("pass" if ok else "fail") if seeds >= MIN_SEEDS_FOR_SPREAD else few_runs(seeds)
        for ok, seeds in zip(within, cells["seeds"])
    ]
    return cells


def cell_text(cell, as_error: bool = False) -> str:
    """ "fashion_mnist_1k/alexnet: 7.20% vs chance 7.90% (draw) +- 2.57, inconclusive (...)"."""
    scale = (lambda a: 100 * (1 - a)) if as_error else (lambda a: 100 * a)
    name = "test error" if as_error else ""
    level = "chance" if not as_error else "1 - chance"
    sd = "" if math.isnan(cell.spread) else f", run-to-run sd {100 * cell.spread:.2f}"
    return (
        f"{cell.dataset}/{cell.model}: {name + ' ' if name else ''}{scale(cell.mean):.2f}% vs "
        f"{level} {scale(cell.chance):.2f}% ({cell.source}) +- {100 * cell.tol:.2f} "
        f"(null sd {100 * cell.null_sd:.2f}{sd}, n = {cell.seeds}): {cell.verdict}"
    )
