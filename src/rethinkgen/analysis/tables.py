"""The paper's tables beside ours (Tables 1, 2 and 4): a long comparison for Parquet and a
wide display rendered as Markdown, LaTeX and HTML.

Each paper cell (paper/tables.csv) is matched to our runs on the paper's model,
its condition and the regularizer flags; see docs/paper.md, "Tables".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.readout import RESULT_OUTCOMES, outcome_of
from rethinkgen.paper import (
    MODEL_LABELS,
    PAPER_DATASET,
    PAPER_IMAGENET,
    PAPER_NUM_PARAMS,
    PAPER_TRAIN_SIZE,
    read_paper_table,
)

DATASET_LABELS = {
    "cifar10": "CIFAR-10",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "imagenet": "ImageNet",
}

MATCH_COLUMNS = [
    "paper_model",
    "paper_condition",
    "random_crop",
    "augment",
    "weight_decay_on",
    "dropout_on",
]
# paper metric -> (our runs column, factor to percent)
_OUR_METRIC = {
    "train_accuracy_pct": "final_train_online_accuracy",
    "test_accuracy_pct": "final_test_accuracy",
    "top1_train_pct": "final_train_online_accuracy",
    "top5_train_pct": "final_train_online_top5_accuracy",
    "top1_test_pct": "final_test_accuracy",
    "top5_test_pct": "final_test_top5_accuracy",
}
FAILED_TEXT = "failed to converge"


def _our_rows(runs: pd.DataFrame, metrics: list[str], converged_min: float) -> pd.DataFrame:
    """Our runs in the paper's long form: mean/sd/n over seeds per condition and metric."""
    runs = runs.assign(weight_decay_on=runs["weight_decay"] > 0, dropout_on=runs["dropout"] > 0)
    # A run counts as failed if it diverged or never got near fitting its labels; one read
    # before its budget was reached (unfinished) is no result either.
    runs["diverged"] = ~outcome_of(runs).isin(RESULT_OUTCOMES)
    if "params_per_example" not in runs:
        runs["params_per_example"] = float("nan")
    runs["failed"] = runs["diverged"] | ~(runs["final_train_online_accuracy"] >= converged_min)
    long = runs.melt(
        id_vars=[
            "dataset",
            "dataset_name",
            "model",
            "num_params",
            "failed",
            "diverged",
            "params_per_example",
        ]
        + MATCH_COLUMNS,
        value_vars=[_OUR_METRIC[m] for m in metrics],
        var_name="column",
    )
    long["metric"] = long["column"].map({_OUR_METRIC[m]: m for m in metrics})
    long["value"] = long["value"] * 100.0
    keys = ["dataset", "dataset_name", "model"] + MATCH_COLUMNS + ["metric"]
    # A run that ended below the threshold still has accuracies worth showing (beside the
    # note); only a diverged run's numbers are meaningless.
    ok = long[~long["diverged"]]
    stats = ok.groupby(keys, dropna=False)["value"].agg(ours="mean", ours_sd="std")
    counts = long.groupby(keys, dropna=False).agg(
        n_seeds=("value", "size"),
        n_failed=("failed", "sum"),
        n_diverged=("diverged", "sum"),
        num_params_ours=("num_params", "max"),
        params_per_example=("params_per_example", "max"),
    )
    return counts.join(stats).reset_index()


