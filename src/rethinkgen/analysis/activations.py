"""Theorem 1 beyond ReLU, as a trade-off: the exact solves of the output layer
(rethinkgen.theory.activations) per activation against n, with the projection as drawn,
stretched, or scaled so that its smallest gap is a fixed size, each with its residual, its
output-weight norm, its first-layer scale and its condition number (measured in float64,
in mpmath where float64 saturates, or a lower bound), beside depth-2 nets of about the
construction's size trained on random labels with each activation. Scaling the first
layer until tanh and sigmoid act as step functions is Huang & Babri's (1998) route."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.analysis.capacity import mlp_runs

TRAINED_COLUMNS = [
    "dataset",
    "model",
    "corruption",
    "regularizer",
    "activation",
    "n_train",
    "hidden",
    "seed",
    "num_params",
    "theorem_params",
    "fitted",
    "epochs_to_fit",
    "max_epochs",
    "final_train_accuracy",
]


def trained_table(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    table = mlp_runs(runs, models)
    return table.sort_values(["n_train", "hidden", "activation", "seed"])[TRAINED_COLUMNS]


def activations_table(solves: pd.DataFrame, runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    """Long form: `part` solve (exact output layer) or trained (SGD on random labels)."""
    return pd.concat(
        [solves.assign(part="solve"), trained_table(runs, models).assign(part="trained")],
        ignore_index=True,
    )


def _weight_norm(rows: pd.DataFrame) -> pd.Series:
    """The output-weight norm: the exact (mpmath) weights' where measured, else float64's."""
    exact = rows["exact_weight_norm"] if "exact_weight_norm" in rows else np.nan
    return pd.Series(exact, index=rows.index).fillna(rows["weight_norm"])


def _condition_text(rows: pd.DataFrame) -> str:
    measured = rows["condition_number"].dropna()
    bound = rows.loc[rows["condition_source"] == "lower bound", "condition_lower_bound"]
    text = f"condition {measured.min():.1e}-{measured.max():.1e}" if len(measured) else ""
    if len(bound):
        text += (", " if text else "") + f">= {bound.min():.0e} (bound)"
    return text


def activations_finding(solves: pd.DataFrame, trained: pd.DataFrame) -> str:
    """Per scaling and activation: the largest n solved exactly, the residual at the
    largest n, the output-weight norm and first-layer scale; ReLU at its largest n; and
    how often SGD fitted random labels per activation."""
    solves = solves.assign(output_weight_norm=_weight_norm(solves))
    solves = solves.astype({"n": int})
    parts = []
    for (scaling, activation), rows in solves.groupby(["scaling", "activation"], sort=False):
        all_exact = rows.groupby("n")["exact"].all()
        # the largest n up to which every draw at every n was exact
        exact_upto = all_exact.index[all_exact.cummin()].max() if all_exact.iloc[0] else None
        largest = rows[rows["n"] == rows["n"].max()]
        exact_there = f"{int(largest['exact'].sum())}/{len(largest)}"
        parts.append(
            f"{scaling}, {activation}: every draw exact up to n = {exact_upto or 'none'}, "
            f"{exact_there} at n = {int(largest['n'].iloc[0])} (residual up to "
            f"{largest['relative_residual'].max():.0e}), ||w|| up to "
            f"{rows['output_weight_norm'].max():.1e}, first-layer scale up to "
            f"{rows['first_layer_scale'].max():.2g}, {_condition_text(rows)}"
        )
    column = "exact_weights_float64_residual"
    exact_float = solves.dropna(subset=[column]) if column in solves else solves.iloc[:0]
    carried = (
        f" The exact (mpmath) weights evaluated in float64 leave a relative residual of "
        f"{exact_float['exact_weights_float64_residual'].min():.0e}-"
        f"{exact_float['exact_weights_float64_residual'].max():.0e} ({len(exact_float)} solves)."
        if len(exact_float)
        else ""
    )
    fit = trained.groupby("activation")["fitted"].agg(["sum", "count"])
    fit_text = ", ".join(f"{a} {int(r['sum'])}/{int(r['count'])}" for a, r in fit.iterrows())
    return (
        f"Output layer of Theorem 1's construction per activation "
        f"(n = {', '.join(str(n) for n in sorted(solves['n'].unique()))}; exact = relative "
        "residual < 1e-6): "
        + "; ".join(parts)
        + "."
        + carried
        + f" Trained by SGD on random labels: {fit_text} runs fitted."
    )


def plot_activations(solves: pd.DataFrame) -> Figure:
    """Top: relative residual against n per activation (mean over repeats); bottom: the
    output-weight norm; one column per scaling of the first layer."""
    solves = solves.assign(output_weight_norm=_weight_norm(solves))
    scalings = list(dict.fromkeys(solves["scaling"]))
    fig, axes = plt.subplots(
        2, len(scalings), figsize=(3.4 * len(scalings), 5.6), sharey="row", squeeze=False
    )
    floor = 1e-17  # an exact solve's residual can be 0; draw it at float64's floor
    for column, scaling in enumerate(scalings):
        rows = solves[solves["scaling"] == scaling]
        for i, (activation, group) in enumerate(rows.groupby("activation")):
            mean = group.groupby("n")[["relative_residual", "output_weight_norm"]].mean()
            axes[0][column].plot(
                mean.index,
                mean["relative_residual"].clip(lower=floor),
                marker="o",
                color=f"C{i}",
                label=activation,
            )
            axes[1][column].plot(mean.index, mean["output_weight_norm"], marker="o", color=f"C{i}")
        axes[0][column].axhline(1e-6, color="grey", linestyle=":", linewidth=1)
        axes[0][column].set(xscale="log", yscale="log", title=f"first layer {scaling}")
        axes[1][column].set(xscale="log", yscale="log", xlabel="n (points)")
    axes[0][0].set_ylabel("relative residual of H w = y")
    axes[1][0].set_ylabel("output-weight norm ||w||")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Theorem 1's output layer per activation (dotted: exact, 1e-6)", fontsize=10)
    fig.tight_layout()
    return fig
