"""The weight-decay sweep's figure: the decayed parameters' norm per epoch beside the
equilibrium norm their gradient predicts, and each cell's fit rates with their controls
(rethinkgen.analysis.weight_decay builds the table, wd_claims the claims)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.analysis.wd_claims import _cell_name, claims


def plot_weight_decay(table: pd.DataFrame, curves: pd.DataFrame) -> Figure:
    """Left: decayed parameters' norm (solid, mean over seeds) and the predicted
    equilibrium ||mean g|| / wd_eff (dashed) per epoch, random labels, per cell. Right:
    per cell, the fit rate on random labels (95% CI) beside its two controls."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    random = curves[(curves["corruption"] == "random_labels") & (curves["weight_decay"] > 0)]
    for i, (name, group) in enumerate(
        random.assign(cell=random.apply(_cell_name, axis=1)).groupby("cell", sort=True)
    ):
        mean = group.groupby("epoch")[["decayed_norm", "equilibrium_norm"]].mean()
        left.plot(mean.index, mean["decayed_norm"], color=f"C{i % 10}", label=name)
        left.plot(mean.index, mean["equilibrium_norm"], color=f"C{i % 10}", linestyle="--")
    left.set(xlabel="epoch", ylabel="norm of the decayed parameters", yscale="log")
    left.set_title("Measured (solid) and predicted equilibrium (dashed)", fontsize=10)
    if left.lines:
        left.legend(fontsize=6)
    cells = claims(table)
    for i, (_, row) in enumerate(cells.iterrows()):
        rate = row["random_fits"] / row["random_runs"]
        right.errorbar(
            [i],
            [rate],
            yerr=[[rate - row["random_rate_low"]], [row["random_rate_high"] - rate]],
            fmt="o",
            color="C3",
            capsize=3,
            label="random labels" if i == 0 else None,
        )
        for share, marker, label in (
            (row["true_fits"] / max(row["true_runs"], 1), "s", "true labels (control)"),
            (row["control_fits"] / max(row["control_runs"], 1), "^", "wd = 0 (control)"),
        ):
            right.plot(
                [i + 0.15],
                [share],
                marker=marker,
                color="grey",
                linestyle="none",
                label=label if i == 0 else None,
            )
    right.set_xticks(
        range(len(cells)),
        [_cell_name(r) for _, r in cells.iterrows()],
        rotation=60,
        ha="right",
        fontsize=6,
    )
    right.set(ylim=(-0.05, 1.05), ylabel="fraction of seeds fitted")
    right.set_title("Fit rate per cell beside its controls", fontsize=10)
    if len(cells):
        right.legend(fontsize=7)
    fig.tight_layout()
    return fig