def compare_with_paper(runs: pd.DataFrame, table: str, converged_min: float = 0.9) -> pd.DataFrame:
    """Paper's table (long form) beside ours: paper, ours, ours_sd, n_seeds, difference.

    Outer join: a paper row we did not run stays (ours empty, note "not run"); a run the
    paper has no row for stays (paper empty). `converged_min`: below this final
    training accuracy (or when diverged) a run reads "failed to converge".
    """
    paper = read_paper_table(table).rename(columns={"value": "paper", "note": "paper_note"})
    paper = paper.drop(columns="dataset")
    metrics = list(dict.fromkeys(paper["metric"]))
    ours = _our_rows(runs, [m for m in metrics if m in _OUR_METRIC], converged_min)
    merged = paper.merge(ours, on=MATCH_COLUMNS + ["metric"], how="outer")
    merged["difference"] = merged["ours"] - merged["paper"]
    merged["num_params_paper"] = merged["paper_model"].map(PAPER_NUM_PARAMS)
    seeds = merged["n_seeds"].fillna(0).astype(int)
    of_seeds = " of " + seeds.astype(str) + np.where(seeds == 1, " seed)", " seeds)")
    merged["note"] = np.select(
        [merged["n_seeds"].isna(), merged["n_diverged"] > 0, merged["n_failed"] > 0],
        [
            "not run",
            FAILED_TEXT
            + ": diverged ("
            + merged["n_diverged"].fillna(0).astype(int).astype(str)
            + of_seeds,
            FAILED_TEXT + " (" + merged["n_failed"].fillna(0).astype(int).astype(str) + of_seeds,
        ],
        "",
    )
    merged.insert(0, "table", table)
    order = {m: i for i, m in enumerate(PAPER_NUM_PARAMS | {"inception_v3": 0})}
    merged["_order"] = merged["paper_model"].map(order).fillna(len(order))
    return (
        merged.sort_values(
            [
                "_order",
                "paper_condition",
                "random_crop",
                "augment",
                "weight_decay_on",
                "dropout_on",
            ],
            ascending=[True, False, False, False, False, False],
            kind="stable",
        )
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _fmt(value: float, signed: bool = False) -> str:
    return "" if pd.isna(value) else (f"{value:+.2f}" if signed else f"{value:.2f}")


def _ours_cell(row) -> str:
    """mean ± sd (n) over seeds; a note (diverged, failed, not run) beside it."""
    if pd.isna(row["ours"]):
        return row["note"]
    spread = f" ± {row['ours_sd']:.2f}" if row["n_seeds"] > 1 and pd.notna(row["ours_sd"]) else ""
    cell = f"{_fmt(row['ours'])}{spread} (n={int(row['n_seeds'] - row['n_diverged'])})"
    return f"{cell} ({row['note']})" if row["note"] else cell


def comparison_display(long: pd.DataFrame) -> pd.DataFrame:
    """Wide, human-readable form of a comparison: one row per condition, and per metric
    the three columns "paper", "ours" (mean ± sd over seeds) and "difference"."""
    long = long.copy()
    long["Model"] = [MODEL_LABELS.get(p, m) for p, m in zip(long["paper_model"], long["model"])]
    long["Labels"] = long["paper_condition"].str.replace("_", " ")
    flag_names = {
        "random_crop": "random crop",
        "augment": "augmentation",
        "weight_decay_on": "weight decay",
        "dropout_on": "dropout",
    }
    shown_flags = [f for f in flag_names if long[f].astype(bool).any()]  # hide all-"no" columns
    for flag in shown_flags:
        long[flag_names[flag]] = np.where(long[flag].astype(bool), "yes", "no")
    long["# params (paper)"] = long["num_params_paper"].map(
        lambda v: "" if pd.isna(v) else f"{int(v):,}"
    )
    long["# params (ours)"] = long["num_params_ours"].map(
        lambda v: "" if pd.isna(v) else f"{int(v):,}"
    )
    long["params / example (ours)"] = long["params_per_example"].map(
        lambda v: "" if pd.isna(v) else f"{v:,.1f}"
    )
    long["paper_cell"] = [
        _fmt(v) if pd.notna(v) else n for v, n in zip(long["paper"], long["paper_note"])
    ]
    long["ours_cell"] = long.apply(_ours_cell, axis=1)
    long["diff_cell"] = long["difference"].map(lambda v: _fmt(v, signed=True))
    row_keys = [
        "Model",
        "# params (paper)",
        "# params (ours)",
        "params / example (ours)",
        "Labels",
    ] + [flag_names[f] for f in shown_flags]
    wide = long.pivot_table(
        index=row_keys,
        columns="metric",
        aggfunc="first",
        sort=False,
        values=["paper_cell", "ours_cell", "diff_cell"],
    )
    metrics = sorted(set(long["metric"]), key=list(_OUR_METRIC).index)
    columns = {
        (c, m): f"{m.removesuffix('_pct').replace('_', ' ')} % ({who})"
        for m in metrics
        for c, who in (("paper_cell", "paper"), ("ours_cell", "ours"), ("diff_cell", "difference"))
    }
    wide = wide[list(columns)].fillna("")
    wide.columns = list(columns.values())
    return wide.reset_index()


def dataset_note(long: pd.DataFrame, paper_dataset: str) -> str:
    """One sentence saying which data our numbers come from, next to the paper's."""
    ours = sorted(set(long["dataset"].dropna()))
    names = sorted(set(long["dataset_name"].dropna()))
    label = DATASET_LABELS.get(paper_dataset, paper_dataset)
    if not ours:
        return f"No runs of ours yet; paper values are on {label}."
    same = names == [paper_dataset]
    return (
        f"Ours: dataset key(s) {', '.join(ours)} "
        f"({', '.join(DATASET_LABELS.get(n, n) for n in names)}); paper: {label}."
        + (
            ""
            if same
            else " Different data: the difference column is not a like-for-like"
            " comparison, only the qualitative pattern is."
        )
    )


def render_markdown(display: pd.DataFrame, title: str, notes: list[str]) -> str:
    body = display.to_markdown(index=False, disable_numparse=True)  # keep "100.00"
    return f"# {title}\n\n" + "".join(f"{n}\n\n" for n in notes) + body + "\n"


def render_latex(display: pd.DataFrame, title: str, notes: list[str]) -> str:
    caption = title + ". " + " ".join(notes)
    return display.to_latex(index=False, caption=caption, escape=True, longtable=False)


def render_html(display: pd.DataFrame, title: str, notes: list[str]) -> str:
    paragraphs = "".join(f"<p>{n}</p>" for n in notes)
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h2>{title}</h2>{paragraphs}{display.to_html(index=False, border=0)}</body></html>\n"
    )


