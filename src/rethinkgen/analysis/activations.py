"""Theorem 1 beyond ReLU: the exact solves (rethinkgen.theory.activations) beside depth-2
nets of about Theorem 1's size trained on random labels with each activation."""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis.capacity import mlp_runs

TRAINED_COLUMNS = ["activation", "n_train", "hidden", "num_params", "theorem_params", "fitted",
                   "epochs_to_fit", "max_epochs", "final_train_accuracy"]


def trained_table(runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    table = mlp_runs(runs, models)
    return table.sort_values(["n_train", "hidden", "activation"])[TRAINED_COLUMNS]


def activations_table(solves: pd.DataFrame, runs: pd.DataFrame, models: dict) -> pd.DataFrame:
    """Long form: `part` solve (exact output layer) or trained (SGD on random labels)."""
    return pd.concat([solves.assign(part="solve"),
                      trained_table(runs, models).assign(part="trained")], ignore_index=True)


def activations_finding(solves: pd.DataFrame, trained: pd.DataFrame) -> str:
    exact = solves.groupby("activation")["exact"].all()
    worst = solves.groupby("activation")["relative_residual"].max()
    failing = [f"{a} (worst relative residual {worst[a]:.1e})" for a in exact.index if not exact[a]]
    exact_text = ", ".join(a for a in exact.index if exact[a]) or "no activation"
    fit = trained.groupby("activation")["fitted"].agg(["sum", "count"])
    fit_text = ", ".join(f"{a} {int(r['sum'])}/{int(r['count'])}" for a, r in fit.iterrows())
    return (f"With Theorem 1's first layer the output layer is solved exactly (relative residual "
            f"< 1e-6) at every n and scale for {exact_text}; not for "
            f"{', '.join(failing) or 'none'}. Trained by SGD at these sizes, runs fitted random "
            f"labels: {fit_text}.")
