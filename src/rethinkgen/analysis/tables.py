"""Aggregated tables: every run's curves and one summary row per run, with design
columns from the config, plus the paper-vs-ours comparison tables (Tables 1, 2, 4).

Tidy layout (STYLE 4.7): keys first, one row per observation. The Parquet schemas
are pinned (CURVES_SCHEMA, RUNS_SCHEMA) so downstream readers never see a column
change type because, say, every value of a column happened to be null.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rethinkgen.analysis.paper import MODEL_LABELS, PAPER_NUM_PARAMS, read_paper_table

KEY_COLUMNS = ["dataset", "model", "corruption", "regularizer", "seed"]

_KEY_FIELDS = [(c, pa.string()) for c in KEY_COLUMNS[:4]] + [("seed", pa.int64())]
_DESIGN_FIELDS = [
    ("dataset_name", pa.string()),  # config["datasets"][key]["name"], e.g. fashion_mnist
    ("corruption_kind", pa.string()),
    ("corruption_prob", pa.float64()),  # label-corruption p; 0 for none, null for pixel kinds
    ("paper_condition", pa.string()),  # the paper's name for the condition (Fig. 1a legend)
    ("weight_decay", pa.float64()),
    ("random_crop", pa.bool_()),
    ("augment", pa.bool_()),
    ("dropout", pa.float64()),
    ("model_arch", pa.string()),
    ("batch_norm", pa.bool_()),
    ("paper_model", pa.string()),  # which paper architecture this is, or null
]
DESIGN_COLUMNS = [name for name, _ in _DESIGN_FIELDS]
_METRIC_FIELDS = [
    ("epoch", pa.int64()),
    ("step", pa.int64()),
    ("split", pa.string()),
    ("loss", pa.float64()),
    ("accuracy", pa.float64()),
    ("top5_accuracy", pa.float64()),
    ("lr", pa.float64()),
    ("wall_time_s", pa.float64()),
    ("images_per_s", pa.float64()),
]
# Resolved per run by the engine (run_info.json), never re-derived from the config.
_RUN_FACT_FIELDS = [
    ("num_classes", pa.int64()),
    ("n_test", pa.int64()),  # test-set size, for binomial tolerances
    ("max_epochs", pa.int64()),  # the budget
    ("lr_decay", pa.float64()),
]
_RUN_FIELDS = [
    ("status", pa.string()),  # fitted (stopped at fit) | max_epochs (whole budget) | diverged
    ("epochs", pa.int64()),
    ("steps", pa.int64()),
    ("n_train", pa.int64()),
    ("fit_metric", pa.string()),  # the fit criterion: online_loss | online_accuracy | ...
    ("fit_threshold", pa.float64()),
    ("fitted", pa.bool_()),  # met the criterion at some epoch within the budget
    ("steps_to_fit", pa.int64()),
    ("epochs_to_fit", pa.int64()),  # first epoch meeting the criterion
    ("fit_held_from_epoch", pa.int64()),  # it held from this epoch to the end (null: not at the end)
    ("final_train_online_accuracy", pa.float64()),  # what the paper calls training accuracy
    ("final_train_accuracy", pa.float64()),  # whole training set, eval mode
    ("final_test_accuracy", pa.float64()),
    ("final_test_top5_accuracy", pa.float64()),
    ("final_train_online_top5_accuracy", pa.float64()),
    ("final_train_online_loss", pa.float64()),
    ("final_test_loss", pa.float64()),
    ("best_test_accuracy", pa.float64()),
    ("best_test_epoch", pa.int64()),
    ("num_params", pa.int64()),
    ("device", pa.string()),
    ("gpu_name", pa.string()),
    ("precision", pa.string()),  # fp32 | bf16
    ("wall_time_s", pa.float64()),
]
CURVES_SCHEMA = pa.schema(_KEY_FIELDS + _METRIC_FIELDS + _RUN_FACT_FIELDS + _DESIGN_FIELDS)
RUNS_SCHEMA = pa.schema(_KEY_FIELDS + _DESIGN_FIELDS + _RUN_FACT_FIELDS + _RUN_FIELDS)

DATASET_LABELS = {
    "cifar10": "CIFAR-10",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "imagenet": "ImageNet",
}
_PIXEL_CONDITIONS = {"shuffled_pixels": "shuffled_pixels", "random_pixels": "random_pixels",
                     "gaussian": "gaussian", "gaussian_pixels": "gaussian"}


def to_arrow(df: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Cast a frame to a pinned schema (column order and types); missing columns are null."""
    columns = {}
    for field in schema:
        values = df[field.name] if field.name in df else pd.Series([None] * len(df))
        if pa.types.is_integer(field.type):
            values = pd.to_numeric(values).astype("Int64")  # nullable: NaN -> null
        elif pa.types.is_boolean(field.type):
            values = values.astype("boolean")
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=schema)


