"""The weight-decay sweep's figure: logged kernel norms over steps, and the fraction of
seeds that fitted per coefficient (rethinkgen.analysis.weight_decay builds the table)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.analysis.weight_decay import GROUP, RUN_KEYS, kernel_norms


def plot_weight_decay(table: pd.DataFrame, norms: pd.DataFrame) -> Figure:
    """Left: kernel norm / its first log (end of epoch 1) over steps (random labels; mean over
    seeds), per coefficient and scope. Right: fraction of seeds fitted against the coefficient."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    kernels = kernel_norms(norms).merge(
        table[RUN_KEYS + [c for c in GROUP if c not in RUN_KEYS]], on=RUN_KEYS
    )
    kernels["ratio"] = kernels["kernel_norm"] / kernels.groupby(RUN_KEYS)["kernel_norm"].transform(
        "first"
    )
    random = kernels[kernels["corruption"] == "random_labels"]
    n_main = int(random["n_train"].mode().iloc[0])
    random = random[random["n_train"] == n_main]
    for i, ((scope, wd), group) in enumerate(
        random.groupby(["weight_decay_scope", "weight_decay"])
    ):
        line = group.groupby("step")["ratio"].mean()
        left.plot(line.index, line.values, color=f"C{i % 10}", label=f"{scope} {wd:g}")
    left.set(
        xlabel="steps",
        ylabel="kernel norm / after epoch 1",
        yscale="log",
        title=f"Weight norms, random labels, n = {n_main} (mean over seeds)",
    )
    left.legend(fontsize=7, ncol=2)
    fits = table.groupby(GROUP, as_index=False)["fitted"].mean()
    for i, ((corruption, n, scope), group) in enumerate(
        fits.groupby(["corruption", "n_train", "weight_decay_scope"])
    ):
        if scope == "-":
            continue
        base = fits[
            (fits["corruption"] == corruption)
            & (fits["n_train"] == n)
            & (fits["weight_decay"] == 0)
        ]
        group = pd.concat([base, group]).sort_values("weight_decay")
        right.plot(
            group["weight_decay"].clip(lower=1e-4),
            group["fitted"],
            marker="o",
            linestyle="-" if corruption == "random_labels" else "--",
            color=f"C{i % 10}",
            label=f"{corruption}, n = {n}, {scope}",
        )
    right.set(
        xscale="log",
        ylim=(-0.05, 1.05),
        xlabel="weight decay (0 drawn at 1e-4)",
        ylabel="fraction of seeds fitted",
        title="Fitted within the budget",
    )
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig
