"""Scorecard checks on runs.parquet: parameter counts, fitting, chance and Table 1
(docs/paper.md, checks 1-9 but 5b and 6b, which are in checks_gains).

Quantitative checks compare with the paper's numbers only on the paper's dataset; the
qualitative ones (labels fitted, chance test accuracy, the sign of a gain) apply to any.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.chance import cell_text, chance_cells
from rethinkgen.analysis.checks_common import (
    FIT_ACCURACY,
    MIN_SEEDS_FOR_SPREAD,
    NO_RUNS,
    against_paper,
    by_model,
    combine,
    describe_runs,
    few_runs,
    key_name,
    not_evidence,
    ours_sd,
    paper_cells,
    paper_data_reason,
    plain,
    row,
    with_note,
)
from rethinkgen.analysis.tables import compare_with_paper
from rethinkgen.paper import (
    MODEL_LABELS,
    PAPER_NUM_PARAMS,
    PAPER_TEST_SIZE,
)


def _fit_criterion(runs: pd.DataFrame) -> pd.Series:
    """Each run's fit criterion as text, e.g. "online_loss < 0.1" (runs.parquet's fit columns)."""
    metric = runs["fit_metric"].fillna("fit criterion").astype(str)
    below = np.where(metric.str.endswith("loss"), " < ", " >= ")
    threshold = runs["fit_threshold"].map(lambda t: "" if pd.isna(t) else f"{t:g}")
    return (metric + np.where(threshold == "", "", below) + threshold).str.strip()


def check_param_counts(counts: pd.DataFrame | None) -> dict:
    """docs/paper.md, check 1: our builds of the paper's models have Table 1's parameter counts
    at the paper's 3x28x28 input. `counts` (paper_model, num_params) comes from building the
    models (training.models.parameter_table); it needs no data."""
    what = "Parameter counts of the paper's CIFAR-10 models (built at 3x28x28, no data)"
    paper = ", ".join(f"{MODEL_LABELS[m]}: {n:,}" for m, n in PAPER_NUM_PARAMS.items())
    if counts is None or counts.empty:
        return row("1", what, paper, "", "exact", na="the models were not built")
    ours = counts.set_index("paper_model")["num_params"].reindex(list(PAPER_NUM_PARAMS))
    text = ", ".join(
        f"{MODEL_LABELS[m]}: " + ("not built" if pd.isna(n) else f"{int(n):,}")
        for m, n in ours.items()
    )
    return row(
        "1",
        what,
        paper,
        text,
        "exact",
        "models built from rethinkgen.paper.PAPER_MODELS",
        passed=bool(
            ours.notna().all() and all(int(n) == PAPER_NUM_PARAMS[m] for m, n in ours.items())
        ),
    )


def _span(values: pd.Series) -> str:
    low, high = 100 * values.min(), 100 * values.max()
    return f"{low:.2f}%" if low == high else f"{low:.2f}-{high:.2f}%"


def fit_text(runs: pd.DataFrame, column: str) -> str:
    """Per model (and dataset key): the lowest accuracy, its read-out epoch and the fit
    criterion's epoch, e.g. "mlp_1x512: 96.40% at epoch 100 (online_loss < 0.1 by epoch 155)"."""
    summary = (
        runs.assign(criterion=_fit_criterion(runs))
        .groupby(by_model(runs))
        .agg(
            accuracy=(column, "min"),
            readout=("readout_epoch", "max"),
            epochs=("epochs_to_fit", "max"),
            fitted=("fitted", "all"),
            criterion=("criterion", "first"),
        )
    )
    return ", ".join(
        f"{key_name(key)}: {100 * r.accuracy:.2f}% at epoch {r.readout:g} ({r.criterion} "
        + (f"by epoch {int(r.epochs)})" if r.fitted else "not met)")
        for key, r in zip(summary.index, summary.itertuples())
    )


def fitting_row(
    check_id: str, what: str, paper: str, selected: pd.DataFrame, column: str, kind: str
) -> dict:
    """Every evidence run's `column` at its read-out >= FIT_ACCURACY (RULES["fit"])."""
    tolerance = f">= {100 * FIT_ACCURACY:g}% each ({kind}, at the read-out epoch)"
    used, note = not_evidence(selected)
    if used.empty:
        verdict = "inconclusive (no run is evidence)" if len(selected) else None
        return row(
            check_id,
            what,
            paper,
            note,
            tolerance,
            describe_runs(selected),
            verdict=verdict,
            na=NO_RUNS,
        )
    return row(
        check_id,
        what,
        paper,
        with_note(fit_text(used, column), note),
        tolerance,
        describe_runs(selected),
        passed=bool((used[column] >= FIT_ACCURACY).all()),
    )


