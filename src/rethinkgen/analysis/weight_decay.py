"""Why did AlexNet with weight decay fail to fit random labels (the paper's Table 4)?

A sweep over the weight-decay coefficient and its scope (kernels only, as TF-slim
regularizes, or every parameter) on random labels; each run ends fitted, diverged, or
stalled (neither within its budget). Each row also says how much weight decay alone could
shrink the weights over the run: SGD multiplies them by (1 - lr x wd) every step, so
1 - exp(-lr x wd x steps); it acts on a timescale of 1 / (lr x wd) steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["model", "weight_decay", "weight_decay_scope", "outcome", "epochs_to_fit", "epochs",
           "steps", "decay_shrink", "final_train_online_accuracy", "final_train_accuracy",
           "final_train_online_loss"]


def outcome(run) -> str:
    if run["status"] == "diverged":
        return "diverged"
    return "fitted" if run["fitted"] else "stalled"


def weight_decay_table(runs: pd.DataFrame, regularizers: dict, models: dict) -> pd.DataFrame:
    """One row per run: the regularizer's coefficient and scope, how far weight decay alone
    would have shrunk the weights over the run's steps (at the model's initial lr), and how
    the run ended."""
    scope = runs["regularizer"].map(lambda r: regularizers[r].get("weight_decay_scope", "weights"))
    lr = runs["model"].map(lambda m: float(models[m]["lr"]))
    table = runs.assign(weight_decay_scope=scope.where(runs["weight_decay"] > 0, "-"),
                        decay_shrink=1 - np.exp(-lr * runs["weight_decay"] * runs["steps"]))
    table["outcome"] = table.apply(outcome, axis=1)
    return table.sort_values(["model", "weight_decay", "weight_decay_scope"])[["dataset", "seed", *COLUMNS]]


def weight_decay_finding(table: pd.DataFrame) -> str:
    failed = table[table["outcome"] != "fitted"]
    reach = (f" Over at most {table['steps'].max():,} steps weight decay alone would have shrunk "
             f"the weights by at most {table['decay_shrink'].max():.0%}.")
    if failed.empty:
        return (f"Every one of the {len(table)} settings fitted random labels within its budget, "
                f"up to weight decay {table['weight_decay'].max():g} on every parameter: the "
                "paper's failure does not appear here." + reach)
    settings = ", ".join(f"{r.weight_decay:g} ({r.weight_decay_scope}, {r.outcome}, "
                         f"{r.final_train_online_accuracy:.0%})" for r in failed.itertuples())
    fitted = table[table["outcome"] == "fitted"]
    largest = f"{fitted['weight_decay'].max():g}" if len(fitted) else "none"
    return (f"{len(failed)} of {len(table)} settings failed to fit random labels: weight decay "
            f"{settings}; the largest coefficient that still fitted was {largest}." + reach)
