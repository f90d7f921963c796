"""`snakemake beyond`: four questions the paper's readers ask, each a table (with a
one-line finding computed from the data) and, for two of them, a figure.

The config's top-level ``beyond:`` maps an output key to its ``kind`` and the experiment
(``target: beyond``) whose runs it reads; workflow/rules/beyond.smk builds them.
"""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis import activations, capacity, memorization, weight_decay
# The config-level parts (outputs, checks, kinds) live in rethinkgen.targets: the Snakefile
# imports them at parse time, without pandas.
from rethinkgen.targets import FIGURE_KINDS

TITLES = {
    "memorization_dynamics": "Memorization dynamics: peak test accuracy and the corrupted subset",
    "capacity_vs_samples": "Capacity vs sample size: MLPs fitting random labels",
    "expressivity_activations": "Theorem 1 beyond ReLU: exact output layers and trained nets",
    "weight_decay_failure": "Weight decay and fitting random labels (Table 4's AlexNet)",
}


def build(kind: str, curves: pd.DataFrame, runs: pd.DataFrame, config: dict,
          solves: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    """(table, finding) of one output kind."""
    if kind == "memorization_dynamics":
        table = memorization.memorization_table(curves)
        return table, memorization.memorization_finding(table)
    if kind == "capacity_vs_samples":
        table = capacity.capacity_table(runs, config["models"])
        return table, capacity.capacity_finding(table)
    if kind == "expressivity_activations":
        if solves is None:
            raise ValueError("expressivity_activations needs the theory solves")
        trained = activations.trained_table(runs, config["models"])
        return (activations.activations_table(solves, runs, config["models"]),
                activations.activations_finding(solves, trained))
    if kind == "weight_decay_failure":
        table = weight_decay.weight_decay_table(runs, config["regularizers"], config["models"])
        return table, weight_decay.weight_decay_finding(table)
    raise KeyError(f"unknown beyond kind {kind!r}; known: {sorted(TITLES)}")


def plot(kind: str, curves: pd.DataFrame, runs: pd.DataFrame, config: dict):
    if kind == "memorization_dynamics":
        return memorization.plot_memorization(curves)
    if kind == "capacity_vs_samples":
        return capacity.plot_capacity(capacity.capacity_table(runs, config["models"]))
    raise KeyError(f"beyond kind {kind!r} has no figure; figures: {FIGURE_KINDS}")


def render_markdown(kind: str, table: pd.DataFrame, finding: str) -> str:
    """Title, the finding line, then the table (the expressivity table in its two parts)."""
    head = f"# {TITLES[kind]}\n\n**Finding.** {finding}\n\n"
    if "part" not in table:
        return head + table.to_markdown(index=False, floatfmt=".3g") + "\n"
    sections = []
    for part, rows in table.groupby("part", sort=False):
        rows = rows.dropna(axis=1, how="all").drop(columns="part")
        sections.append(f"## {part}\n\n" + rows.to_markdown(index=False, floatfmt=".3g") + "\n")
    return head + "\n".join(sections)
