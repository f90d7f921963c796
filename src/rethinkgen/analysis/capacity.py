"""Capacity against sample size, measured (random labels) beside Theorem 1's 2n + d.

Each run is a one-hidden-layer MLP of width h on n training images with random labels;
Theorem 1 (paper section 4) says 2n + d parameters suffice to represent any labelling
of n points in d dimensions (one real output). Both are drawn as parameters / n.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def input_dimension(num_params: int, hidden: int, num_classes: int) -> int:
    """d of a one-hidden-layer MLP from its parameter count (d + 1) h + (h + 1) K."""
    return int(round((num_params - (hidden + 1) * num_classes) / hidden - 1))


def mlp_runs(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    """The runs with the hidden width and activation of their model, and Theorem 1's size."""
    specs = {key: models[key] for key in runs["model"].unique()}
    bad = [key for key, spec in specs.items() if spec["arch"] != "mlp" or len(spec["hidden"]) != 1]
    if bad:
        raise ValueError(f"models {bad} are not one-hidden-layer MLPs (arch mlp, hidden: [h])")
    out = runs.assign(hidden=runs["model"].map(lambda m: int(specs[m]["hidden"][0])),
                      activation=runs["model"].map(lambda m: specs[m].get("activation", "relu")))
    out["d"] = [input_dimension(p, h, k) for p, h, k in
                zip(out["num_params"], out["hidden"], out["num_classes"])]
    out["theorem_params"] = 2 * out["n_train"] + out["d"]
    out["params_per_n"] = out["num_params"] / out["n_train"]
    out["theorem_params_per_n"] = out["theorem_params"] / out["n_train"]
    return out


TABLE_COLUMNS = ["n_train", "hidden", "num_params", "params_per_n", "theorem_params_per_n", "fitted",
                 "epochs_to_fit", "max_epochs", "final_train_accuracy"]


def capacity_table(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    table = mlp_runs(runs, models)
    return table.sort_values(["n_train", "hidden"])[["dataset", "model", "seed", *TABLE_COLUMNS, "d"]]


def capacity_finding(table: pd.DataFrame) -> str:
    """Per n, the smallest fitted net, in units of Theorem 1's 2n + d."""
    parts = []
    for n, group in table.groupby("n_train"):
        fitted = group[group["fitted"]]
        theorem = float(group["theorem_params_per_n"].iloc[0])
        if fitted.empty:
            parts.append(f"n = {n}: none fitted (largest {group['params_per_n'].max():.0f} params/n)")
        else:
            ratio = fitted["params_per_n"].min() / theorem
            parts.append(f"n = {n}: smallest fitted {fitted['params_per_n'].min():.1f} params/n "
                         f"= {ratio:.1f} x (2n + d)")
    below = table[(table["params_per_n"] < table["theorem_params_per_n"]) & table["fitted"]]
    return ("Trained by SGD on random labels, " + "; ".join(parts) + f". {len(below)} run(s) fitted "
            "with fewer parameters than Theorem 1's 2n + d.")


def plot_capacity(table: pd.DataFrame) -> Figure:
    """Left: fitted (filled) or not (open) over params/n and n, with 2 + d/n. Right: epochs."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for fitted, style in ((True, dict(marker="o")), (False, dict(marker="o", facecolors="none"))):
        part = table[table["fitted"] == fitted]
        left.scatter(part["params_per_n"], part["n_train"], edgecolors="C0",
                     label="fitted" if fitted else "not fitted", **style)
    n = np.geomspace(table["n_train"].min() / 1.5, table["n_train"].max() * 1.5, 100)
    d = int(table["d"].iloc[0])
    left.plot(2 + d / n, n, color="C3", label=f"Theorem 1: 2n + d (d = {d})")
    left.set(xscale="log", yscale="log", xlabel="parameters / n", ylabel="n (training images)",
             title="Fitted random labels?")
    left.legend(fontsize=8)
    for i, (n_train, group) in enumerate(table.groupby("n_train")):
        group = group.sort_values("params_per_n")
        epochs = group["epochs_to_fit"].where(group["fitted"], group["max_epochs"])
        right.plot(group["params_per_n"], epochs, color=f"C{i}", marker="o", label=f"n = {n_train}")
        unfitted = group[~group["fitted"]]
        right.scatter(unfitted["params_per_n"], unfitted["max_epochs"], color="white",
                      edgecolors=f"C{i}", zorder=3)
        right.axvline(group["theorem_params_per_n"].iloc[0], color=f"C{i}", linestyle=":")
    right.set(xscale="log", xlabel="parameters / n", ylabel="epochs to fit",
              title="Epochs to fit (open: not fitted, at the budget)")
    right.legend(fontsize=8, title="dotted: (2n + d) / n", title_fontsize=7)
    fig.tight_layout()
    return fig
