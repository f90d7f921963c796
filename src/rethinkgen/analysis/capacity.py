"""Capacity against sample size: where one-hidden-layer MLPs trained by SGD stop fitting
random labels, and which size law that boundary follows.

Theorem 1 (paper section 4) fits any real labelling of n points in d dimensions with one
projection (d weights), n biases and n output weights: 2n + d for one scalar output, d + n
+ K n for K outputs (our softmax over K classes). It says that size is *enough*; much
smaller nets are known to be enough too: Baum (1988) fits the binary labels of n points in
general position in R^d with ceil(n/d) threshold units, Bubeck, Eldan, Lee & Mikulincer
(2020) arbitrary real labels with 4 ceil(n/d) ReLU units, and Yun, Sra & Jadbabaie (2019)
show that deeper ReLU nets need only Omega(n) parameters (width Theta(sqrt n) at depth 3).

Per (budget, n) the *boundary* is the smallest width whose runs fitted in at least half
of the seeds; it lies between the next smaller width of the grid (which fitted in fewer
than half) and that width: its interval. Fitted = whole-training-set accuracy of at least
the run's fit threshold within its budget. The boundary's parameter counts are then fitted
by size laws with one free constant each (parameters = c n, parameters = c (d + n + Kn))
and a free power law c n^alpha, in log space; the known sufficient sizes are drawn beside
them as they are (no constant fitted).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from rethinkgen.analysis.stats import proportion_interval

Z_95 = float(stats.norm.ppf(0.975))  # two-sided 95% normal quantile


def input_dimension(num_params: int, hidden: int, num_classes: int) -> int:
    """d of a one-hidden-layer MLP from its parameter count (d + 1) h + (h + 1) K."""
    return int(round((num_params - (hidden + 1) * num_classes) / hidden - 1))


def mlp_params(d: int, hidden: int, outputs: int) -> int:
    """Parameters of a one-hidden-layer MLP of width ``hidden``: (d + 1) h + (h + 1) K."""
    return (d + 1) * hidden + (hidden + 1) * outputs


def construction_size(d: int, n: int, outputs: int) -> int:
    """Theorem 1's parameter count for K outputs: d + n + K n (2n + d when K = 1)."""
    return d + n + outputs * n


def baum_width(n: int, d: int) -> int:
    """Baum (1988): ceil(n/d) threshold units fit binary labels of n points in general
    position in R^d."""
    return max(1, math.ceil(n / d))


def bubeck_width(n: int, d: int) -> int:
    """Bubeck et al. (2020): 4 ceil(n/d) ReLU units fit arbitrary real (scalar) labels."""
    return 4 * baum_width(n, d)


def budget_label(lr_decay: float, budget: int) -> str:
    """The training budget a run had: its lr schedule and its cap in epochs."""
    schedule = "constant lr" if float(lr_decay) == 1.0 else f"lr x{float(lr_decay):g}"
    return f"{schedule}, {int(budget)} epochs"


