"""`snakemake beyond`: four questions the paper's readers ask, each a per-run table (its
Parquet: what the finding is derived from, :func:`finding`), a per-epoch table (the
curves behind the figure), a summary over seeds (mean +- sd (n)) under a one-line finding,
and a figure.

The config's top-level ``beyond:`` maps an output key to its ``kind`` and the experiment
(``target: beyond``) whose runs it reads; workflow/rules/beyond.smk builds them.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from rethinkgen.analysis import (
    activations,
    capacity,
    capacity_figure,
    learning_order,
    memorization,
    run_settings,
    wd_claims,
    wd_figure,
    weight_decay,
)

# The config-level parts (outputs, checks, kinds) live in rethinkgen.targets, which the
# Snakefile imports at parse time; analyses import nothing from it.

TITLES = {
    "memorization_dynamics": (
        "Memorization dynamics: the validation-picked peak and the corrupted subset"
    ),
    "capacity_vs_samples": (
        "Capacity vs sample size: the smallest MLP fitting random labels, against size laws"
    ),
    "expressivity_activations": (
        "Theorem 1 beyond ReLU: residual, weight norm and first-layer scale per activation"
    ),
    "weight_decay_failure": "Weight decay and fitting random labels (Table 4's AlexNet)",
    "example_learning": learning_order.TITLE,
}
# Per kind: the summary's grouping columns and the per-run values summarized over seeds.
SUMMARIES = {
    "memorization_dynamics": (
        ["model", "corruption_prob"],
        [
            "clean_reach_epoch",
            "corrupted_reach_epoch",
            "val_pick_epoch",
            "memorization_at_val_pick",
            "final_memorization",
            "test_at_val_pick",
            "pick_loss",
            "optimism",
        ],
    ),
    "capacity_vs_samples": (
        ["budget_arm", "n_train", "hidden", "num_params", "params_per_theorem"],
        ["fitted", "epochs_to_fit", "final_train_accuracy"],
    ),
    "expressivity_activations": (
        ["part", "scaling", "activation", "n", "hidden"],
        [
            "exact",
            "relative_residual",
            "weight_norm",
            "exact_weight_norm",
            "first_layer_scale",
            "condition_number",
            "condition_lower_bound",
            "fitted",
            "epochs_to_fit",
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
            "decayed_norm",
            "equilibrium_norm",
            "final_train_accuracy",
        ],
    ),
}


class Output(NamedTuple):
    """One beyond output: per-run rows, per-epoch rows, and the finding derived from rows."""

    table: pd.DataFrame
    curves: pd.DataFrame
    finding: str


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


def finding(kind: str, table: pd.DataFrame) -> str:
    """The finding of one output, from its per-run table alone (so its Parquet re-derives
    every number of the Markdown's finding line)."""
    if kind == "memorization_dynamics":
        return memorization.memorization_finding(table)
    if kind == "capacity_vs_samples":
        return capacity.capacity_finding(table)
    if kind == "expressivity_activations":
        return activations.activations_finding(
            table[table["part"] == "solve"].dropna(axis=1, how="all"),
            table[table["part"] == "trained"],
        )
    if kind == "weight_decay_failure":
        return wd_claims.weight_decay_finding(table)
    if kind == "example_learning":
        return learning_order.example_learning_finding(table)
    raise KeyError(f"unknown beyond kind {kind!r}; known: {sorted(TITLES)}")


def build(
    spec: dict,
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    infos: list[dict],
    solves: pd.DataFrame | None = None,
    load_record=None,
) -> Output:
    """The output named by ``spec`` (its kind and settings) from its experiment's data.
    ``infos``: the runs' run_info.json, where every setting an analysis needs comes from
    (analysis/run_settings.py); ``load_record``: a run's per-example record
    (learning_order.record_loader)."""
    kind = spec["kind"]
    if kind == "example_learning":  # per run and epoch, and at the read-out (part)
        table = learning_order.example_learning_table(runs, load_record)
        per_epoch = table[table["part"] == "epochs"]
    elif kind == "memorization_dynamics":
        table = memorization.memorization_table(curves, float(spec.get("reach_accuracy", 0.5)))
        per_epoch = memorization.memorization_curves(curves)
    elif kind == "capacity_vs_samples":
        table = capacity.capacity_table(runs, run_settings.recorded_specs(infos, "model"))
        per_epoch = _train_curves(curves, table)
    elif kind == "expressivity_activations":
        if solves is None:
            raise ValueError("expressivity_activations needs the theory solves")
        models = run_settings.recorded_specs(infos, "model")
        table = activations.activations_table(solves, runs, models)
        per_epoch = _train_curves(curves, table[table["part"] == "trained"])
    elif kind == "weight_decay_failure":
        norms = weight_decay.norms_frame(infos)
        table = weight_decay.weight_decay_table(
            runs,
            curves,
            norms,
            run_settings.recorded_specs(infos, "regularizer"),
            run_settings.schedules(infos),
        )
        per_epoch = weight_decay.norm_curves(table, norms)
    else:
        raise KeyError(f"unknown beyond kind {kind!r}; known: {sorted(TITLES)}")
    return Output(
        table.reset_index(drop=True), per_epoch.reset_index(drop=True), finding(kind, table)
    )


def _train_curves(curves: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The whole-training-set accuracy per epoch of the table's runs."""
    keys = weight_decay.RUN_KEYS
    if curves.empty or table.empty:
        return pd.DataFrame(columns=[*keys, "epoch", "step", "accuracy", "loss"])
    rows = curves[curves["split"] == "train"].merge(table[keys].drop_duplicates(), on=keys)
    return rows[[*keys, "epoch", "step", "accuracy", "loss"]].sort_values([*keys, "epoch"])


def plot(kind: str, output: Output):
    if kind == "memorization_dynamics":
        return memorization.plot_memorization(output.curves, output.table)
    if kind == "capacity_vs_samples":
        return capacity_figure.plot_capacity(output.table)
    if kind == "expressivity_activations":
        return activations.plot_activations(
            output.table[output.table["part"] == "solve"].dropna(axis=1, how="all")
        )
    if kind == "weight_decay_failure":
        return wd_figure.plot_weight_decay(output.table, output.curves)
    if kind == "example_learning":
        return learning_order.plot_example_learning(output.table)
    raise KeyError(f"unknown beyond kind {kind!r}; known: {sorted(TITLES)}")


def _extra_tables(kind: str, table: pd.DataFrame) -> list[str]:
    """The tables a kind's finding rests on: capacity's boundaries and size-law fits,
    weight decay's claims per cell."""
    if kind == "capacity_vs_samples":
        bounds = capacity.boundaries(table)
        return [
            "## Boundary per n (smallest width fitting at least half of the seeds)\n\n"
            + bounds.to_markdown(index=False, floatfmt=".3g"),
            "## Size laws fitted to the boundaries (log10 parameters)\n\n"
            + capacity.size_law_fits(bounds).to_markdown(index=False, floatfmt=".3g"),
        ]
    if kind == "weight_decay_failure":
        return [
            "## Claims per cell (Fisher's exact test against each control)\n\n"
            + wd_claims.claims(table).to_markdown(index=False, floatfmt=".3g")
        ]
    return []


def render_markdown(kind: str, output: Output) -> str:
    """Title, the finding line, the tables it rests on, the summary over seeds, then the
    per-run table."""
    if kind == "example_learning":  # one row per run and epoch: its own selection
        return learning_order.render_markdown(output.table, output.finding, mean_sd)
    table = output.table
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
    extra = [t + "\n" for t in _extra_tables(kind, table)]
    return f"# {TITLES[kind]}\n\n**Finding.** {output.finding}\n\n" + "\n".join(
        extra + summaries + runs
    )