TABLE_TITLES = {
    "table1": "Table 1: train/test accuracy (%) with and without random crop and weight decay",
    "table2": "Table 2: ImageNet Inception V3 top-1/top-5 accuracy (%)",
    "table4": "Table 4: fitting random labels with explicit regularizers (training accuracy %)",
}
_TABLE_DATASET = {"table1": PAPER_DATASET, "table2": PAPER_IMAGENET, "table4": PAPER_DATASET}


def paper_params_per_example_note() -> str:
    """The paper's parameters per training example, from its counts (Table 1)."""
    ratios = [n / PAPER_TRAIN_SIZE for n in PAPER_NUM_PARAMS.values()]
    return (
        f"The paper's nets have {min(ratios):.0f}-{max(ratios):.0f} parameters per training"
        f" example ({min(PAPER_NUM_PARAMS.values()) / 1e6:.1f}-"
        f"{max(PAPER_NUM_PARAMS.values()) / 1e6:.1f}M on {PAPER_TRAIN_SIZE:,} images)."
    )


def build_table(table: str, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(long comparison for Parquet, wide display for md/tex/html, notes) of one paper table."""
    long = compare_with_paper(runs, table)
    notes = [
        dataset_note(long, _TABLE_DATASET[table]),
        "Training accuracy is the epoch's online mini-batch accuracy (as the paper"
        " reports it); ours are read at this table's budget epoch (runs.parquet"
        " readout_epoch), mean ± sd over seeds (n = runs averaged; diverged runs are"
        " named, never averaged). " + paper_params_per_example_note(),
    ]
    if table == "table2" and len(runs):
        best = runs.groupby(MATCH_COLUMNS[1:4] + ["dropout"])["best_test_accuracy"].mean()
        notes.append(
            "Best top-1 test accuracy during training (ours, early-stopping reference): "
            + "; ".join(f"{k}: {100 * v:.2f}" for k, v in best.items())
        )
    return long, comparison_display(long), notes
