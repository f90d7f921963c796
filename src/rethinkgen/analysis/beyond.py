"""`snakemake beyond`: four questions the paper's readers ask, each a per-run table, a
summary over seeds (mean +- sd (n)) under a one-line finding computed from the data, and a
figure.

The config's top-level ``beyond:`` maps an output key to its ``kind`` and the experiment
(``target: beyond``) whose runs it reads; workflow/rules/beyond.smk builds them.
"""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis import (
    activations,
    capacity,
    learning_order,
    memorization,
    run_settings,
    wd_figure,
    weight_decay,
)

# The config-level parts (outputs, checks, kinds) live in rethinkgen.targets, which the
# Snakefile imports at parse time; analyses import nothing from it.

TITLES = {
    "memorization_dynamics": (
        "Memorization dynamics: the validation-picked peak and the corrupted subset"
    ),
    "capacity_vs_samples": "Capacity vs sample size: MLPs fitting random labels against d + n + Kn",
    "expressivity_activations": (
        "Theorem 1 beyond ReLU: conditioning of the exact output layer, and trained nets"
    ),
    "weight_decay_failure": "Weight decay and fitting random labels (Table 4's AlexNet)",
    "example_learning": learning_order.TITLE,
}
# Per kind: the summary's grouping columns and the per-run values summarized over seeds.
SUMMARIES = {
    "memorization_dynamics": (
        ["model", "corruption_prob"],
        [
            "val_peak_epoch",
            "test_at_val_peak",
            "test_peak_accuracy",
            "clean_accuracy_at_peak",
            "corrupted_accuracy_at_peak",
            "final_corrupted_accuracy",
            "final_test_accuracy",
        ],
    ),
    "capacity_vs_samples": (
        ["n_train", "hidden", "num_params", "params_per_theorem"],
        ["fitted", "epochs_to_fit", "final_train_accuracy"],
    ),
    "expressivity_activations": (
        ["part", "scaling", "activation", "n", "hidden"],
        [
            "exact",
            "relative_residual",
            "condition_number",
            "fitted",
            "epochs_to_fit",
            "final_train_accuracy",
        ],
    ),
    "weight_decay_failure": (
        weight_decay.GROUP,
        [
            "fitted",
            "epochs_to_fit",
            "summed_lr",
            "decay_shrink",
            "decay_shrink_bound",
            "kernel_norm_ratio",
            "late_norm_change",
            "final_train_accuracy",
        ],
    ),
}


def mean_sd(table: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """Per group, each value as 'mean +- sd (n)' over the rows that have it."""
    by = [c for c in by if c in table]
    values = [c for c in values if c in table]

    def cell(x: pd.Series) -> str:
        x = pd.to_numeric(x, errors="coerce").dropna().astype(float)
        if x.empty:
            return "-"
        sd = x.std(ddof=1) if len(x) > 1 else float("nan")
        return f"{x.mean():.3g} ± {sd:.2g} ({len(x)})"

    return table.groupby(by, dropna=False, sort=True)[values].agg(cell).reset_index()


def build(
    kind: str,
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    infos: list[dict],
    solves: pd.DataFrame | None = None,
    load_record=None,
) -> tuple[pd.DataFrame, str]:
    """(per-run table, finding) of one output kind. ``infos``: the runs' run_info.json,
    where every setting an analysis needs comes from (analysis/run_settings.py);
    ``load_record``: a run's per-example record (learning_order.record_loader)."""
    if kind == "memorization_dynamics":
        table = memorization.memorization_table(curves)
        return table, memorization.memorization_finding(table)
    if kind == "capacity_vs_samples":
        table = capacity.capacity_table(runs, run_settings.recorded_specs(infos, "model"))
        return table, capacity.capacity_finding(table)
    if kind == "expressivity_activations":
        if solves is None:
            raise ValueError("expressivity_activations needs the theory solves")
        models = run_settings.recorded_specs(infos, "model")
        trained = activations.trained_table(runs, models)
        return (
            activations.activations_table(solves, runs, models),
            activations.activations_finding(solves, trained),
        )
    if kind == "weight_decay_failure":
        table = weight_decay_runs(curves, runs, infos)
        return table, weight_decay.weight_decay_finding(table)
    if kind == "example_learning":
        table = learning_order.example_learning_table(runs, load_record)
        return table, learning_order.example_learning_finding(table)
    raise KeyError(f"unknown beyond kind {kind!r}; known: {sorted(TITLES)}")


def weight_decay_runs(curves, runs, infos) -> pd.DataFrame:
    table = weight_decay.weight_decay_table(
        runs,
        curves,
        weight_decay.norms_frame(infos),
        run_settings.recorded_specs(infos, "regularizer"),
        run_settings.schedules(infos),
    )
    return table.assign(fitted=table["outcome"] == "fitted")


def plot(
    kind: str,
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    infos: list[dict],
    solves: pd.DataFrame | None = None,
    load_record=None,
):
    if kind == "memorization_dynamics":
        return memorization.plot_memorization(curves)
    if kind == "capacity_vs_samples":
        models = run_settings.recorded_specs(infos, "model")
        return capacity.plot_capacity(capacity.capacity_table(runs, models))
    if kind == "expressivity_activations":
        return activations.plot_activations(solves)
    if kind == "weight_decay_failure":
        return wd_figure.plot_weight_decay(
            weight_decay_runs(curves, runs, infos), weight_decay.norms_frame(infos)
        )
    if kind == "example_learning":
        table = learning_order.example_learning_table(runs, load_record)
        return learning_order.plot_example_learning(table)
    raise KeyError(f"unknown beyond kind {kind!r}; known: {sorted(TITLES)}")


def render_markdown(kind: str, table: pd.DataFrame, finding: str) -> str:
    """Title, the finding line, the summary over seeds, then the per-run table."""
    if kind == "example_learning":  # one row per run and epoch: its own selection
        return learning_order.render_markdown(table, finding, mean_sd)
    by, values = SUMMARIES[kind]
    parts = table.groupby("part", sort=False) if "part" in table else [(None, table)]
    summaries, runs = [], []
    for part, rows in parts:  # the expressivity table's solve and trained parts apart
        rows = rows.dropna(axis=1, how="all")
        title = f" ({part})" if part else ""
        summaries.append(
            f"## Mean ± sd (n) over seeds{title}\n\n"
            + mean_sd(rows, by, values).to_markdown(index=False, floatfmt=".3g")
            + "\n"
        )
        runs.append(f"## Per run{title}\n\n" + rows.to_markdown(index=False, floatfmt=".3g") + "\n")
    return f"# {TITLES[kind]}\n\n**Finding.** {finding}\n\n" + "\n".join(summaries + runs)
