"""The paper's figures from our aggregated tables, with the paper's numbers drawn beside.

Every function takes the tidy `curves` and `runs` tables of one experiment
(rethinkgen.analysis.aggregate) and returns a matplotlib Figure whose ``plotted_data`` is
the frame it drew (written beside the image); FIGURES maps a config `kind` to the function.
Only runs that are results are drawn as such; diverged and unfinished runs get their own
legend entry (rethinkgen.analysis.figure_data). Ours is drawn solid, the paper dashed, in the
same colour. The paper's curves are only drawn when our runs use the paper's dataset; otherwise the
title says which data ours is on, so nobody compares Fashion-MNIST to CIFAR-10 by eye.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from rethinkgen.analysis.derived import cumulative_best, relative_time_to_fit
from rethinkgen.analysis.figure_data import (
    KEYS as FIGURE_KEYS,
)
from rethinkgen.analysis.figure_data import (
    STRICT_COLUMNS,
    curves_to_budget,
    plotted_rows,
    split_results,
    strict_fit,
    summarize,
)
from rethinkgen.analysis.readout import outcome_of
from rethinkgen.analysis.tables import DATASET_LABELS
from rethinkgen.paper import (
    FIG1A_CONDITIONS,
    MODEL_LABELS,
    PAPER_DATASET,
    read_paper_table,
    read_reference_csv,
)

OURS, PAPER = "ours", "paper (Zhang et al. 2017)"
CONDITION_LABELS = {c: c.replace("_", " ") for c in FIG1A_CONDITIONS}


def _source_style(data: pd.DataFrame) -> dict:
    """Solid for ours, dashed for the paper; only the sources actually drawn get a legend entry."""
    present = [s for s in (OURS, PAPER) if s in set(data["source"])]
    return dict(style="source", style_order=present, dashes={OURS: "", PAPER: (4, 2)})


def _errorbar(data: pd.DataFrame) -> str | None:
    """Seeds become a +-1 sd band; with a single seed there is no spread to draw."""
    return "sd" if data.loc[data["source"] == OURS, "seed"].nunique() > 1 else None


def _step_units(steps: pd.Series, paper_drawn: bool) -> tuple[float, str]:
    """Thousands of steps as in the paper, unless runs are so short that plain steps read better
    (never when the paper's curves, already in thousands, share the axes)."""
    return (1000.0, "thousand steps") if paper_drawn or steps.max() >= 5000 else (1.0, "steps")


def _step_axis(frame: pd.DataFrame, scale: float) -> tuple[pd.DataFrame, str]:
    """(frame, x column) with the x column named for its unit: `thousand_steps` (steps /
    1000, the paper's CSVs' unit) or the raw `step`."""
    if scale == 1.0:
        return frame, "step"
    return frame.assign(thousand_steps=frame["step"] / scale), "thousand_steps"


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def _with_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Model labels; with runs on several dataset keys (a ladder of sizes) each line or panel
    also names its dataset key, and several model keys of one paper model each name their
    key, so no size or setting is averaged into another."""
    labels = [MODEL_LABELS.get(p, m) for p, m in zip(df["paper_model"], df["model"])]
    # two model keys of one paper model (fp32 and bf16, two lr schedules): never one line
    keys_per_label = pd.Series(df["model"].to_numpy()).groupby(labels).nunique()
    labels = [
        f"{label} ({model})" if keys_per_label[label] > 1 else label
        for label, model in zip(labels, df["model"])
    ]
    if df["dataset"].nunique() > 1:
        labels = [f"{label}, {dataset}" for label, dataset in zip(labels, df["dataset"])]
    return df.assign(model_label=labels, source=OURS)


def _paper_applies(df: pd.DataFrame, paper_dataset: str = PAPER_DATASET) -> bool:
    """The paper's data and at least one of its models (your own models have none)."""
    paper_model = df["paper_model"].notna().any() if "paper_model" in df else True
    return len(df) > 0 and set(df["dataset_name"]) == {paper_dataset} and paper_model


def _title(fig: Figure, what: str, df: pd.DataFrame, paper_dataset: str = PAPER_DATASET) -> None:
    """Figure title; names our data and says so when the paper's curves are left out."""
    names = sorted(set(df["dataset_name"]))
    ours = ", ".join(DATASET_LABELS.get(n, n) for n in names) or "no runs"
    line2 = (
        f"ours and paper on {DATASET_LABELS[paper_dataset]}"
        if _paper_applies(df, paper_dataset)
        else f"ours on {ours} ({', '.join(sorted(set(df['dataset'])))}); paper's "
        f"{DATASET_LABELS[paper_dataset]} curves not drawn"
    )
    fig.suptitle(f"{what}\n{line2}", fontsize="medium")


def _paper_models(paper: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    paper = paper.assign(model_label=paper["model"].map(MODEL_LABELS), source=PAPER)
    return paper[paper["model_label"].isin(set(ours["model_label"]))]


def _mark_failed(ax, failed: pd.DataFrame, x: pd.Series | float, y: float) -> None:
    """Runs that are not results (diverged, unfinished): an x at the top, own legend entry."""
    if len(failed):
        ax.scatter(
            x,
            np.full(len(failed), y),
            marker="x",
            color="black",
            s=50,
            zorder=6,
            transform=ax.get_xaxis_transform(),
            label=f"diverged or unfinished: not a result ({len(failed)} run(s))",
        )


def _failed_note(fig: Figure, failed: pd.DataFrame) -> None:
    """Curve figures name the runs left out because they are not results."""
    if len(failed):
        names = ", ".join(
            sorted(
                f"{r.model}/{r.corruption}/seed{r.seed} ({r.outcome})"
                for r in failed.assign(outcome=outcome_of(failed)).itertuples()
            )
        )
        fig.text(
            0.01,
            -0.02,
            f"not drawn, not results: {names}",
            fontsize="small",
            color="firebrick",
            va="top",
        )


def _record(
    fig: Figure, drawn: pd.DataFrame, failed: pd.DataFrame, x: str, y: str, extra=()
) -> Figure:
    fig.plotted_data = plotted_rows(drawn, failed, x, y, tuple(extra))
    return fig


def _with_strict_fit(ours: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Our rows with Figure 1b/1c's strict-fit read-out (figure_data.strict_fit) beside."""
    if ours.empty or "split" not in curves:
        return ours.assign(**{c: np.nan for c in STRICT_COLUMNS})
    return ours.merge(strict_fit(curves, runs), on=FIGURE_KEYS, how="left")


def _finish(fig: Figure, legend_ax) -> Figure:
    legend = legend_ax.legend if hasattr(legend_ax, "_legend") else legend_ax.get_legend()
    if legend is not None:  # none when nothing labelled was drawn (e.g. no run fitted)
        sns.move_legend(legend_ax, "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
        legend = legend_ax.legend if hasattr(legend_ax, "_legend") else legend_ax.get_legend()
    for text in legend.texts if legend else []:  # readable legend headings
        text.set_text(
            {"model_label": "model", "split": "split"}.get(text.get_text(), text.get_text())
        )
    fig.tight_layout()
    return fig


def plot_learning_curves(curves: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Fig. 1a: training loss (epoch's online mean) vs thousand steps, five conditions,
    each run up to its budget; mean and sd band over seeds (n in the legend title)."""
    _, failed = split_results(runs)
    curves = curves_to_budget(curves, runs)
    ours = _with_labels(
        curves[
            (curves["split"] == "train_online") & curves["paper_condition"].isin(FIG1A_CONDITIONS)
        ]
    )
    scale, xlabel = _step_units(ours["step"], _paper_applies(ours))
    ours, x = _step_axis(ours.assign(condition=ours["paper_condition"]), scale)
    frames = [ours]
    if _paper_applies(ours):
        paper = read_reference_csv("fig1a_learning_curves.csv").rename(
            columns={"train_loss": "loss"}
        )
        frames.append(_paper_models(paper, ours))
    data = pd.concat(frames, ignore_index=True)
    data["condition"] = data["condition"].map(CONDITION_LABELS)
    order = [
        CONDITION_LABELS[c]
        for c in FIG1A_CONDITIONS
        if CONDITION_LABELS[c] in set(data["condition"])
    ]
    g = sns.relplot(
        data=data,
        x=x,
        y="loss",
        hue="condition",
        hue_order=order,
        col="model_label",
        kind="line",
        errorbar=_errorbar(data),
        height=3.6,
        aspect=1.3,
        **_source_style(data),
    )
    g.set_axis_labels(xlabel, "average training loss")
    g.set_titles("{col_name} (n = %s)" % _seed_counts(ours))
    _title(g.figure, "Fig. 1a: learning curves under randomization tests", ours)
    _failed_note(g.figure, failed)
    return _record(_finish(g.figure, g), data, failed, x, "loss")


def _seed_counts(ours: pd.DataFrame) -> str:
    """How many runs each line averages: one number, or the range."""
    counts = ours.groupby(["model", "corruption", "regularizer"])["seed"].nunique()
    return (
        "?"
        if counts.empty
        else (
            str(counts.min()) if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
        )
    )


def _corruption_lines(
    data: pd.DataFrame,
    y: str,
    ylabel: str,
    what: str,
    ours: pd.DataFrame,
    censored: str | None = None,
) -> tuple[Figure, plt.Axes]:
    """Per model: ours as mean ± sd over seeds (a censoring-aware median where some seed
    is censored, hollow where that median is only a lower bound), the paper dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colors = dict(zip(dict.fromkeys(data["model_label"]), sns.color_palette()))
    mine = data[data["source"] == OURS]
    summary = summarize(mine, ["model_label", "label_corruption"], y, censored)
    for label, rows in summary.groupby("model_label", sort=False):
        n = f"n = {rows['n'].min()}" + (
            "" if rows["n"].min() == rows["n"].max() else f"-{rows['n'].max()}"
        )
        ax.errorbar(
            rows["label_corruption"],
            rows["estimate"],
            yerr=rows["sd"].fillna(0),
            color=colors[label],
            marker="o",
            capsize=3,
            label=f"{label}, ours ({n})",
        )
        bounded = rows[rows["lower_bound"]]
        if len(bounded):
            ax.scatter(
                bounded["label_corruption"],
                bounded["estimate"],
                marker="^",
                s=70,
                facecolors="white",
                edgecolors=colors[label],
                zorder=5,
            )
    for label, rows in data[data["source"] == PAPER].groupby("model_label", sort=False):
        ax.plot(
            rows["label_corruption"],
            rows[y],
            ls="--",
            color=colors.get(label, "grey"),
            label=f"{label}, {PAPER}",
        )
    ax.set(xlabel="label corruption p", ylabel=ylabel, xlim=(-0.03, 1.03))
    _title(fig, what, ours)
    fig.summary = summary
    return fig, ax


def plot_convergence_slowdown(curves: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Fig. 1b: epochs to fit at corruption p divided by epochs to fit at p = 0.

    A run not fitted within its cap counts as at least cap / (p = 0 epochs): drawn hollow,
    and a group with one is summarized by its censoring-aware median."""
    results, failed = split_results(runs)
    derived = _with_labels(relative_time_to_fit(results)).rename(
        columns={"corruption_prob": "label_corruption"}
    )
    placed = derived["base_epochs_to_fit"].notna()  # a p = 0 fit time to divide by
    ours = _with_strict_fit(derived[placed].assign(source=OURS), curves, runs)
    bound = ours["readout_epoch"] if "readout_epoch" in ours else ours["max_epochs"]
    ours["censored"] = ours["relative_time_to_fit"].isna()
    ours["relative_time_to_fit"] = ours["relative_time_to_fit"].fillna(
        bound.astype(float) / ours["base_epochs_to_fit"].astype(float)
    )
    frames = [ours]
    if _paper_applies(derived):
        paper = read_reference_csv("fig1b_convergence_slowdown.csv").rename(
            columns={"relative_time_to_overfit": "relative_time_to_fit"}
        )
        frames.append(_paper_models(paper, ours))
    data = pd.concat(frames, ignore_index=True)
    fig, ax = _corruption_lines(
        data,
        "relative_time_to_fit",
        "relative time to overfit\n(epochs to fit / epochs at p = 0)",
        "Fig. 1b: convergence slowdown",
        derived,
        censored="censored",
    )
    unfitted = ours[ours["censored"]]
    if len(unfitted):  # not fitted within the cap: at least cap / base, drawn hollow
        ax.scatter(
            unfitted["label_corruption"],
            unfitted["relative_time_to_fit"],
            marker="^",
            facecolors="none",
            edgecolors="firebrick",
            s=60,
            zorder=5,
            label=f"not fitted within its cap: lower bound ({len(unfitted)} run(s))",
        )
    _mark_failed(ax, failed, failed.get("corruption_prob", pd.Series(dtype=float)), 0.97)
    if ax.get_legend_handles_labels()[0]:  # matplotlib warns on an empty legend
        ax.legend()
    unplaced = int((~placed).sum())
    if unplaced:  # no p = 0 fit time to divide by: say so rather than drop points silently
        ax.text(
            0.01,
            0.98,
            f"{unplaced} run(s) without a p = 0 fit time: not drawn",
            transform=ax.transAxes,
            va="top",
            fontsize="small",
            color="firebrick",
        )
    return _record(
        _finish(fig, ax), data, failed, "label_corruption", "relative_time_to_fit", STRICT_COLUMNS
    )


def plot_test_error_vs_corruption(curves: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Fig. 1c: test error at each run's read-out (its fit, or its cap: hollow) vs label
    corruption, mean ± sd over seeds, with the chance level 1 - 1/K."""
    results, failed = split_results(runs[runs["corruption_prob"].notna()])
    ours = _with_labels(results)
    ours = ours.assign(
        label_corruption=ours["corruption_prob"],
        source=OURS,
        test_error=1.0 - ours["final_test_accuracy"],
    )
    if "censored" not in ours:
        ours["censored"] = False
    ours = _with_strict_fit(ours, curves, runs)
    frames = [ours]
    if _paper_applies(ours):
        frames.append(_paper_models(read_reference_csv("fig1c_test_error_vs_corruption.csv"), ours))
    data = pd.concat(frames, ignore_index=True)
    fig, ax = _corruption_lines(
        data, "test_error", "test error", "Fig. 1c: test error vs label corruption", ours
    )
    censored = ours[ours["censored"].astype(bool)]
    if len(censored):
        ax.scatter(
            censored["label_corruption"],
            censored["test_error"],
            marker="^",
            s=60,
            facecolors="none",
            edgecolors="firebrick",
            zorder=5,
            label=f"not fitted within its cap: read at the cap ({len(censored)} run(s))",
        )
    for classes in sorted(set(ours["num_classes"].dropna())):
        ax.axhline(
            1 - 1 / classes,
            color="firebrick",
            ls=":",
            lw=1.2,
            label=f"chance (1 - 1/{int(classes)})",
        )
    _mark_failed(ax, failed, failed["corruption_prob"], 0.97)
    ax.legend()
    return _record(_finish(fig, ax), data, failed, "label_corruption", "test_error", STRICT_COLUMNS)


CURVE_NAMES = {"train_online": "train (online, epoch mean)", "test": "test"}


def _train_test_panels(
    curves: pd.DataFrame,
    panel: str,
    what: str,
    paper: pd.DataFrame | None,
    paper_levels: dict | None = None,
    paper_dataset: str = PAPER_DATASET,
) -> Figure:
    """Train and test accuracy vs thousand steps, one panel per value of `panel`; the
    band between test accuracy and its running maximum is what early stopping could gain."""
    ours = curves[curves["split"].isin(["train_online", "test"])].copy()
    scale, xlabel = _step_units(ours["step"], paper is not None)
    # the training curve drawn is the epoch's online accuracy (the paper's "train")
    ours, x = _step_axis(ours.assign(source=OURS, curve=ours["split"].map(CURVE_NAMES)), scale)
    if paper is not None:
        paper = paper.assign(curve=paper["split"].map({"train": CURVE_NAMES["train_online"]}))
        paper["curve"] = paper["curve"].fillna(paper["split"])
    data = pd.concat([ours, paper] if paper is not None else [ours], ignore_index=True)
    panels = list(dict.fromkeys(ours[panel]))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels) + 1.6, 3.8), sharey=True, squeeze=False
    )
    best = cumulative_best(curves).groupby([panel, "step"])[["accuracy", "best_so_far"]].mean()
    for ax, name in zip(axes[0], panels):
        sns.lineplot(
            data=data[data[panel] == name],
            x=x,
            y="accuracy",
            hue="curve",
            hue_order=list(CURVE_NAMES.values()),
            errorbar=_errorbar(data),
            ax=ax,
            **_source_style(data),
        )
        env = best.loc[name].reset_index()
        ax.fill_between(
            env["step"] / scale,
            env["accuracy"],
            env["best_so_far"],
            color="tab:orange",
            alpha=0.3,
            label="best test so far (early stopping)",
        )
        for label, level in (paper_levels or {}).get(name, {}).items():
            ax.axhline(level, color="grey", ls="--", lw=1, label=label)
        ax.set(
            title=name,
            xlabel=f"training {xlabel}".replace("training thousand", "thousand training"),
            ylabel="accuracy",
        )
        ax.legend().set_visible(ax is axes[0][-1])
    _title(fig, what, curves, paper_dataset)
    return _finish(fig, axes[0][-1])


def plot_batchnorm(curves: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Fig. 2b: Inception with and without BatchNorm, train/test accuracy vs steps, each run
    up to its budget."""
    _, failed = split_results(runs)
    ours = _with_labels(curves_to_budget(curves, runs))
    paper = None
    if _paper_applies(ours):
        paper = _paper_models(read_reference_csv("fig2b_batchnorm_curves.csv"), ours)
    fig = _train_test_panels(
        ours, "model_label", "Fig. 2b: Inception with and without BatchNorm", paper
    )
    _failed_note(fig, failed)
    # the data file holds what is drawn: online training accuracy (split "train_online";
    # the paper's digitized "train") and test accuracy, not the whole-set evaluation
    ours = ours[ours["split"].isin(list(CURVE_NAMES))].assign(source=OURS)
    ours, x = _step_axis(ours, _step_units(ours["step"], paper is not None)[0])
    drawn = pd.concat([ours, paper], ignore_index=True) if paper is not None else ours
    return _record(fig, drawn, failed, x, "accuracy")


def regularizer_label(df: pd.DataFrame) -> pd.Series:
    """'w/ aug, wd, dropout' style names used in Fig. 2a's legend."""
    used = pd.DataFrame(
        {
            "aug": df["augment"].astype(bool) | df["random_crop"].astype(bool),
            "wd": df["weight_decay"] > 0,
            "dropout": df["dropout"] > 0,
        }
    )
    return used.apply(
        lambda r: "w/ " + ", ".join(c for c in used if r[c]) if r.any() else "no regularizer",
        axis=1,
    )


def plot_imagenet_regularizers(curves: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Fig. 2a: Inception V3 on ImageNet with/without aug, wd, dropout (top-1)."""
    _, failed = split_results(runs)
    ours = curves_to_budget(curves, runs)
    ours = ours[ours["paper_condition"] == "true_labels"]
    ours = ours.assign(setting=regularizer_label(ours))
    levels = {}
    if _paper_applies(ours, "imagenet"):  # no digitized curves: Table 2's final/best levels
        table2 = read_paper_table("table2")
        table2 = table2[
            (table2["paper_condition"] == "true_labels") & (table2["metric"] == "top1_test_pct")
        ]
        table2 = table2.assign(
            weight_decay=np.where(table2["weight_decay_on"], 1.0, 0.0),
            dropout=np.where(table2["dropout_on"], 1.0, 0.0),
        )
        for row, setting in zip(table2.itertuples(), regularizer_label(table2)):
            levels[setting] = {f"{PAPER}: final test": row.value / 100}
            if "best during training" in row.note:
                levels[setting]["paper: best test"] = float(row.note.split()[-1]) / 100
    fig = _train_test_panels(
        ours,
        "setting",
        "Fig. 2a: Inception V3 on ImageNet, regularizers",
        None,
        levels,
        paper_dataset="imagenet",
    )
    _failed_note(fig, failed)
    return _record(fig, ours.assign(source=OURS), failed, "step", "accuracy")


FIGURES = {
    "learning_curves": plot_learning_curves,
    "convergence_slowdown": plot_convergence_slowdown,
    "test_error_vs_corruption": plot_test_error_vs_corruption,
    "batchnorm": plot_batchnorm,
    "imagenet_regularizers": plot_imagenet_regularizers,
}
