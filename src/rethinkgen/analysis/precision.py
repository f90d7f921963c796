"""bf16 against fp32: do the quantities the figures read agree within the seed spread?

For each (dataset, paper model, corruption) trained in both precisions, and each quantity
Figure 1b/1c reads (epochs to fit, test error at the read-out), the table gives each
precision's mean, sd and n over replicates, the difference of the means, its standard
error (Welch: sqrt(sd_a^2/n_a + sd_b^2/n_b)) and Welch's t-test p-value; and, since seed s
of either precision trains on the same subset and label draw, the paired differences
(bf16 - fp32 per seed: mean, sd, n and the paired t-test's p-value). The rule, stated
in every row: the two **agree** when the difference is at most 2 standard errors. With
3 replicates a side this detects only large effects; the row says so by printing the
standard error beside the difference.

A censored run (not fitted by its cap) has only a lower bound on its time to fit, and a
diverged or unfinished run is not a result: a cell with either reads "no verdict" and
says which runs.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from rethinkgen.analysis.readout import RESULT_OUTCOMES, outcome_of

PRECISIONS = ("fp32", "bf16")
QUANTITIES = {
    "epochs_to_fit": "epochs to fit",
    "test_error": "test error at the read-out",
}
AGREEMENT_SE = 2.0  # agree: |bf16 - fp32| <= 2 standard errors of the difference


def _summary(values: pd.Series) -> dict:
    n = int(values.notna().sum())
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    return {"mean": float(values.mean()) if n else math.nan, "sd": sd, "n": n}


def compare_precisions(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, paper_model, corruption, quantity) trained in both precisions."""
    runs = runs.assign(
        precision=runs["precision"].astype(object),  # the engine's fp32 | bf16
        outcome=outcome_of(runs),
        test_error=1.0 - runs["final_test_accuracy"],
    )
    rows = []
    for (dataset, model, corruption), cell in runs.groupby(
        ["dataset", "paper_model", "corruption"], sort=True
    ):
        if set(cell["precision"]) != set(PRECISIONS):
            continue
        not_results = cell[~cell["outcome"].isin(RESULT_OUTCOMES)]
        censored = cell[cell["outcome"] == "censored"]
        usable = cell[cell["outcome"] == "fitted"]
        for quantity, label in QUANTITIES.items():
            sides = {
                p: _summary(usable.loc[usable["precision"] == p, quantity].astype(float))
                for p in PRECISIONS
            }
            row = {
                "dataset": dataset,
                "paper_model": model,
                "corruption": corruption,
                "quantity": label,
                **{f"{p}_{k}": v for p in PRECISIONS for k, v in sides[p].items()},
            }
            excluded = pd.concat([not_results, censored])
            if len(excluded):
                listed = ", ".join(
                    f"{r.model} seed {r.seed} {r.outcome}" for r in excluded.itertuples()
                )
                row |= _no_verdict(f"no verdict: {listed}")
            elif min(sides[p]["n"] for p in PRECISIONS) < 2:
                row |= _no_verdict("inconclusive: fewer than 2 runs a side")
            else:
                row |= _verdict(sides)
            row |= _paired(usable, quantity)
            rows.append(row)
    return pd.DataFrame(rows)


def _paired(usable: pd.DataFrame, quantity: str) -> dict:
    """bf16 - fp32 per seed (the same data draw), over seeds where both are results."""
    wide = usable.pivot_table(index="seed", columns="precision", values=quantity)
    wide = wide.dropna() if set(PRECISIONS) <= set(wide.columns) else wide.iloc[0:0]
    diffs = (wide["bf16"] - wide["fp32"]) if len(wide) else pd.Series(dtype=float)
    n = len(diffs)
    sd = float(diffs.std(ddof=1)) if n > 1 else math.nan
    p = math.nan
    if n > 1:
        p = 1.0 if sd == 0 and diffs.mean() == 0 else float(stats.ttest_1samp(diffs, 0).pvalue)
    return {
        "paired_mean": float(diffs.mean()) if n else math.nan,
        "paired_sd": sd,
        "paired_n": n,
        "paired_p": p,
    }


def _no_verdict(reason: str) -> dict:
    return {
        "difference": math.nan,
        "standard_error": math.nan,
        "welch_p": math.nan,
        "verdict": reason,
    }


def _verdict(sides: dict) -> dict:
    a, b = sides["fp32"], sides["bf16"]
    difference = b["mean"] - a["mean"]
    se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
    if se == 0:
        p = 1.0 if difference == 0 else 0.0
    else:
        p = float(
            stats.ttest_ind_from_stats(
                b["mean"], b["sd"], b["n"], a["mean"], a["sd"], a["n"], equal_var=False
            ).pvalue
        )
    agree = abs(difference) <= AGREEMENT_SE * se
    rule = f"difference {'within' if agree else 'beyond'} {AGREEMENT_SE:g} SE"  # no "|": Markdown
    return {
        "difference": difference,
        "standard_error": se,
        "welch_p": p,
        "verdict": f"{'agree' if agree else 'differ'} ({rule})",
    }


def precision_markdown(table: pd.DataFrame) -> str:
    """The comparison as a Markdown table (mean ± sd (n) per precision)."""

    def cell(row, p: str) -> str:
        mean, sd, n = row[f"{p}_mean"], row[f"{p}_sd"], row[f"{p}_n"]
        if not n:
            return "-"
        spread = f" ± {sd:.3g}" if n > 1 else ""
        return f"{mean:.3g}{spread} (n={n})"

    lines = [
        "| dataset | model | corruption | quantity | fp32 | bf16 | bf16 - fp32 (SE) "
        "| Welch p | paired bf16 - fp32 | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        diff = (
            "-"
            if math.isnan(row["difference"])
            else f"{row['difference']:+.3g} ({row['standard_error']:.2g})"
        )
        p = "-" if math.isnan(row["welch_p"]) else f"{row['welch_p']:.2f}"
        paired = "-"
        if row["paired_n"] > 1:
            paired = (
                f"{row['paired_mean']:+.3g} ± {row['paired_sd']:.2g} "
                f"(n={row['paired_n']}, p={row['paired_p']:.2f})"
            )
        lines.append(
            f"| {row['dataset']} | {row['paper_model']} | {row['corruption']} "
            f"| {row['quantity']} | {cell(row, 'fp32')} | {cell(row, 'bf16')} | {diff} "
            f"| {p} | {paired} | {row['verdict']} |"
        )
    return "\n".join(lines) + "\n"