def check_fitting(runs: pd.DataFrame, check_id: str, what: str, condition: str) -> dict:
    """docs/paper.md, checks 2 and 9: every run without regularizers on these labels has a
    whole training set (eval mode) accuracy of at least FIT_ACCURACY at Table 1's read-out,
    whatever epoch the fit criterion was met at; the paper's values are shown beside."""
    reference = paper_cells("table1", "train_accuracy_pct", paper_condition=condition)
    paper = f"{_span(reference)} (Table 1)"
    selected = plain(runs[runs["paper_condition"] == condition])
    return fitting_row(
        check_id, what, paper, selected, "final_train_accuracy", "whole training set"
    )


def check_chance_test_accuracy(runs: pd.DataFrame, levels: pd.DataFrame | None = None) -> dict:
    """docs/paper.md, check 3: random labels give test accuracy at chance, by RULES["chance"]:
    each cell's mean within 3 sd of its draw's expected chance level (analysis.chance)."""
    selected = plain(runs[runs["paper_condition"] == "random_labels"])
    reference = paper_cells("table1", "test_accuracy_pct", paper_condition="random_labels")
    what, paper = (
        "Random labels: test accuracy at chance",
        f"{_span(reference)} (Table 1, K = 10)",
    )
    tolerance = "3 sd each: null c(1 - c)/n_test + run-to-run variance (RULES: chance)"
    used, note = not_evidence(selected)
    if used.empty:
        verdict = "inconclusive (no run is evidence)" if len(selected) else None
        return row("3", what, paper, note, tolerance, verdict=verdict, na=NO_RUNS)
    cells = chance_cells(used, levels)
    return row(
        "3",
        what,
        paper,
        with_note("; ".join(cell_text(c) for c in cells.itertuples()), note),
        tolerance,
        describe_runs(selected),
        verdict=combine(list(cells["verdict"])),
    )


def check_table1_cells(
    runs: pd.DataFrame, check_id: str, models: list[str], extra: str = ""
) -> dict:
    """docs/paper.md, checks 4-8: Table 1 true-label test accuracies, each within 3 sd of the
    difference (RULES["difference"]: ours at our test set's size or the seed sd, the paper's
    at 10,000 images); a cell with fewer than 3 replicates is inconclusive."""
    what = f"Table 1 test accuracy: {', '.join(MODEL_LABELS[m] for m in models)}" + extra
    runs, note = not_evidence(runs)
    long = compare_with_paper(runs, "table1")
    cells = long[
        long["paper_model"].isin(models)
        & (long["metric"] == "test_accuracy_pct")
        & (long["paper_condition"] == "true_labels")
    ]
    paper = ", ".join(f"{v:.2f}" for v in cells["paper"])
    used = runs[
        runs["paper_model"].isin(models)
        & (runs["paper_condition"] == "true_labels")
        & ~runs["augment"].astype(bool)
        & (runs["dropout"] == 0)
    ]
    tolerance = "+-3 sd of the difference each (cells run)"
    reason = paper_data_reason(used)
    if reason or cells["ours"].isna().all():
        return row(
            check_id, what, paper, "", tolerance, describe_runs(used), na=reason or "not run"
        )
    judged = cells.dropna(subset=["ours"])  # judge the cells we ran; the rest read "not run"
    gap, tol = against_paper(
        judged["ours"], ours_sd(judged, used), judged["paper"], PAPER_TEST_SIZE
    )
    verdicts = [
        ("pass" if ok else "fail") if seeds >= MIN_SEEDS_FOR_SPREAD else few_runs(int(seeds))
        for ok, seeds in zip(gap <= tol, judged["n_seeds"].fillna(0))
    ]
    tol_of, verdict_of_cell = dict(zip(judged.index, tol)), dict(zip(judged.index, verdicts))
    ours = ", ".join(
        "not run" if pd.isna(v) else f"{v:.2f} (+-{tol_of[i]:.2f}, {verdict_of_cell[i]})"
        for i, v in cells["ours"].items()
    )
    ours = with_note(ours, note)
    return row(
        check_id, what, paper, ours, tolerance, describe_runs(used), verdict=combine(verdicts)
    )