def paper_model_of(spec: dict) -> str | None:
    """Which of the paper's architectures a model spec builds (None: not one of them)."""
    arch, hidden = spec.get("arch"), list(spec.get("hidden", []))
    if arch == "small_inception":
        return "inception" if spec.get("batch_norm", False) else "inception_nobn"
    if arch == "mlp" and hidden in ([512], [512, 512, 512]):
        return f"mlp_{len(hidden)}x512"
    return {"small_alexnet": "alexnet", "inception_v3": "inception_v3"}.get(arch)


def paper_condition_of(spec: dict) -> str | None:
    kind = spec["kind"]
    if kind == "none":
        return "true_labels"
    if kind == "random_labels":
        return "random_labels" if spec.get("prob", 1.0) == 1.0 else "partially_corrupted_labels"
    return _PIXEL_CONDITIONS.get(kind)


def design_columns(config: dict, dataset: str, model: str, corruption: str,
                   regularizer: str) -> dict:
    """The experimental-design values of one run that the config names (specs and the
    paper's names for them); resolved settings come from run_info.json (summarize_run)."""
    model_spec = config["models"][model]
    corruption_spec, reg = config["corruptions"][corruption], config["regularizers"][regularizer]
    kind = corruption_spec["kind"]
    prob = {"none": 0.0, "random_labels": corruption_spec.get("prob", 1.0)}.get(kind, math.nan)
    return {
        "dataset_name": config["datasets"][dataset]["name"],
        "corruption_kind": kind,
        "corruption_prob": prob,
        "paper_condition": paper_condition_of(corruption_spec),
        "weight_decay": float(reg.get("weight_decay", 0.0)),
        "random_crop": bool(reg.get("random_crop", False)),
        "augment": bool(reg.get("augment", False)),
        "dropout": float(reg.get("dropout", 0.0)),
        "model_arch": model_spec["arch"],
        "batch_norm": bool(model_spec.get("batch_norm", False)),
        "paper_model": paper_model_of(model_spec),
    }


def _final(info: dict, split: str, key: str):
    final = (info.get("final") or {}).get(split)
    value = None if final is None else final.get(key)
    return math.nan if value is None else value


def summarize_run(info: dict) -> dict:
    """One runs.parquet row (without the config's design columns): the run's resolved
    settings and outcome exactly as the engine recorded them in run_info.json."""
    training = info["config"].get("training", {})
    criterion = info.get("fit_criterion", {})
    return {
        **info["keys"],
        **{k: info.get(k) for k in ("status", "epochs", "steps", "steps_to_fit", "epochs_to_fit",
                                    "fit_held_from_epoch", "best_test_accuracy",
                                    "best_test_epoch", "num_params", "device", "gpu_name",
                                    "precision", "wall_time_s")},
        "fitted": info.get("epochs_to_fit") is not None,
        "fit_metric": criterion.get("metric"),
        "fit_threshold": criterion.get("threshold"),
        "max_epochs": info.get("max_epochs", training.get("max_epochs")),
        "lr_decay": training.get("lr_decay"),
        **{k: info.get("data", {}).get(k) for k in ("n_train", "n_test", "num_classes")},
        "final_train_online_accuracy": _final(info, "train_online", "accuracy"),
        "final_train_accuracy": _final(info, "train", "accuracy"),
        "final_test_accuracy": _final(info, "test", "accuracy"),
        "final_test_top5_accuracy": _final(info, "test", "top5_accuracy"),
        "final_train_online_top5_accuracy": _final(info, "train_online", "top5_accuracy"),
        "final_train_online_loss": _final(info, "train_online", "loss"),
        "final_test_loss": _final(info, "test", "loss"),
    }


_DESIGN_KEYS = ["dataset", "model", "corruption", "regularizer"]


def _with_design(df: pd.DataFrame, config: dict) -> pd.DataFrame:
    designs = {
        keys: design_columns(config, *keys)
        for keys in df[_DESIGN_KEYS].drop_duplicates().itertuples(index=False)
    }
    design = pd.DataFrame([dict(zip(_DESIGN_KEYS, k)) | d for k, d in designs.items()],
                          columns=_DESIGN_KEYS + list(DESIGN_COLUMNS))
    return df.merge(design, on=_DESIGN_KEYS, how="left", validate="many_to_one")


_RUN_FACTS = ["num_classes", "n_test", "max_epochs", "lr_decay"]  # per run, also in curves