def mlp_runs(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    """The runs with their model's hidden width and activation, and the yardstick."""
    specs = {key: models[key] for key in runs["model"].unique()}
    bad = [key for key, spec in specs.items() if spec["arch"] != "mlp" or len(spec["hidden"]) != 1]
    if bad:
        raise ValueError(f"models {bad} are not one-hidden-layer MLPs (arch mlp, hidden: [h])")
    out = runs.assign(
        hidden=runs["model"].map(lambda m: int(specs[m]["hidden"][0])),
        activation=runs["model"].map(lambda m: specs[m].get("activation", "relu")),
        lr=runs["model"].map(lambda m: float(specs[m].get("lr", "nan"))),
    )
    out["d"] = [
        input_dimension(p, h, k)
        for p, h, k in zip(out["num_params"], out["hidden"], out["num_classes"])
    ]
    out["theorem_params"] = [
        construction_size(d, n, k) for d, n, k in zip(out["d"], out["n_train"], out["num_classes"])
    ]
    out["params_per_theorem"] = out["num_params"] / out["theorem_params"]
    cap = out["budget"] if "budget" in out else out["max_epochs"]
    decay = out["lr_decay"] if "lr_decay" in out else pd.Series(0.95, index=out.index)
    out["budget_arm"] = [budget_label(r, b) for r, b in zip(decay, cap)]
    return out


TABLE_COLUMNS = [
    "budget_arm",
    "n_train",
    "hidden",
    "seed",
    "data_seed",
    "lr",
    "num_classes",
    "d",
    "num_params",
    "theorem_params",
    "params_per_theorem",
    "fitted",
    "epochs_to_fit",
    "max_epochs",
    "final_train_accuracy",
]


def capacity_table(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    """One row per run (seed, width, n, budget): the parquet the finding is derived from."""
    table = mlp_runs(runs, models)
    keys = ["dataset", "model", "corruption", "regularizer"]
    columns = [*keys, *[c for c in TABLE_COLUMNS if c in table]]
    return table.sort_values(["budget_arm", "n_train", "hidden", "seed"])[columns]


def fit_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per (budget, n, width): fits / seeds, the rate and its 95% Clopper-Pearson interval."""
    rates = table.groupby(["budget_arm", "n_train", "hidden"], as_index=False).agg(
        num_params=("num_params", "first"),
        params_per_theorem=("params_per_theorem", "first"),
        fits=("fitted", "sum"),
        seeds=("seed", "nunique"),
    )
    rates["fits"] = rates["fits"].astype(int)
    rates["fit_rate"] = rates["fits"] / rates["seeds"]
    bounds = [proportion_interval(k, n) for k, n in zip(rates["fits"], rates["seeds"])]
    rates["rate_low"], rates["rate_high"] = zip(*bounds) if bounds else ((), ())
    return rates


def boundaries(table: pd.DataFrame) -> pd.DataFrame:
    """Per (budget, n): the smallest width fitting in at least half of the seeds and its
    interval (the next smaller width tested, which fitted in fewer than half).

    ``bracketed`` is false where no smaller width was tested (the boundary is at most the
    width found) or no width reached half (it is above the largest: ``width`` is NaN).
    ``monotone`` is false where a width above the boundary fitted in fewer than half.
    """
    rows = []
    d = int(table["d"].iloc[0])
    for (arm, n), group in fit_rates(table).groupby(["budget_arm", "n_train"], sort=True):
        group = group.sort_values("hidden")
        enough = group[group["fit_rate"] >= 0.5]
        k = int(table.loc[table["n_train"] == n, "num_classes"].iloc[0])
        row = {
            "budget_arm": arm,
            "n_train": int(n),
            "d": d,
            "num_classes": k,
            "theorem_params": construction_size(d, int(n), k),
            "baum_params": mlp_params(d, baum_width(int(n), d), k),
            "bubeck_params": mlp_params(d, bubeck_width(int(n), d), k),
            "widths_tested": int(len(group)),
            "seeds": int(group["seeds"].max()),
        }
        if enough.empty:
            largest = group.iloc[-1]
            row |= {
                "width": np.nan,
                "width_below": float(largest["hidden"]),
                "params": np.nan,
                "params_below": float(largest["num_params"]),
                "bracketed": False,
                "monotone": True,
            }
        else:
            first = enough.iloc[0]
            below = group[group["hidden"] < first["hidden"]]
            above = group[group["hidden"] > first["hidden"]]
            row |= {
                "width": float(first["hidden"]),
                "width_below": float(below["hidden"].iloc[-1]) if len(below) else np.nan,
                "params": float(first["num_params"]),
                "params_below": float(below["num_params"].iloc[-1]) if len(below) else np.nan,
                "bracketed": bool(len(below)),
                "monotone": bool((above["fit_rate"] >= 0.5).all()),
            }
        rows.append(row)
    out = pd.DataFrame(rows)
    # The boundary's point estimate: the geometric middle of its interval where bracketed.
    out["params_mid"] = np.where(
        out["bracketed"], np.sqrt(out["params"] * out["params_below"]), out["params"]
    )
    return out


def size_law_fits(bounds: pd.DataFrame) -> pd.DataFrame:
    """Per budget: each size law's fitted constant and RMS log10 error over the bracketed
    boundaries (parameters = c n, = c (d + n + Kn), = c n^alpha), and the known sufficient
    sizes' own error (no constant fitted)."""
    rows = []
    for arm, group in bounds[bounds["bracketed"]].groupby("budget_arm"):
        y = np.log10(group["params_mid"].to_numpy())
        n = group["n_train"].to_numpy(dtype=float)
        laws = {
            "c n": np.log10(n),
            "c (d + n + Kn)": np.log10(group["theorem_params"].to_numpy(dtype=float)),
        }
        for law, x in laws.items():
            c = float(np.mean(y - x))
            rows.append(_law_row(arm, law, 10**c, np.nan, np.nan, y - x - c, len(y)))
        if len(y) >= 3:
            x = np.log10(n)
            slope, intercept = np.polyfit(x, y, 1)
            residual = y - (slope * x + intercept)
            se = math.sqrt((residual**2).sum() / (len(y) - 2) / ((x - x.mean()) ** 2).sum())
            rows.append(_law_row(arm, "c n^alpha", 10**intercept, slope, se, residual, len(y)))
        for law, column in (("Baum 1988", "baum_params"), ("Bubeck et al. 2020", "bubeck_params")):
            x = np.log10(group[column].to_numpy(dtype=float))
            rows.append(_law_row(arm, law, np.nan, np.nan, np.nan, y - x, len(y)))
    return pd.DataFrame(rows)


def _law_row(arm, law, constant, alpha, alpha_se, residual, points) -> dict:
    return {
        "budget_arm": arm,
        "law": law,
        "constant": constant,
        "alpha": alpha,
        "alpha_se": alpha_se,
        "rms_log10_error": float(np.sqrt(np.mean(np.square(residual)))),
        "mean_log10_error": float(np.mean(residual)),
        "points": points,
    }


def _boundary_text(row) -> str:
    if math.isnan(row["width"]):
        return f"n = {row['n_train']}: above width {int(row['width_below'])} (none fitted half)"
    low = "?" if math.isnan(row["width_below"]) else f"{int(row['width_below'])}"
    ratio = row["params"] / row["theorem_params"]
    note = "" if row["monotone"] else ", not monotone above"
    return f"n = {row['n_train']}: width ({low}, {int(row['width'])}] = {ratio:.2g}x{note}"


def capacity_finding(table: pd.DataFrame) -> str:
    """Per budget, the boundary per n with its interval, and which size law fits best."""
    bounds = boundaries(table)
    fits = size_law_fits(bounds)
    parts = []
    for arm, group in bounds.groupby("budget_arm", sort=True):
        text = f"{arm}: " + "; ".join(_boundary_text(r) for _, r in group.iterrows())
        law = fits[(fits["budget_arm"] == arm) & fits["constant"].notna()]
        one_constant = law[law["law"] != "c n^alpha"]
        if len(one_constant):
            best = one_constant.loc[one_constant["rms_log10_error"].idxmin()]
            errors = ", ".join(
                f"{r['law']} {r['rms_log10_error']:.3f}" for _, r in one_constant.iterrows()
            )
            text += f". RMS log10 error of the size laws: {errors} (best: {best['law']})"
            power = law[law["law"] == "c n^alpha"]
            if len(power):
                p = power.iloc[0]
                text += f"; free exponent alpha = {p['alpha']:.2f} +- {Z_95 * p['alpha_se']:.2f}"
        parts.append(text)
    seeds = int(table.groupby(["budget_arm", "n_train", "hidden"])["seed"].nunique().min())
    draws = int(table["data_seed"].nunique()) if "data_seed" in table else 0
    return (
        f"Boundary = the smallest width fitting random labels in at least half of {seeds}+ seeds "
        f"({draws} distinct data draws), interval (largest smaller width tested, boundary], "
        f"in units of d + n + Kn with K = {int(table['num_classes'].iloc[0])}. "
        + ". ".join(parts)
        + "."
    )
