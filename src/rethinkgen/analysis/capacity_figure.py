"""The capacity sweep's figure: the boundary per n with its interval beside the size laws,
and the fit rate per width (rethinkgen.analysis.capacity builds the tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.capacity import boundaries, fit_rates


def plot_capacity(table: pd.DataFrame):
    """Left: the boundary's parameters against n (bars: its interval) per budget, with the
    size laws. Right: the fit rate against width per n (first budget)."""
    import matplotlib.pyplot as plt

    bounds = boundaries(table)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (arm, group) in enumerate(bounds.groupby("budget_arm", sort=True)):
        found = group[group["width"].notna()]
        low = found["params_below"].fillna(found["params"])
        left.errorbar(
            found["n_train"],
            found["params_mid"],
            yerr=[found["params_mid"] - low, found["params"] - found["params_mid"]],
            fmt="o",
            color=f"C{i}",
            capsize=3,
            label=f"boundary, {arm}",
        )
    n = np.array(sorted(bounds["n_train"].unique()), dtype=float)
    first = bounds.drop_duplicates("n_train").sort_values("n_train")
    left.plot(n, first["theorem_params"], "k--", label="d + n + Kn (Theorem 1)")
    left.plot(n, first["baum_params"], "k:", label="ceil(n/d) units (Baum 1988)")
    left.plot(n, first["bubeck_params"], "k-.", label="4 ceil(n/d) units (Bubeck et al.)")
    left.set(xscale="log", yscale="log", xlabel="n (random labels)", ylabel="parameters")
    left.set_title("Smallest width fitting half the seeds", fontsize=10)
    left.legend(fontsize=7)
    rates = fit_rates(table)
    arm = sorted(rates["budget_arm"].unique())[0]
    for i, (n_train, group) in enumerate(rates[rates["budget_arm"] == arm].groupby("n_train")):
        right.errorbar(
            group["hidden"],
            group["fit_rate"],
            yerr=[group["fit_rate"] - group["rate_low"], group["rate_high"] - group["fit_rate"]],
            marker="o",
            color=f"C{i}",
            capsize=2,
            label=f"n = {n_train} ({int(group['seeds'].max())} seeds)",
        )
    right.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    right.set(xscale="log", ylim=(-0.05, 1.05), xlabel="hidden width", ylabel="fit rate (95% CI)")
    right.set_title(arm, fontsize=10)
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig
