"""Scorecard: the paper's reproduction checks (docs/paper.md, "Reproduction checks", checks
1-27), evaluated on our runs and theory tables.

Each check is one row: paper value, ours, tolerance, a verdict (checks_common.VERDICTS:
pass, fail, inconclusive, holds by construction, cannot fail on this data, not applicable,
with its reason), the experiment whose read-outs it judged and the runs or table rows it
read. A check reads the read-outs of the experiment behind the paper output it stands for
(SOURCES: Table 1's checks Table 1's experiment, Figure 1b/1c's checks theirs), never the
all-runs table, so no check mixes read-out epochs; where several experiments draw one
output (a ladder of sizes), the check has one row per experiment. Quantitative checks
compare numbers and apply only when our data are the paper's (CIFAR-10, ImageNet, MNIST);
the qualitative ones apply to any dataset. The checks live in checks_runs (counts, fitting,
chance, Table 1), checks_gains (crop, BatchNorm, Tables 2 and 4, early stopping),
checks_fig1a (Figure 1a), checks_curves (Figure 1b/1c) and checks_theory (the theory
tables and check 27); the rule of each kind of check is checks_common.RULES, printed under
the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from rethinkgen.analysis import checks_curves as curves_
from rethinkgen.analysis import checks_fig1a as fig1a_
from rethinkgen.analysis import checks_gains as gains_
from rethinkgen.analysis import checks_runs as runs_
from rethinkgen.analysis.checks_common import RULES, SCORECARD_COLUMNS, VERDICTS, verdict_of
from rethinkgen.analysis.checks_theory import theory_checks
from rethinkgen.schemas import CURVES, RUNS, pandas_dtypes

TITLE = "Scorecard: the paper's reproduction checks (docs/paper.md)"
# Which paper output each group of checks stands for: a table key, or figure kinds.
SOURCES = {
    "table1": {"table": "table1"},
    "fig1a": {"figure_kinds": ["learning_curves"]},
    "fig1bc": {"figure_kinds": ["convergence_slowdown", "test_error_vs_corruption"]},
    "table4": {"table": "table4"},
    "table2": {"table": "table2"},
    "fig2b": {"figure_kinds": ["batchnorm"]},
}


@dataclass(frozen=True)
class Readouts:
    """One experiment's read-outs: its runs.parquet and curves.parquet."""

    experiment: str
    runs: pd.DataFrame
    curves: pd.DataFrame = field(default_factory=lambda: empty(CURVES))


def empty(schema) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(dtype=t) for k, t in pandas_dtypes(schema).items()})


def read_readouts(experiments: dict[str, list[str]], files) -> dict[str, list[Readouts]]:
    """Each source's experiments' tables, read from `files` (the make_scorecard rule's
    input: `runs_<experiment>` and `curves_<experiment>`, attributes or keys)."""
    from rethinkgen.io import read_parquet

    def path(name: str) -> str:
        return files[name] if isinstance(files, dict) else getattr(files, name)

    return {
        source: [
            Readouts(e, read_parquet(path(f"runs_{e}")), read_parquet(path(f"curves_{e}")))
            for e in names
        ]
        for source, names in experiments.items()
    }


def source_experiments(config: dict) -> dict[str, list[str]]:
    """SOURCES -> the configured experiments behind each (none: its checks are not
    applicable). A figure or table needing a dataset the experiment lacks is left out."""
    from rethinkgen.config import output_available  # config-level: import when used

    found = {}
    for source, wanted in SOURCES.items():
        specs = []
        if "table" in wanted and wanted["table"] in config.get("tables", {}):
            specs.append(config["tables"][wanted["table"]])
        specs += [
            s
            for s in config.get("figures", {}).values()
            if s["kind"] in wanted.get("figure_kinds", [])
        ]
        found[source] = sorted({s["experiment"] for s in specs if output_available(config, s)})
    return found


def _table1_checks(r: Readouts, levels: pd.DataFrame | None) -> list[dict]:
    """Checks 2-9 on Table 1's read-outs (fitting, chance, its cells, crop and BatchNorm)."""
    runs = r.runs
    return [
        runs_.check_fitting(
            runs,
            "2",
            "Random labels fitted, no regularizer (AlexNet + wd: check 18)",
            "random_labels",
        ),
        runs_.check_chance_test_accuracy(runs, levels),
        runs_.check_table1_cells(runs, "4-5", ["inception"], " (all crop/wd settings)"),
        gains_.check_crop_gain(runs),
        runs_.check_table1_cells(runs, "6", ["inception_nobn"]),
        gains_.check_batchnorm_gain(runs),
        runs_.check_table1_cells(runs, "7", ["alexnet"]),
        runs_.check_table1_cells(runs, "8", ["mlp_3x512", "mlp_1x512"]),
        runs_.check_fitting(runs, "9", "True labels fitted, no regularizer", "true_labels"),
    ]


def _fig1a_checks(r: Readouts, levels: pd.DataFrame | None) -> list[dict]:
    """Checks 10-13 (Figure 1a)."""
    return [
        fig1a_.check_fit_ordering(r.runs),
        fig1a_.check_random_label_plateau(r.curves, r.runs),
        fig1a_.check_loss_crossing(r.curves, r.runs, "11b", "random_labels"),
        fig1a_.check_loss_crossing(r.curves, r.runs, "12", "true_labels"),
        fig1a_.check_curves_reach_zero(r.runs),
    ]


def _fig1bc_checks(r: Readouts, levels: pd.DataFrame | None) -> list[dict]:
    """Checks 14-17 (Figure 1b and 1c)."""
    return [
        *curves_.check_slowdown(r.runs),
        *curves_.check_test_error_growth(r.runs, levels),
        curves_.check_model_order(r.runs),
    ]


def _table4_checks(r: Readouts, levels: pd.DataFrame | None) -> list[dict]:
    return [gains_.check_table4_weight_decay(r.runs), gains_.check_table4_augmentation(r.runs)]


def _table2_checks(r: Readouts, levels: pd.DataFrame | None) -> list[dict]:
    return [gains_.check_imagenet_table2(r.runs), gains_.check_early_stopping(r.runs)[1]]


def _fig2b_checks(r: Readouts, levels: pd.DataFrame | None) -> list[dict]:
    return [gains_.check_early_stopping(r.runs, r.curves)[0]]


CHECKS = {
    "table1": _table1_checks,
    "fig1a": _fig1a_checks,
    "fig1bc": _fig1bc_checks,
    "table4": _table4_checks,
    "table2": _table2_checks,
    "fig2b": _fig2b_checks,
}


def _source_rows(source: str, readouts: list[Readouts], levels) -> list[dict]:
    """The source's checks on each of its experiments; with none, every check is not
    applicable (it is evaluated on no runs)."""
    if not readouts:
        rows = CHECKS[source](Readouts("", empty(RUNS)), levels)
        why = f"not applicable (no experiment of the config draws {source})"
        return [r | {"result": why, "ours": "", "runs": ""} for r in rows]
    return [
        r | {"experiment": one.experiment} for one in readouts for r in CHECKS[source](one, levels)
    ]


def build_scorecard(
    readouts: dict[str, list[Readouts]],
    expressivity: pd.DataFrame | None = None,
    kernels: pd.DataFrame | None = None,
    param_counts: pd.DataFrame | None = None,
    min_norm: pd.DataFrame | None = None,
    chance_levels: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every check as one row (one per experiment where several draw its output), ordered
    by check id. `readouts`: SOURCES key -> the read-outs of its experiments (a key left out
    has none). `expressivity` and `kernels` are the theory tables (None when the config has
    no theory section); `param_counts` (paper_model, num_params: the paper's models built at
    3x28x28) and `min_norm` (the least-squares problem of theory.least_squares) need no data
    and are computed by the adapter; `chance_levels` (analysis.chance.chance_levels) holds
    each label draw's expected chance level."""
    rows = [runs_.check_param_counts(param_counts)]
    for source in SOURCES:
        rows += _source_rows(source, readouts.get(source, []), chance_levels)
    rows += theory_checks(expressivity, kernels, min_norm)
    card = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    order = card["check_id"].str.extract(r"^(\d+)")[0].astype(int)
    return card.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def verdict_counts(card: pd.DataFrame) -> dict[str, int]:
    """How many rows have each verdict, in VERDICTS' order."""
    found = card["result"].map(verdict_of).value_counts()
    return {v: int(found.get(v, 0)) for v in VERDICTS}


def scorecard_notes(card: pd.DataFrame) -> list[str]:
    """One line of counts by verdict, the rule of each kind of check, and what the ids and
    the `runs` column refer to."""
    counts = ", ".join(f"{n} {k}" for k, n in verdict_counts(card).items())
    return [
        f"{len(card)} checks: {counts}.",
        *RULES.values(),
        'Check ids are those of docs/paper.md, "Reproduction checks". `runs` names the runs '
        "(dataset/model/corruption/regularizer/seed, braces for alternatives) "
        "or theory-table rows read.",
    ]