def aggregate_runs(run_dirs: list[str | Path], config: dict) -> tuple[pa.Table, pa.Table]:
    """Read every run directory; return (curves, runs) as Arrow tables with pinned schemas."""
    from rethinkgen.io import read_json  # local: keeps this module importable alone

    frames, rows = [], []
    for run_dir in map(Path, run_dirs):
        frames.append(pd.read_parquet(run_dir / "metrics.parquet"))
        rows.append(summarize_run(read_json(run_dir / "run_info.json")))
    empty = pd.DataFrame(columns=KEY_COLUMNS + _RUN_FACTS)
    runs = _with_design(pd.DataFrame(rows) if rows else empty, config)
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY_COLUMNS)
    curves = curves.merge(runs[KEY_COLUMNS + _RUN_FACTS + list(DESIGN_COLUMNS)],
                          on=KEY_COLUMNS, how="left", validate="many_to_one")
    return to_arrow(curves, CURVES_SCHEMA), to_arrow(runs, RUNS_SCHEMA)


# ---------------------------------------------------------------- derived metrics

def relative_time_to_fit(runs: pd.DataFrame) -> pd.DataFrame:
    """Fig. 1b's y-value: epochs_to_fit at corruption p / epochs_to_fit at p = 0.

    Computed per (dataset, model, regularizer, seed), so seeds become a spread. Only
    label corruptions (corruption_prob not null) take part. A run that never fitted
    gets NaN, never a made-up number.
    """
    label_runs = runs[runs["corruption_prob"].notna()].copy()
    group = ["dataset", "model", "regularizer", "seed"]
    base = (label_runs[label_runs["corruption_prob"] == 0.0]
            .set_index(group)["epochs_to_fit"].rename("base_epochs_to_fit"))
    label_runs = label_runs.join(base, on=group)
    label_runs["relative_time_to_fit"] = (label_runs["epochs_to_fit"].astype(float)
                                          / label_runs["base_epochs_to_fit"].astype(float))
    return label_runs


