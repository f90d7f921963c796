"""The weight-decay sweep's claims, each with its controls and its test.

A cell is (n, BatchNorm, decay kind, scope, coefficient). Its claim compares the cell's
random-label fit rate with two controls: true labels in the same cell, and random labels
without weight decay (wd = 0) at the same n and BatchNorm, by Fisher's exact test. The
analysis refuses to claim anything for a cell that lacks either control, or whose cap is
within ``CAP_MARGIN`` times the epochs the wd = 0 controls needed to fit (a stall at such
a cap can be the budget, not the decay).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.stats import fisher_p, proportion_interval
from rethinkgen.analysis.weight_decay import CELL

CAP_MARGIN = 3.0  # the cap must be this many times the wd = 0 controls' slowest fit
ALPHA = 0.05


def _rate(rows: pd.DataFrame) -> tuple[int, int]:
    return int(rows["fitted"].sum()), int(len(rows))


def claims(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with weight decay: fits / runs on random labels, on true labels
    and in the wd = 0 control, the two Fisher p-values, the cap margin, the measured and
    predicted equilibrium norms, and the claim (or why none is made)."""
    rows = []
    random = table[table["corruption"] == "random_labels"]
    true = table[table["corruption"] == "true_labels"]
    for cell, group in random[random["weight_decay"] > 0].groupby(CELL, sort=True):
        key = dict(zip(CELL, cell))
        same = np.logical_and.reduce([true[c] == v for c, v in key.items()])
        control = random[
            (random["weight_decay"] == 0)
            & (random["n_train"] == key["n_train"])
            & (random["batch_norm"] == key["batch_norm"])
        ]
        fits, runs = _rate(group)
        true_fits, true_runs = _rate(true[same])
        control_fits, control_runs = _rate(control)
        control_fit = control.loc[control["fitted"], "epochs_to_fit"].max()
        margin = float(group["budget"].min() / control_fit) if control_fits else np.nan
        low, high = proportion_interval(fits, runs)
        row = {
            **key,
            "random_fits": fits,
            "random_runs": runs,
            "random_rate_low": low,
            "random_rate_high": high,
            "true_fits": true_fits,
            "true_runs": true_runs,
            "control_fits": control_fits,
            "control_runs": control_runs,
            "p_vs_true": fisher_p(fits, runs, true_fits, true_runs),
            "p_vs_control": fisher_p(fits, runs, control_fits, control_runs),
            "cap_margin": margin,
            "decayed_norm": float(group["decayed_norm"].median()),
            "equilibrium_norm": float(group["equilibrium_norm"].median()),
        }
        rows.append(row | {"claim": _claim(row)})
    return pd.DataFrame(rows)


def _claim(row: dict) -> str:
    """What the cell shows, or why it makes no claim."""
    if row["true_runs"] == 0:
        return "no claim: no true-label control in this cell"
    if row["control_runs"] == 0:
        return "no claim: no wd = 0 control at this n"
    if not row["cap_margin"] >= CAP_MARGIN:
        return f"no claim: cap under {CAP_MARGIN:g}x the wd = 0 controls' fit"
    rate = row["random_fits"] / row["random_runs"]
    fails = (
        rate < row["true_fits"] / row["true_runs"]
        and rate < row["control_fits"] / row["control_runs"]
        and row["p_vs_true"] < ALPHA
        and row["p_vs_control"] < ALPHA
    )
    if fails:
        return "weight decay stops random labels, not true ones (Table 4's pattern)"
    return "no significant difference from the controls"


def _cell_name(row) -> str:
    bn = "BN" if row["batch_norm"] else "no BN"
    return (
        f"n = {row['n_train']}, {bn}, {row['decay']} {row['weight_decay_scope']} "
        f"{row['weight_decay']:g}"
    )


def weight_decay_finding(table: pd.DataFrame) -> str:
    """Per cell: the three fit rates, both tests and the claim; then the equilibrium."""
    cells = claims(table)
    if cells.empty:
        return f"{len(table)} runs and no cell with weight decay on random labels: no claim."
    parts = [
        f"{_cell_name(r)}: random {r['random_fits']}/{r['random_runs']}, true "
        f"{r['true_fits']}/{r['true_runs']} (p = {r['p_vs_true']:.2g}), wd = 0 "
        f"{r['control_fits']}/{r['control_runs']} (p = {r['p_vs_control']:.2g}): {r['claim']}"
        for _, r in cells.iterrows()
    ]
    measured = cells.dropna(subset=["decayed_norm", "equilibrium_norm"])
    ratio = (measured["decayed_norm"] / measured["equilibrium_norm"]).replace(np.inf, np.nan)
    norms = (
        f" Decayed parameters' final norm over the equilibrium ||mean g|| / wd_eff (median "
        f"per cell): {ratio.min():.2g}-{ratio.max():.2g}."
        if ratio.notna().any()
        else ""
    )
    return (
        f"{len(table)} runs, {len(cells)} cells with weight decay; Fisher's exact test, "
        f"alpha {ALPHA:g}; no claim without both controls and a cap at least {CAP_MARGIN:g}x "
        "the wd = 0 fit. " + "; ".join(parts) + "." + norms
    )
