"""Scorecard checks on runs.parquet: parameter counts, fitting, chance and Table 1
(docs/paper.md, checks 1-9 but 5b and 6b, which are in checks_gains).

Quantitative checks compare with the paper's numbers only on the paper's dataset; the
qualitative ones (labels fitted, chance test accuracy, the sign of a gain) apply to any.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.checks_common import (
    NO_RUNS,
    SD_MULTIPLE,
    against_paper,
    by_model,
    cell_accuracy,
    describe_runs,
    fitting_threshold,
    key_name,
    ours_sd,
    paper_cells,
    paper_data_reason,
    plain,
    row,
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


def check_fitting(runs: pd.DataFrame, check_id: str, what: str, condition: str) -> dict:
    """docs/paper.md, checks 2 and 9: every run without regularizers on these labels ends with
    at least Table 1's lowest training accuracy for them, less 3 sd (TOLERANCE_RULE), on the
    whole training set (eval mode), which measures fitting directly (the epoch's online
    accuracy lags it). The fit epoch is shown beside it. Table 1's values are end-of-training
    accuracies, so only runs that trained their whole budget are judged; a run stopped at its
    fit (Figure 1b) has no end of training."""
    reference = paper_cells("table1", "train_accuracy_pct", paper_condition=condition)
    paper, paper_min = f"{_span(reference)} (Table 1)", float(reference.min())
    chosen = plain(runs[runs["paper_condition"] == condition])
    selected = chosen[chosen["status"] != "fitted"]
    tolerance = (
        f">= {100 * paper_min:.2f}% - 3 sd each (whole training set, whole budget; "
        "binomial sd at n_train)"
    )
    if selected.empty:
        return row(
            check_id,
            what,
            paper,
            "",
            tolerance,
            na="every such run stopped at its fit" if len(chosen) else NO_RUNS,
        )
    threshold = fitting_threshold(selected, paper_min, "final_train_accuracy")
    summary = (
        selected.assign(criterion=_fit_criterion(selected), threshold=threshold)
        .groupby(by_model(selected))
        .agg(
            accuracy=("final_train_accuracy", "min"),
            epochs=("epochs_to_fit", "max"),
            fitted=("fitted", "all"),
            criterion=("criterion", "first"),
            threshold=("threshold", "max"),
        )
    )
    ours = ", ".join(
        f"{key_name(key)}: {100 * r.accuracy:.2f} vs >= {100 * r.threshold:.2f} ({r.criterion} "
        + (f"by epoch {int(r.epochs)})" if r.fitted else "not met)")
        for key, r in zip(summary.index, summary.itertuples())
    )
    return row(
        check_id,
        what,
        paper,
        ours,
        tolerance,
        describe_runs(selected),
        passed=bool((selected["final_train_accuracy"] >= threshold).all()),
    )


def check_chance_test_accuracy(runs: pd.DataFrame) -> dict:
    """docs/paper.md, check 3: random labels give test accuracy at chance 1/K: each cell's
    mean over seeds within 3 sd of 1/K (TOLERANCE_RULE at the test set's size)."""
    selected = plain(runs[runs["paper_condition"] == "random_labels"])
    reference = paper_cells("table1", "test_accuracy_pct", paper_condition="random_labels")
    what, paper = (
        "Random labels: test accuracy at chance (1/K)",
        f"{_span(reference)} (Table 1, K = 10)",
    )
    tolerance = "|acc - 1/K| <= 3 sd each (binomial at n_test, or the seed sd with >= 3 seeds)"
    if selected.empty:
        return row("3", what, paper, "", tolerance, na=NO_RUNS)
    cells = cell_accuracy(selected, "final_test_accuracy", "n_test", ["num_classes"])
    cells["tol"] = SD_MULTIPLE * cells["sd"]
    ok = (cells["mean"] - 1 / cells["num_classes"]).abs() <= cells["tol"]
    ours = ", ".join(
        f"{r.dataset}/{r.model}: {100 * r.mean:.2f} (1/K {100 / r.num_classes:.2f} "
        f"+- {100 * r.tol:.2f})"
        for r in cells.itertuples()
    )
    return row("3", what, paper, ours, tolerance, describe_runs(selected), passed=bool(ok.all()))


def check_table1_cells(
    runs: pd.DataFrame, check_id: str, models: list[str], extra: str = ""
) -> dict:
    """docs/paper.md, checks 4-8: Table 1 true-label test accuracies, each within 3 sd of the
    difference (TOLERANCE_RULE: ours at our test set's size, the paper's at 10,000 images)."""
    what = f"Table 1 test accuracy: {', '.join(MODEL_LABELS[m] for m in models)}" + extra
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
    tol_of = dict(zip(judged.index, tol))
    ours = ", ".join(
        "not run" if pd.isna(v) else f"{v:.2f} (+-{tol_of[i]:.2f})"
        for i, v in cells["ours"].items()
    )
    return row(
        check_id, what, paper, ours, tolerance, describe_runs(used), passed=bool((gap <= tol).all())
    )
