"""Patterns first, memorization later? (Arpit et al. 2017, on the paper's Figure 1 runs.)

Partially corrupted runs score the whole training set per evaluation on two subsets
(the engine's train_clean / train_corrupted rows): the examples whose label the corruption
left unchanged (a random label equal to the true one counts as unchanged) and those whose
label changed, the latter against the label they were assigned.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SUBSETS = {"train_clean": "clean subset", "train_corrupted": "corrupted subset (assigned labels)",
           "test": "test"}
RUN_KEYS = ["dataset", "model", "corruption", "regularizer", "seed"]


def partial_runs(curves: pd.DataFrame) -> pd.DataFrame:
    """Rows of the runs with 0 < p < 1 that recorded the clean/corrupted subsets."""
    partial = curves[(curves["corruption_prob"] > 0) & (curves["corruption_prob"] < 1)]
    scored = partial.loc[partial["split"] == "train_corrupted", RUN_KEYS].drop_duplicates()
    if scored.empty:
        raise ValueError("no partially corrupted run recorded train_clean/train_corrupted rows: "
                         "the experiment needs random_labels corruptions with 0 < prob < 1, "
                         "data corrupted by this version (true labels in train.npz) and "
                         "eval_train_every: 1")
    return partial.merge(scored, on=RUN_KEYS)


def _at_epoch(rows: pd.DataFrame, split: str, epoch: int) -> float:
    """Accuracy of `split` at `epoch`, or at the last evaluation before it."""
    split_rows = rows[(rows["split"] == split) & (rows["epoch"] <= epoch)]
    return float(split_rows.sort_values("epoch")["accuracy"].iloc[-1]) if len(split_rows) else np.nan


def memorization_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: the epoch of peak test accuracy and each subset's accuracy then and at the end."""
    rows = []
    for keys, run in partial_runs(curves).groupby(RUN_KEYS, sort=True):
        test = run[(run["split"] == "test") & (run["epoch"] > 0)].sort_values("epoch")
        peak = test.loc[test["accuracy"].idxmax()]
        last = int(test["epoch"].max())
        rows.append({**dict(zip(RUN_KEYS, keys)), "corruption_prob": float(run["corruption_prob"].iloc[0]),
                     "peak_test_epoch": int(peak["epoch"]), "epochs": last,
                     "peak_test_accuracy": float(peak["accuracy"]),
                     "clean_accuracy_at_peak": _at_epoch(run, "train_clean", int(peak["epoch"])),
                     "corrupted_accuracy_at_peak": _at_epoch(run, "train_corrupted", int(peak["epoch"])),
                     "final_test_accuracy": float(test["accuracy"].iloc[-1]),
                     "final_clean_accuracy": _at_epoch(run, "train_clean", last),
                     "final_corrupted_accuracy": _at_epoch(run, "train_corrupted", last)})
    return pd.DataFrame(rows)


def memorization_finding(table: pd.DataFrame) -> str:
    """One sentence: was the noise memorized after the test peak, and what it cost."""
    earlier = table["clean_accuracy_at_peak"] > table["corrupted_accuracy_at_peak"]
    drop = table["peak_test_accuracy"] - table["final_test_accuracy"]
    return (f"At the epoch of peak test accuracy the clean subset was fitted better than the "
            f"corrupted one in {int(earlier.sum())} of {len(table)} runs (mean {table['clean_accuracy_at_peak'].mean():.0%} "
            f"vs {table['corrupted_accuracy_at_peak'].mean():.0%}); by the end the corrupted subset reached "
            f"{table['final_corrupted_accuracy'].mean():.0%} on average and test accuracy had fallen "
            f"{drop.mean() * 100:.1f} points from its peak (largest fall {drop.max() * 100:.1f} points).")


def plot_memorization(curves: pd.DataFrame) -> Figure:
    """Rows: models; columns: corruption levels; clean, corrupted and test accuracy vs steps."""
    data = partial_runs(curves)
    data = data[data["split"].isin(list(SUBSETS))]
    models, probs = sorted(data["model"].unique()), sorted(data["corruption_prob"].unique())
    fig, axes = plt.subplots(len(models), len(probs), figsize=(3.2 * len(probs), 2.8 * len(models)),
                             squeeze=False, sharey=True)
    for (i, model), (j, prob) in ((m, p) for m in enumerate(models) for p in enumerate(probs)):
        ax = axes[i][j]
        cell = data[(data["model"] == model) & (data["corruption_prob"] == prob)]
        for split, label in SUBSETS.items():
            line = cell[cell["split"] == split].groupby("step")["accuracy"].mean()
            ax.plot(line.index, line.values, label=label)
        peak = cell[(cell["split"] == "test") & (cell["epoch"] > 0)].groupby("step")["accuracy"].mean()
        if len(peak):
            ax.axvline(peak.idxmax(), color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{model}, p = {prob:g}", fontsize=9)
        ax.set_xlabel("steps")
        ax.set_ylim(0, 1.02)
    for row in axes:
        row[0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Memorization dynamics: clean vs corrupted training examples (dotted: test peak)",
                 fontsize=10)
    fig.tight_layout()
    return fig
