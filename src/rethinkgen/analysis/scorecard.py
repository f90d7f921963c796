"""Scorecard: the paper's reproduction checks (docs/paper.md, "Reproduction checks", checks
1-27), evaluated on our runs and theory tables.

Each check is one row: paper value, ours, tolerance, a result that is "pass", "fail" or
"not applicable (<reason>)", and the runs or table rows it read. Quantitative checks compare
numbers and apply only when our data are the paper's (CIFAR-10, ImageNet, MNIST); the
qualitative ones (labels fitted, chance test accuracy, orderings, a gain's sign, a bounded
slowdown, the theory's exact fits) apply to any dataset. The checks live in checks_runs
(runs.parquet), checks_curves (Figure 1) and checks_theory (the theory tables).
"""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis import checks_curves as curves_
from rethinkgen.analysis import checks_runs as runs_
from rethinkgen.analysis.checks_common import SCORECARD_COLUMNS
from rethinkgen.analysis.checks_theory import theory_checks

TITLE = "Scorecard: the paper's reproduction checks (docs/paper.md)"
RANDOM_LABEL_CROSSING_STEPS = 13_700  # Fig. 1a: random labels, loss < 0.1 at epoch ~35
TRUE_LABEL_CROSSING_STEPS = 3_127  # Fig. 1a: true labels, loss < 0.1 at epoch 8


def _run_checks(runs: pd.DataFrame) -> list[dict]:
    """Checks 1-9 (fitting, chance, Table 1 and the gains of crop and BatchNorm)."""
    return [
        runs_.check_param_counts(runs),
        runs_.check_fitting(runs, "2", "Random labels fitted, no regularizer (AlexNet + wd: check 18)",
                            "random_labels", "99.34-100% (Table 1)", 0.99),
        runs_.check_chance_test_accuracy(runs),
        runs_.check_table1_cells(runs, "4-5", ["inception"], 2.0, " (all crop/wd settings)"),
        runs_.check_crop_gain(runs),
        runs_.check_table1_cells(runs, "6", ["inception_nobn"], 3.0),
        runs_.check_batchnorm_gain(runs),
        runs_.check_table1_cells(runs, "7", ["alexnet"], 3.0),
        runs_.check_table1_cells(runs, "8", ["mlp_3x512", "mlp_1x512"], 3.0),
        runs_.check_fitting(runs, "9", "True labels fitted, no regularizer", "true_labels",
                            "99.80-100% (Table 1)", 0.995),
    ]


def _figure1_checks(runs: pd.DataFrame, curves: pd.DataFrame) -> list[dict]:
    """Checks 10-17 (Figure 1a-c)."""
    return [
        curves_.check_fit_ordering(runs),
        curves_.check_random_label_plateau(curves, runs),
        curves_.check_loss_crossing(curves, runs, "11b", "random_labels", RANDOM_LABEL_CROSSING_STEPS,
                                    "~13.7k steps (epoch ~35)"),
        curves_.check_loss_crossing(curves, runs, "12", "true_labels", TRUE_LABEL_CROSSING_STEPS,
                                    "~3.1k steps (epoch 8)"),
        curves_.check_curves_reach_zero(runs),
        *curves_.check_slowdown(runs),
        *curves_.check_test_error_growth(runs),
        curves_.check_model_order(runs),
    ]


def build_scorecard(runs: pd.DataFrame, curves: pd.DataFrame, expressivity: pd.DataFrame | None = None,
                    kernels: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every check as one row, ordered by check id. `expressivity` and `kernels` are the theory
    tables (None when the config has no theory section)."""
    rows = [
        *_run_checks(runs),
        *_figure1_checks(runs, curves),
        runs_.check_table4_weight_decay(runs),
        runs_.check_table4_augmentation(runs),
        runs_.check_imagenet_table2(runs),
        *runs_.check_early_stopping(runs),
        *theory_checks(expressivity, kernels),
    ]
    card = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    order = card["check_id"].str.extract(r"^(\d+)")[0].astype(int)
    return card.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def scorecard_notes(card: pd.DataFrame) -> list[str]:
    """One line of counts, and what the ids and the `runs` column refer to."""
    results = card["result"].str.extract(r"^(pass|fail|not applicable)")[0].value_counts()
    counts = ", ".join(f"{results.get(k, 0)} {k}" for k in ("pass", "fail", "not applicable"))
    return [f"{len(card)} checks: {counts}.",
            "Check ids are those of docs/paper.md, \"Reproduction checks\". `runs` names the runs "
            "(dataset/model/corruption/regularizer/seed, braces for alternatives) or theory-table rows read."]