def cumulative_best(curves: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Accuracy curves of one split with `best_so_far`: the early-stopping envelope."""
    run_keys = KEY_COLUMNS
    rows = curves[curves["split"] == split].sort_values(run_keys + ["step"]).copy()
    rows["best_so_far"] = rows.groupby(run_keys)["accuracy"].cummax()
    return rows


def model_label(row) -> str:
    return MODEL_LABELS.get(row["paper_model"], row["model"])


# ---------------------------------------------------------- paper-vs-ours tables

MATCH_COLUMNS = ["paper_model", "paper_condition", "random_crop", "augment",
                 "weight_decay_on", "dropout_on"]
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
    # A run counts as failed if it diverged or never got near fitting its labels.
    runs["diverged"] = runs["status"] == "diverged"
    runs["failed"] = runs["diverged"] | ~(runs["final_train_online_accuracy"] >= converged_min)
    long = runs.melt(id_vars=["dataset", "dataset_name", "model", "num_params", "failed", "diverged"]
                     + MATCH_COLUMNS,
                     value_vars=[_OUR_METRIC[m] for m in metrics], var_name="column")
    long["metric"] = long["column"].map({_OUR_METRIC[m]: m for m in metrics})
    long["value"] = long["value"] * 100.0
    keys = ["dataset", "dataset_name", "model"] + MATCH_COLUMNS + ["metric"]
    # A run that ended below the threshold still has accuracies worth showing (beside the
    # note); only a diverged run's numbers are meaningless.
    ok = long[~long["diverged"]]
    stats = ok.groupby(keys, dropna=False)["value"].agg(ours="mean", ours_sd="std")
    counts = long.groupby(keys, dropna=False).agg(
        n_seeds=("value", "size"), n_failed=("failed", "sum"), num_params_ours=("num_params", "max"))
    return counts.join(stats).reset_index()


def compare_with_paper(runs: pd.DataFrame, table: str,
                       converged_min: float = 0.9) -> pd.DataFrame:
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
    merged["note"] = np.select(
        [merged["n_seeds"].isna(), merged["n_failed"] > 0],
        ["not run", FAILED_TEXT + " (" + merged["n_failed"].fillna(0).astype(int).astype(str)
         + " of " + merged["n_seeds"].fillna(0).astype(int).astype(str) + " seeds)"],
        "")
    merged.insert(0, "table", table)
    order = {m: i for i, m in enumerate(PAPER_NUM_PARAMS | {"inception_v3": 0})}
    merged["_order"] = merged["paper_model"].map(order).fillna(len(order))
    return (merged.sort_values(["_order", "paper_condition", "random_crop", "augment",
                                "weight_decay_on", "dropout_on"],
                               ascending=[True, False, False, False, False, False],
                               kind="stable")
            .drop(columns="_order").reset_index(drop=True))


def _fmt(value: float, signed: bool = False) -> str:
    return "" if pd.isna(value) else (f"{value:+.2f}" if signed else f"{value:.2f}")


def _ours_cell(row) -> str:
    if row["note"]:
        return row["note"] if pd.isna(row["ours"]) else f"{_fmt(row['ours'])} ({row['note']})"
    spread = f" ± {row['ours_sd']:.2f}" if row["n_seeds"] > 1 and pd.notna(row["ours_sd"]) else ""
    return _fmt(row["ours"]) + spread


def comparison_display(long: pd.DataFrame) -> pd.DataFrame:
    """Wide, human-readable form of a comparison: one row per condition, and per metric
    the three columns "paper", "ours" (mean ± sd over seeds) and "difference"."""
    long = long.copy()
    long["Model"] = [MODEL_LABELS.get(p, m) for p, m in zip(long["paper_model"], long["model"])]
    long["Labels"] = long["paper_condition"].str.replace("_", " ")
    flag_names = {"random_crop": "random crop", "augment": "augmentation",
                  "weight_decay_on": "weight decay", "dropout_on": "dropout"}
    shown_flags = [f for f in flag_names if long[f].astype(bool).any()]  # hide all-"no" columns
    for flag in shown_flags:
        long[flag_names[flag]] = np.where(long[flag].astype(bool), "yes", "no")
    long["# params (paper)"] = long["num_params_paper"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    long["# params (ours)"] = long["num_params_ours"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    long["paper_cell"] = [_fmt(v) if pd.notna(v) else n for v, n in zip(long["paper"], long["paper_note"])]
    long["ours_cell"] = long.apply(_ours_cell, axis=1)
    long["diff_cell"] = long["difference"].map(lambda v: _fmt(v, signed=True))
    row_keys = (["Model", "# params (paper)", "# params (ours)", "Labels"]
                + [flag_names[f] for f in shown_flags])
    wide = long.pivot_table(index=row_keys, columns="metric", aggfunc="first", sort=False,
                            values=["paper_cell", "ours_cell", "diff_cell"])
    metrics = sorted(set(long["metric"]), key=list(_OUR_METRIC).index)
    columns = {(c, m): f"{m.removesuffix('_pct').replace('_', ' ')} % ({who})"
               for m in metrics for c, who in
               (("paper_cell", "paper"), ("ours_cell", "ours"), ("diff_cell", "difference"))}
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
    return (f"Ours: dataset key(s) {', '.join(ours)} "
            f"({', '.join(DATASET_LABELS.get(n, n) for n in names)}); paper: {label}."
            + ("" if same else " Different data: the difference column is not a like-for-like"
               " comparison, only the qualitative pattern is."))


def render_markdown(display: pd.DataFrame, title: str, notes: list[str]) -> str:
    body = display.to_markdown(index=False, disable_numparse=True)  # keep "100.00"
    return f"# {title}\n\n" + "".join(f"{n}\n\n" for n in notes) + body + "\n"


def render_latex(display: pd.DataFrame, title: str, notes: list[str]) -> str:
    caption = title + ". " + " ".join(notes)
    return display.to_latex(index=False, caption=caption, escape=True, longtable=False)


def render_html(display: pd.DataFrame, title: str, notes: list[str]) -> str:
    paragraphs = "".join(f"<p>{n}</p>" for n in notes)
    return (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h2>{title}</h2>{paragraphs}{display.to_html(index=False, border=0)}</body></html>\n")


TABLE_TITLES = {
    "table1": "Table 1: train/test accuracy (%) with and without random crop and weight decay",
    "table2": "Table 2: ImageNet Inception V3 top-1/top-5 accuracy (%)",
    "table4": "Table 4: fitting random labels with explicit regularizers (training accuracy %)",
}
_TABLE_DATASET = {"table1": "cifar10", "table2": "imagenet", "table4": "cifar10"}


def build_table(table: str, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(long comparison for Parquet, wide display for md/tex/html, notes) of one paper table."""
    long = compare_with_paper(runs, table)
    notes = [dataset_note(long, _TABLE_DATASET[table]),
             "Training accuracy is the epoch's online mini-batch accuracy (as the paper"
             " reports it); values are the last epoch; ± is the sd over seeds."]
    if table == "table2" and len(runs):
        best = runs.groupby(MATCH_COLUMNS[1:4] + ["dropout"])["best_test_accuracy"].mean()
        notes.append("Best top-1 test accuracy during training (ours, early-stopping reference): "
                     + "; ".join(f"{k}: {100 * v:.2f}" for k, v in best.items()))
    return long, comparison_display(long), notes
