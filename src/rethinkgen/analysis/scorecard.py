"""Scorecard: the paper's reproduction checks (docs/paper.md, "Reproduction checks", checks
1-27), evaluated on our runs and theory tables.

Each check is one row: paper value, ours, tolerance, a result that is "pass", "fail" or
"not applicable (<reason>)", and the runs or table rows it read. Quantitative checks compare
numbers and apply only when our data are the paper's (CIFAR-10, ImageNet, MNIST); the
qualitative ones (labels fitted, chance test accuracy, orderings, a gain's sign, a bounded
slowdown, the theory's exact fits) apply to any dataset. The checks live in checks_runs
(counts, fitting, chance, Table 1), checks_gains (crop, BatchNorm, Tables 2 and 4, early
stopping), checks_curves (Figure 1) and checks_theory (the theory tables and check 27).
Tolerances follow checks_common.TOLERANCE_RULE, printed under the table.
"""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis import checks_curves as curves_
from rethinkgen.analysis import checks_gains as gains_
from rethinkgen.analysis import checks_runs as runs_
from rethinkgen.analysis.checks_common import SCORECARD_COLUMNS, TOLERANCE_RULE
from rethinkgen.analysis.checks_theory import theory_checks

TITLE = "Scorecard: the paper's reproduction checks (docs/paper.md)"


def _run_checks(runs: pd.DataFrame, param_counts: pd.DataFrame | None) -> list[dict]:
    """Checks 1-9 (parameter counts, fitting, chance, Table 1 and the gains of crop and
    BatchNorm)."""
    return [
        runs_.check_param_counts(param_counts),
        runs_.check_fitting(
            runs,
            "2",
            "Random labels fitted, no regularizer (AlexNet + wd: check 18)",
            "random_labels",
        ),
        runs_.check_chance_test_accuracy(runs),
        runs_.check_table1_cells(runs, "4-5", ["inception"], " (all crop/wd settings)"),
        gains_.check_crop_gain(runs),
        runs_.check_table1_cells(runs, "6", ["inception_nobn"]),
        gains_.check_batchnorm_gain(runs),
        runs_.check_table1_cells(runs, "7", ["alexnet"]),
        runs_.check_table1_cells(runs, "8", ["mlp_3x512", "mlp_1x512"]),
        runs_.check_fitting(runs, "9", "True labels fitted, no regularizer", "true_labels"),
    ]


def _figure1_checks(runs: pd.DataFrame, curves: pd.DataFrame) -> list[dict]:
    """Checks 10-17 (Figure 1a-c)."""
    return [
        curves_.check_fit_ordering(runs),
        curves_.check_random_label_plateau(curves, runs),
        curves_.check_loss_crossing(curves, runs, "11b", "random_labels"),
        curves_.check_loss_crossing(curves, runs, "12", "true_labels"),
        curves_.check_curves_reach_zero(runs),
        *curves_.check_slowdown(runs),
        *curves_.check_test_error_growth(runs),
        curves_.check_model_order(runs),
    ]


def build_scorecard(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    expressivity: pd.DataFrame | None = None,
    kernels: pd.DataFrame | None = None,
    param_counts: pd.DataFrame | None = None,
    min_norm: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every check as one row, ordered by check id. `expressivity` and `kernels` are the theory
    tables (None when the config has no theory section); `param_counts` (paper_model,
    num_params: the paper's models built at 3x28x28) and `min_norm` (the least-squares
    problem of theory.least_squares) need no data and are computed by the adapter."""
    rows = [
        *_run_checks(runs, param_counts),
        *_figure1_checks(runs, curves),
        gains_.check_table4_weight_decay(runs),
        gains_.check_table4_augmentation(runs),
        gains_.check_imagenet_table2(runs),
        *gains_.check_early_stopping(runs),
        *theory_checks(expressivity, kernels, min_norm),
    ]
    card = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    order = card["check_id"].str.extract(r"^(\d+)")[0].astype(int)
    return card.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def scorecard_notes(card: pd.DataFrame) -> list[str]:
    """One line of counts, and what the ids and the `runs` column refer to."""
    results = card["result"].str.extract(r"^(pass|fail|not applicable)")[0].value_counts()
    counts = ", ".join(f"{results.get(k, 0)} {k}" for k in ("pass", "fail", "not applicable"))
    return [
        f"{len(card)} checks: {counts}.",
        TOLERANCE_RULE,
        'Check ids are those of docs/paper.md, "Reproduction checks". `runs` names the runs '
        "(dataset/model/corruption/regularizer/seed, braces for alternatives) "
        "or theory-table rows read.",
    ]
