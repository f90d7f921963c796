"""Theorem 1 beyond ReLU, framed as conditioning: the exact solves of the output layer
(rethinkgen.theory.activations) per activation against n, with the projection as drawn,
stretched, or scaled so that its smallest gap is a fixed size (the remedy), beside depth-2
nets of about the construction's size trained on random labels with each activation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.analysis.capacity import mlp_runs

TRAINED_COLUMNS = [
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


def _exact_share(solves: pd.DataFrame) -> pd.Series:
    return solves.groupby(["scaling", "activation"])["exact"].mean()


def activations_finding(solves: pd.DataFrame, trained: pd.DataFrame) -> str:
    """Per scaling, the activations exact at every n and repeat; the worst residual of the
    others; and how often SGD fitted random labels per activation."""
    parts = []
    for scaling, share in _exact_share(solves).groupby(level="scaling", sort=False):
        share = share.droplevel("scaling")
        exact = ", ".join(a for a in share.index if share[a] == 1) or "none"
        rows = solves[solves["scaling"] == scaling]
        worst = rows.groupby("activation")["relative_residual"].max()
        inexact = ", ".join(f"{a} (worst {worst[a]:.0e})" for a in share.index if share[a] < 1)
        parts.append(f"{scaling}: exact {exact}" + (f"; not {inexact}" if inexact else ""))
    fit = trained.groupby("activation")["fitted"].agg(["sum", "count"])
    fit_text = ", ".join(f"{a} {int(r['sum'])}/{int(r['count'])}" for a, r in fit.iterrows())
    worst_condition = solves["condition_number"].replace(np.inf, np.nan).max()
    min_gap = solves["scaling"].str.startswith("min gap")
    gap_condition = solves.loc[min_gap, "condition_number"].max()
    return (
        f"Output layer solved exactly (relative residual < 1e-6) at every n "
        f"({', '.join(str(n) for n in sorted(solves['n'].unique()))}) and repeat, per projection "
        f"scaling: "
        + "; ".join(parts)
        + ". Where a solve fails the hidden matrix is ill-conditioned "
        f"(condition number up to {worst_condition:.0e}), not short of rank in exact arithmetic; "
        "scaled to a fixed smallest gap every activation's condition number stays below "
        f"{gap_condition:.0e}. "
        f"Trained by SGD on random labels: {fit_text} runs fitted."
    )


def plot_activations(solves: pd.DataFrame) -> Figure:
    """Relative residual against n per activation (mean over repeats), one panel per scaling."""
    scalings = list(dict.fromkeys(solves["scaling"]))
    fig, axes = plt.subplots(
        1, len(scalings), figsize=(3.4 * len(scalings), 3.2), sharey=True, squeeze=False
    )
    floor = 1e-17  # an exact solve's residual can be 0; draw it at float64's floor
    for ax, scaling in zip(axes[0], scalings):
        rows = solves[solves["scaling"] == scaling]
        for i, (activation, group) in enumerate(rows.groupby("activation")):
            line = group.groupby("n")["relative_residual"].mean().clip(lower=floor)
            ax.plot(line.index, line.values, marker="o", color=f"C{i}", label=activation)
        ax.axhline(1e-6, color="grey", linestyle=":", linewidth=1)
        ax.set(xscale="log", yscale="log", xlabel="n (points)", title=f"projection {scaling}")
    axes[0][0].set_ylabel("relative residual of H w = y")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Theorem 1's output layer per activation (dotted: exact, 1e-6)", fontsize=10)
    fig.tight_layout()
    return fig
