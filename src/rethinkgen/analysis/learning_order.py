"""The `example_learning` output (`snakemake beyond`, the own-model page): for the
partially corrupted runs (0 < p < 1) of an experiment, the share of clean and of corrupted
examples learned by each epoch, per seed, and how well each per-example measure would have
told the corrupted ones apart, over epochs and at the read-out
(rethinkgen.analysis.example_learning; docs/beyond.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rethinkgen.analysis import example_learning as el
from rethinkgen.run import RUN_KEYS, RunKeys, RunPaths

TITLE = "Which examples were memorized, and when: clean vs corrupted, per example"
RECORD_COLUMNS = ["epoch", "example", "correct", "margin", "corrupted"]
OVER_EPOCHS = ["clean_learned", "corrupted_learned", "auc_margin", "auc_aum", "precision_aum"]
AT_READOUT = ["corrupted_share"] + [
    f"{k}_{name}" for k in ("auc", "precision") for name in el.SCORES
]


def record_loader(info_paths) -> Callable[[RunKeys], pd.DataFrame | None]:
    """``load(RunKeys)``: the run's examples.parquet (its keys left out), found beside the
    run_info.json given for it (wherever a module prefix put the run), or None when it
    kept none."""
    name = RunPaths.of("").examples.name
    found = {}
    for path in info_paths:
        with open(path) as handle:
            found[RunKeys.of(json.load(handle)["keys"])] = Path(path).with_name(name)

    def load(keys: RunKeys) -> pd.DataFrame | None:
        path = found.get(keys)
        return pd.read_parquet(path, columns=RECORD_COLUMNS) if path and path.is_file() else None

    return load


def partial_runs(runs: pd.DataFrame) -> pd.DataFrame:
    partial = runs[(runs["corruption_prob"] > 0) & (runs["corruption_prob"] < 1)]
    if partial.empty:
        raise ValueError("example_learning needs runs with random_labels at 0 < prob < 1")
    return partial.sort_values(list(RUN_KEYS))


def example_learning_table(runs: pd.DataFrame, load) -> pd.DataFrame:
    """Per partially corrupted run and evaluation (part = epochs) the learned shares and the
    margin's and AUM's detection; one more row at the read-out (part = readout) with every
    measure's ROC AUC and precision at the corruption rate. ``load(RunKeys)``: its record."""
    frames = []
    for _, run in partial_runs(runs).iterrows():
        keys = RunKeys.of(run.to_dict())
        record = load(keys)
        if record is None:
            raise ValueError(
                f"run {keys.subpath} kept no per-example record: set training.record_examples: "
                "true for this experiment's models (docs/beyond.md)"
            )
        until = int(run["readout_epoch"]) if pd.notna(run.get("readout_epoch")) else None
        labels = {
            **{key: getattr(keys, key) for key in RUN_KEYS},
            "corruption_prob": float(run["corruption_prob"]),
        }
        over = el.detection_over_epochs(record, until)
        readout = over.iloc[[-1]].assign(**el.readout_detection(el.example_measures(record, until)))
        frames += [over.assign(part="epochs", **labels), readout.assign(part="readout", **labels)]
    table = pd.concat(frames, ignore_index=True)
    first = ["part", *RUN_KEYS, "corruption_prob", "epoch"]
    return table[first + [c for c in table if c not in first]]


def _half_learned_epoch(rows: pd.DataFrame, column: str) -> float:
    reached = rows[rows[column] >= 0.5]
    return float(reached["epoch"].min()) if len(reached) else np.nan


def example_learning_finding(table: pd.DataFrame) -> str:
    """One paragraph: how early the clean and the corrupted examples were learned, and how
    well the measures told the corrupted ones apart at the read-out and at their best."""
    epochs, readout = table[table["part"] == "epochs"], table[table["part"] == "readout"]
    runs = epochs.groupby(list(RUN_KEYS), sort=True)
    first = epochs[epochs["epoch"] == 1]
    halves = runs.apply(
        lambda r: pd.Series(
            {c: _half_learned_epoch(r, c) for c in ("clean_learned", "corrupted_learned")}
        )
    )
    best = runs.apply(lambda r: r.loc[r["auc_margin"].idxmax(), ["epoch", "auc_margin"]])
    never = int(halves["corrupted_learned"].isna().sum())
    return (
        f"{len(readout)} runs ({', '.join(sorted(readout['model'].unique()))}; "
        f"p = {', '.join(f'{p:g}' for p in sorted(readout['corruption_prob'].unique()))}; "
        f"{readout['seed'].nunique()} seed(s)). After one epoch "
        f"{first['clean_learned'].mean():.0%} of the clean and "
        f"{first['corrupted_learned'].mean():.0%} of the corrupted examples were learned for "
        f"good (median epoch to half learned: clean {halves['clean_learned'].median():.0f}, "
        f"corrupted {halves['corrupted_learned'].median():.0f}"
        + (f"; {never} run(s) never learned half of them" if never else "")
        + "). At the read-out the area under the margin separates corrupted from clean with "
        f"ROC AUC {readout['auc_aum'].mean():.3f} (precision at the corruption rate "
        f"{readout['precision_aum'].mean():.2f}), the final margin "
        f"{readout['auc_margin'].mean():.3f}, the first-learned epoch "
        f"{readout['auc_first_learned'].mean():.3f}, forgetting events "
        f"{readout['auc_forgetting'].mean():.3f}; the margin's AUC peaked at "
        f"{best['auc_margin'].mean():.3f} (median epoch {best['epoch'].median():.0f}; means "
        "over runs)."
    )


