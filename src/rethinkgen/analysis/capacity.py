"""Capacity against sample size: MLPs trained on random labels, against the size of
Theorem 1's construction for K outputs.

Theorem 1 (paper section 4) fits any real labelling of n points in d dimensions with one
projection (d weights), n biases and n output weights: 2n + d for one scalar output. A net
with K outputs (our softmax over K classes) needs K output weights per hidden unit, so the
construction has d + n + K n parameters: the yardstick here. Fitted = whole-training-set
accuracy of at least the run's fit threshold within its budget (stop at fit).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.describe import plural


def input_dimension(num_params: int, hidden: int, num_classes: int) -> int:
    """d of a one-hidden-layer MLP from its parameter count (d + 1) h + (h + 1) K."""
    return int(round((num_params - (hidden + 1) * num_classes) / hidden - 1))


def construction_size(d: int, n: int, outputs: int) -> int:
    """Theorem 1's parameter count for K outputs: d + n + K n (2n + d when K = 1)."""
    return d + n + outputs * n


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
    return out


TABLE_COLUMNS = [
    "n_train",
    "hidden",
    "seed",
    "lr",
    "num_classes",
    "num_params",
    "theorem_params",
    "params_per_theorem",
    "fitted",
    "epochs_to_fit",
    "max_epochs",
    "final_train_accuracy",
]


def capacity_table(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    table = mlp_runs(runs, models)
    return table.sort_values(["n_train", "hidden", "seed"])[
        ["dataset", "model", *TABLE_COLUMNS, "d"]
    ]


def fit_probability(table: pd.DataFrame) -> pd.DataFrame:
    """Per (n, width): the fraction of seeds that fitted, and the seed count."""
    return table.groupby(["n_train", "hidden"], as_index=False).agg(
        params_per_theorem=("params_per_theorem", "first"),
        fit_probability=("fitted", "mean"),
        seeds=("seed", "nunique"),
    )


def capacity_finding(table: pd.DataFrame) -> str:
    """Per n, the smallest net that every seed fitted, in units of d + n + K n."""
    parts = []
    for n, group in fit_probability(table).groupby("n_train"):
        always = group[group["fit_probability"] == 1]
        never = group[group["fit_probability"] == 0]
        smallest = (
            f"{always['params_per_theorem'].min():.3g}" if len(always) else "none in the grid"
        )
        largest_never = f"{never['params_per_theorem'].max():.3g}" if len(never) else "-"
        parts.append(f"n = {n}: every seed fitted from {smallest} x, none up to {largest_never} x")
    below = table[(table["params_per_theorem"] < 1) & table["fitted"]]
    return (
        f"Trained by SGD (lr {table['lr'].iloc[0]:g}) on random labels, in units of Theorem 1's "
        f"construction for K = {int(table['num_classes'].iloc[0])} outputs (d + n + Kn): "
        + "; ".join(parts)
        + f". {len(below)} of {int((table['params_per_theorem'] < 1).sum())} runs smaller than the "
        "construction fitted."
    )


def plot_capacity(table: pd.DataFrame) -> Figure:
    """Fit probability (over seeds) against parameters / (d + n + Kn), one line per n."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, (n, group) in enumerate(fit_probability(table).groupby("n_train")):
        ax.plot(
            group["params_per_theorem"],
            group["fit_probability"],
            marker="o",
            color=f"C{i}",
            label=f"n = {n} ({plural(int(group['seeds'].max()), 'seed')})",
        )
    ax.axvline(1, color="grey", linestyle=":", label="Theorem 1's size, d + n + Kn")
    ax.set(
        xscale="log",
        ylim=(-0.05, 1.05),
        xlabel="parameters / (d + n + Kn)",
        ylabel="fraction of seeds fitted",
        title="MLPs fitting random labels",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
