"""Patterns first, memorization later? (Arpit et al. 2017, on the paper's Figure 1 runs.)

Partially corrupted runs score the whole training set per evaluation on two subsets
(the engine's train_clean / train_corrupted rows): the examples whose label the corruption
left unchanged (a random label equal to the true one counts as unchanged) and those whose
label changed, the latter against the label they were assigned. The early-stopping epoch
is picked on a validation split held out from training (``validation_fraction``; split =
validation, assigned labels), never on the test set; the test accuracy there is what early
stopping would deliver, and the test set's own peak shows how optimistic picking on it is.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.run import RUN_KEYS as _RUN_KEYS

SUBSETS = {
    "train_clean": "clean subset",
    "train_corrupted": "corrupted subset (assigned labels)",
    "validation": "validation (held out)",
    "test": "test",
}
RUN_KEYS = list(_RUN_KEYS)


def partial_runs(curves: pd.DataFrame) -> pd.DataFrame:
    """Rows of the runs with 0 < p < 1 that recorded the clean/corrupted subsets."""
    partial = curves[(curves["corruption_prob"] > 0) & (curves["corruption_prob"] < 1)]
    scored = partial.loc[partial["split"] == "train_corrupted", RUN_KEYS].drop_duplicates()
    if scored.empty:
        raise ValueError(
            "no partially corrupted run recorded train_clean/train_corrupted rows: "
            "the experiment needs random_labels corruptions with 0 < prob < 1, "
            "data corrupted by this version (true labels in train.npz) and "
            "eval_train_every: 1"
        )
    return partial.merge(scored, on=RUN_KEYS)


def _at_epoch(rows: pd.DataFrame, split: str, epoch: int) -> float:
    """Accuracy of `split` at `epoch`, or at the last evaluation before it."""
    split_rows = rows[(rows["split"] == split) & (rows["epoch"] <= epoch)]
    return (
        float(split_rows.sort_values("epoch")["accuracy"].iloc[-1]) if len(split_rows) else np.nan
    )


def validation_peak(run: pd.DataFrame) -> tuple[int, str]:
    """(epoch of best accuracy, the split it was picked on; the first epoch on ties).

    On the held-out validation split where the run has one (`validation_fraction`);
    otherwise on the test set, which overstates the accuracy there, and says so.
    """
    for split in ("validation", "test"):
        rows = run[(run["split"] == split) & (run["epoch"] > 0)].sort_values("epoch")
        if not rows.empty:
            return int(rows.loc[rows["accuracy"].idxmax(), "epoch"]), split
    raise ValueError("a run without validation or test evaluations after epoch 0")


def memorization_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per run: the validation-picked epoch, the test accuracy there and at the test set's
    own peak, and each subset's accuracy at that epoch and at the end."""
    rows = []
    for keys, run in partial_runs(curves).groupby(RUN_KEYS, sort=True):
        test = run[(run["split"] == "test") & (run["epoch"] > 0)].sort_values("epoch")
        (peak, picked_on), last = validation_peak(run), int(test["epoch"].max())
        rows.append(
            {
                **dict(zip(RUN_KEYS, keys)),
                "corruption_prob": float(run["corruption_prob"].iloc[0]),
                "val_peak_epoch": peak,
                "peak_picked_on": picked_on,
                "epochs": last,
                "test_at_val_peak": _at_epoch(run, "test", peak),
                "test_peak_accuracy": float(test["accuracy"].max()),
                "clean_accuracy_at_peak": _at_epoch(run, "train_clean", peak),
                "corrupted_accuracy_at_peak": _at_epoch(run, "train_corrupted", peak),
                "final_test_accuracy": float(test["accuracy"].iloc[-1]),
                "final_clean_accuracy": _at_epoch(run, "train_clean", last),
                "final_corrupted_accuracy": _at_epoch(run, "train_corrupted", last),
            }
        )
    return pd.DataFrame(rows)


def memorization_finding(table: pd.DataFrame) -> str:
    """One sentence: was the noise memorized after the validation-picked epoch, what it
    cost, and how optimistic the test set's own peak would have been."""
    earlier = table["clean_accuracy_at_peak"] > table["corrupted_accuracy_at_peak"]
    drop = table["test_at_val_peak"] - table["final_test_accuracy"]
    optimism = table["test_peak_accuracy"] - table["test_at_val_peak"]
    models = ", ".join(sorted(table["model"].unique()))
    on_test = int((table.get("peak_picked_on", "validation") == "test").sum())
    where = (
        "the held-out validation split"
        if not on_test
        else f"the validation split (the test set for {on_test} run(s) without one, an "
        "optimistic pick: set validation_fraction)"
    )
    return (
        f"{len(table)} runs ({models}; {table['seed'].nunique()} seeds). At the epoch picked on "
        f"{where} the clean subset was fitted better than the corrupted one "
        f"in {int(earlier.sum())} of {len(table)} runs (mean "
        f"{table['clean_accuracy_at_peak'].mean():.0%} vs "
        f"{table['corrupted_accuracy_at_peak'].mean():.0%}); by the end the corrupted subset "
        f"reached {table['final_corrupted_accuracy'].mean():.0%} on average and test accuracy had "
        f"fallen {drop.mean() * 100:.1f} +- {drop.std(ddof=1) * 100:.1f} points from the picked "
        f"epoch. Picking on the test set instead would have reported {optimism.mean() * 100:.1f} "
        f"points more (largest {optimism.max() * 100:.1f})."
    )


def plot_memorization(curves: pd.DataFrame) -> Figure:
    """Rows: models; columns: corruption levels; clean, corrupted and test accuracy vs steps."""
    data = partial_runs(curves)
    data = data[data["split"].isin(list(SUBSETS))]
    models, probs = sorted(data["model"].unique()), sorted(data["corruption_prob"].unique())
    fig, axes = plt.subplots(
        len(models),
        len(probs),
        figsize=(3.2 * len(probs), 2.8 * len(models)),
        squeeze=False,
        sharey=True,
    )
    for (i, model), (j, prob) in ((m, p) for m in enumerate(models) for p in enumerate(probs)):
        ax = axes[i][j]
        cell = data[(data["model"] == model) & (data["corruption_prob"] == prob)]
        for split, label in SUBSETS.items():
            line = cell[cell["split"] == split].groupby("step")["accuracy"].mean()
            ax.plot(line.index, line.values, label=label)
        peak = (
            cell[(cell["split"] == "validation") & (cell["epoch"] > 0)]
            .groupby("step")["accuracy"]
            .mean()
        )
        if len(peak):
            ax.axvline(peak.idxmax(), color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{model}, p = {prob:g}", fontsize=9)
        ax.set_xlabel("steps")
        ax.set_ylim(0, 1.02)
    for row in axes:
        row[0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        "Memorization dynamics: clean vs corrupted training examples "
        "(dotted: validation peak; mean over seeds)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