def _shown_epochs(epochs: np.ndarray) -> list[int]:
    """About ten epochs for the Markdown table: 0, 1, 2, 5, 10, 20, ... and the last."""
    marks = {0, int(epochs.max())} | {m * 10**e for e in range(5) for m in (1, 2, 5)}
    return sorted(int(e) for e in epochs if e in marks)


def render_markdown(table: pd.DataFrame, finding: str, mean_sd) -> str:
    """Title, finding, the read-out and selected epochs as mean +- sd (n) over seeds, and
    every run's read-out row. ``mean_sd``: rethinkgen.analysis.beyond.mean_sd."""
    epochs, readout = table[table["part"] == "epochs"], table[table["part"] == "readout"]
    shown = epochs[epochs["epoch"].isin(_shown_epochs(epochs["epoch"].to_numpy()))]
    by = ["model", "corruption_prob"]
    per_run = readout[[*RUN_KEYS, "corruption_prob", "epoch", *AT_READOUT]]
    return (
        f"# {TITLE}\n\n**Finding.** {finding}\n\n"
        "## At the read-out: separating corrupted from clean (mean ± sd (n) over seeds)\n\n"
        + mean_sd(readout, by, AT_READOUT).to_markdown(index=False)
        + "\n\n## Over epochs (mean ± sd (n) over seeds)\n\n"
        + mean_sd(shown, [*by, "epoch"], OVER_EPOCHS).to_markdown(index=False)
        + "\n\n## Per run at the read-out\n\n"
        + per_run.to_markdown(index=False, floatfmt=".3f")
        + "\n"
    )


def plot_example_learning(table: pd.DataFrame) -> Figure:
    """Columns: corruption levels; per model a row of learned shares (clean solid, corrupted
    dashed) and a row of detection ROC AUC (margin at t, AUM up to t); one line per seed."""
    data = table[table["part"] == "epochs"]
    models, probs = sorted(data["model"].unique()), sorted(data["corruption_prob"].unique())
    fig, axes = plt.subplots(
        2 * len(models),
        len(probs),
        figsize=(3.2 * len(probs), 2.4 * 2 * len(models)),
        squeeze=False,
    )
    styles = {
        "clean_learned": ("clean", "C0", "-"),
        "corrupted_learned": ("corrupted", "C3", "--"),
        "auc_margin": ("margin at t", "C2", "-"),
        "auc_aum": ("AUM up to t", "C4", "--"),
    }
    legends = {}  # per kind of row, the first panel with lines
    for i, model in enumerate(models):
        for j, prob in enumerate(probs):
            cell = data[(data["model"] == model) & (data["corruption_prob"] == prob)]
            panels = {2 * i: list(styles)[:2], 2 * i + 1: list(styles)[2:]}
            for row, wanted in panels.items():
                ax = axes[row][j]
                if cell.empty:  # this model has no run at this p
                    ax.axis("off")
                    continue
                legends.setdefault(row % 2, ax)
                for column in wanted:
                    label, color, style = styles[column]
                    for n, (_, run) in enumerate(cell.groupby("seed")):
                        ax.plot(
                            run["epoch"], run[column], color=color, linestyle=style,
                            alpha=0.8, label=label if n == 0 else None,
                        )  # fmt: skip
            if cell.empty:
                continue
            axes[2 * i][j].set_title(f"{model}, p = {prob:g}", fontsize=9)
            axes[2 * i][j].set_ylim(0, 1.02)
            axes[2 * i + 1][j].set_ylim(0.4, 1.01)
            axes[2 * i + 1][j].axhline(0.5, color="grey", linestyle=":", linewidth=1)
            axes[2 * i + 1][j].set_xlabel("epoch")
    for r, row in enumerate(axes):  # the y label on each row's first panel with lines
        shown = [ax for ax in row if ax.axison]
        shown[0].set_ylabel(("share learned (for good)", "detection ROC AUC")[r % 2])
    for ax in legends.values():
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(
        "Learned for good by epoch t (clean vs corrupted) and detecting the corrupted labels "
        "(one line per seed)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
