"""Scorecard checks of Figure 1: learning curves (1a), the slowdown with label noise (1b) and
test error against p (1c); docs/paper.md, checks 10-17.

Shapes (orderings, plateaus, monotone rises) apply to any dataset; values and step counts
only to the paper's CIFAR-10 setting.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rethinkgen.analysis.checks_common import (
    NO_RUNS,
    RUN_KEYS,
    chain,
    describe_runs,
    label,
    paper_data_reason,
    paper_steps_reason,
    plain,
    row,
)
from rethinkgen.paper import FIG1A_CONDITIONS, read_reference_csv
from rethinkgen.analysis.derived import relative_time_to_fit

FIG1A_ORDER = FIG1A_CONDITIONS  # true < shuffled < gaussian ~ random pixels < random labels
FIG1C_MODELS = ["inception", "alexnet", "mlp_1x512"]  # the paper's order of test error
MAX_SLOWDOWN = 5.0  # paper's largest ratio is 3.6 (Inception, p = 1); "a small constant factor"
NO_SWEEP = "no label-corruption sweep (3 or more p) configured"


def _fig1a_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Plain runs of each (dataset, model) trained under 3 or more Fig. 1a conditions."""
    selected = plain(runs[runs["paper_condition"].isin(FIG1A_ORDER)])
    count = selected.groupby(["dataset", "model"])["paper_condition"].transform("nunique")
    return selected[count >= 3]


def check_fit_ordering(runs: pd.DataFrame) -> dict:
    """docs/paper.md, check 10: true < shuffled < {gaussian, random pixels} < random labels in
    epochs to fit; a run that never fits counts as slowest."""
    what, tol = "Fig. 1a ordering of time to fit", "order must match; gaussian/random pixels may swap"
    paper = "true < shuffled < gaussian ~ random pixels < random labels"
    selected = _fig1a_runs(runs)
    if selected.empty:
        return row("10", what, paper, "", tol, na="no Fig. 1a-style runs configured")
    results, texts = [], []
    for (dataset, model), group in selected.groupby(["dataset", "model"]):
        epochs = (group.groupby("paper_condition")["epochs_to_fit"].mean().astype(float)
                  .fillna(math.inf).reindex([c for c in FIG1A_ORDER if c in set(group["paper_condition"])]))
        rank = {c: (0, 1, 2, 2, 3)[FIG1A_ORDER.index(c)] for c in epochs.index}
        results.append(all(epochs[a] < epochs[b] for a in epochs.index for b in epochs.index
                           if rank[a] < rank[b]))
        texts.append(f"{label(model, runs)} ({dataset}): "
                     + chain(epochs.sort_values(), "g"))
    return row("10", what, paper, "; ".join(texts), tol, describe_runs(selected), passed=all(results))


def check_random_label_plateau(curves: pd.DataFrame, runs: pd.DataFrame) -> dict:
    """docs/paper.md, check 11: the random-label loss starts on a plateau at ln K."""
    what, paper = "Fig. 1a: random-label loss plateaus at ln K first", "2.30 (ln 10) until epoch ~12-15"
    selected = plain(runs[runs["paper_condition"] == "random_labels"])
    if selected.empty:
        return row("11", what, paper, "", "", na=NO_RUNS)
    online = curves[(curves["split"] == "train_online") & (curves["epoch"] == 1)].merge(
        selected[RUN_KEYS + ["num_classes"]].rename(columns={"num_classes": "k"}))
    ratio = online["loss"] / np.log(online["k"].astype(float))
    return row("11", what, paper, f"epoch-1 loss / ln K: {ratio.min():.3f}-{ratio.max():.3f}",
               ">= 0.9 (plateau exists)", describe_runs(selected),
               passed=bool(len(ratio) and (ratio >= 0.9).all()))


def check_loss_crossing(curves: pd.DataFrame, runs: pd.DataFrame, check_id: str, condition: str,
                        paper_steps: int, paper: str) -> dict:
    """docs/paper.md, checks 11b and 12: Inception's online training loss first falls below
    0.1 within +-50% of the paper's step. Step counts scale with the dataset size and batch
    size, so this applies only to CIFAR-10's 50,000 images at batch 128."""
    what = f"Fig. 1a: {condition.replace('_', ' ')} loss < 0.1 (Inception)"
    selected = plain(runs[(runs["paper_condition"] == condition) & (runs["paper_model"] == "inception")])
    reason = paper_steps_reason(selected)
    if reason:
        return row(check_id, what, paper, "", "+-50%", describe_runs(selected), na=reason)
    below = curves[(curves["split"] == "train_online") & (curves["loss"] < 0.1)].merge(selected[RUN_KEYS])
    first = below.groupby(RUN_KEYS)["step"].min().reindex(
        pd.MultiIndex.from_frame(selected[RUN_KEYS])).astype(float)
    ours = ", ".join("never" if math.isnan(s) else f"{s / 1000:.1f}k" for s in first) + " steps"
    return row(check_id, what, paper, ours, "+-50%", describe_runs(selected),
               passed=bool(first.notna().all() and ((first - paper_steps).abs() <= 0.5 * paper_steps).all()))


def check_curves_reach_zero(runs: pd.DataFrame) -> dict:
    """docs/paper.md, check 13: every Fig. 1a curve ends at ~0 training loss."""
    what, paper = "Fig. 1a: every curve ends at ~0 training loss", "< 0.001 by 15-25k steps"
    selected = _fig1a_runs(runs)
    if selected.empty:
        return row("13", what, paper, "", "< 0.01", na="no Fig. 1a-style runs configured")
    loss = selected["final_train_online_loss"]
    return row("13", what, paper, f"max final loss {loss.max():.4f}", "< 0.01 each (end of run)",
               describe_runs(selected), passed=bool((loss < 0.01).all()))


def _roughly_increasing(values: pd.Series, slack: float) -> bool:
    values = values.dropna()
    return len(values) >= 2 and bool((values.diff().dropna() >= -slack).all()) and values.iloc[-1] > values.iloc[0]


def _sweeps(runs: pd.DataFrame) -> pd.DataFrame:
    """Plain label-corruption runs of each (dataset, model) trained at 3 or more p."""
    sweep = plain(runs[runs["corruption_prob"].notna()])
    return sweep[sweep.groupby(["dataset", "model"])["corruption_prob"].transform("nunique") >= 3]


def check_slowdown(runs: pd.DataFrame) -> list[dict]:
    """docs/paper.md, check 14: relative time to fit rises with p and stays a small factor;
    on CIFAR-10 its value at p = 1 within +-50% of (ratio - 1)."""
    used = _sweeps(runs)
    rel = relative_time_to_fit(used).groupby(
        ["dataset", "dataset_name", "model", "paper_model", "corruption_prob"], dropna=False)[
        "relative_time_to_fit"].mean().reset_index()
    what, what_b = "Fig. 1b: relative time to fit rises with p and stays a small factor", "Fig. 1b ratio at p = 1"
    paper = "1.0 at p = 0; at p = 1: Inception 3.6, AlexNet 1.55, MLP 1x512 ~2.0"
    if rel.empty:
        return [row("14a", what, paper, "", "", na=NO_SWEEP), row("14b", what_b, paper, "", "", na=NO_SWEEP)]
    ends = rel[rel["corruption_prob"] == 1.0].set_index("model")["relative_time_to_fit"]
    ok = all(_roughly_increasing(g.sort_values("corruption_prob")["relative_time_to_fit"], 0.25)
             for _, g in rel.groupby(["dataset", "model"])) and bool((ends <= MAX_SLOWDOWN).all())
    ratio = lambda v: "not fitted" if pd.isna(v) else f"{v:.2f}"  # noqa: E731
    rows = [row("14a", what, paper, ", ".join(f"{m}: {ratio(v)}" for m, v in ends.items()),
                f"dips <= 0.25, ratio at p = 1 <= {MAX_SLOWDOWN:g}", describe_runs(used), passed=ok)]
    ref = read_reference_csv("fig1b_convergence_slowdown.csv").query("label_corruption == 1.0")
    ref = ref.set_index("model")["relative_time_to_overfit"]
    at_one = rel[(rel["corruption_prob"] == 1.0) & rel["paper_model"].isin(ref.index)]
    used_b = used[used["paper_model"].isin(ref.index)]
    reason = paper_data_reason(used_b) or (None if len(at_one) else "p = 1 not run")
    if reason:
        return rows + [row("14b", what_b, paper, "", "+-50% of (ratio - 1)", describe_runs(used_b), na=reason)]
    err = [abs(r.relative_time_to_fit - ref[r.paper_model]) <= 0.5 * (ref[r.paper_model] - 1)
           for r in at_one.itertuples()]
    return rows + [row("14b", what_b, paper,
                       ", ".join(f"{r.model}: {ratio(r.relative_time_to_fit)}" for r in at_one.itertuples()),
                       "+-50% of (ratio - 1)", describe_runs(used_b), passed=all(err))]


def _test_errors(runs: pd.DataFrame) -> pd.DataFrame:
    errors = runs.assign(test_error=1 - runs["final_test_accuracy"])
    return errors.groupby(["dataset", "dataset_name", "model", "paper_model", "num_classes", "corruption_prob"],
                          dropna=False)["test_error"].mean().reset_index()


def check_test_error_growth(runs: pd.DataFrame) -> list[dict]:
    """docs/paper.md, checks 15-17: test error rises with p and reaches chance at p = 1; its
    values at p = 0.5 and p = 0 on CIFAR-10."""
    used = _sweeps(runs)
    err = _test_errors(used)
    if err.empty:
        return [row(i, t, "", "", "", na=NO_SWEEP) for i, t in
                (("15", "Fig. 1c test error at p = 1"), ("16a", "Fig. 1c test error rises with p"),
                 ("16b", "Fig. 1c test error at p = 0.5"), ("17", "Fig. 1c test error at p = 0"))]
    top = err[err["corruption_prob"] == 1.0]
    chance_ok = bool(((top["test_error"] - (1 - 1 / top["num_classes"])).abs() <= 0.01).all()) and len(top) > 0
    rises = all(_roughly_increasing(g.sort_values("corruption_prob")["test_error"], 0.02)
                for _, g in err.groupby(["dataset", "model"]))
    runs_text = describe_runs(used)
    rows = [row("15", "Fig. 1c test error at p = 1 is chance (1 - 1/K)", "0.90 for all three",
                ", ".join(f"{r.model}: {r.test_error:.3f}" for r in top.itertuples()), "+-0.01",
                describe_runs(used[used["corruption_prob"] == 1.0]), passed=chance_ok),
            row("16a", "Fig. 1c test error rises with p", "monotone increase", "",
                "dips <= 0.02 and last > first", runs_text, passed=rises)]
    return rows + [_fig1c_value(err, used, "16b", 0.5, 0.05), _fig1c_value(err, used, "17", 0.0, 0.03)]


def _fig1c_value(err: pd.DataFrame, used: pd.DataFrame, check_id: str, prob: float, tol: float) -> dict:
    """Our Fig. 1c test error at one p against the paper's (CIFAR-10 only)."""
    what = f"Fig. 1c test error at p = {prob:g}"
    ref = read_reference_csv("fig1c_test_error_vs_corruption.csv")
    ref = ref[ref["label_corruption"] == prob].set_index("model")["test_error"]
    mine = err[(err["corruption_prob"] == prob) & err["paper_model"].isin(ref.index)]
    read = used[(used["corruption_prob"] == prob) & used["paper_model"].isin(ref.index)]
    reason = paper_data_reason(mine) if len(mine) else f"p = {prob:g} not run for a paper model"
    paper = ", ".join(f"{m}: {v:.3f}" for m, v in ref.items())
    if reason:
        return row(check_id, what, paper, "", f"+-{tol:g}", describe_runs(read), na=reason)
    return row(check_id, what, paper, ", ".join(f"{r.model}: {r.test_error:.3f}" for r in mine.itertuples()),
               f"+-{tol:g}", describe_runs(read),
               passed=all(abs(r.test_error - ref[r.paper_model]) <= tol for r in mine.itertuples()))


def check_model_order(runs: pd.DataFrame) -> dict:
    """docs/paper.md, check 16c: test error Inception < AlexNet < MLP 1x512 at every p < 0.8,
    compared only among models trained on the same dataset key at the same p."""
    what, paper = "Fig. 1c: test error Inception < AlexNet < MLP 1x512 for p < 0.8", "at every p < 0.8"
    used = plain(runs[(runs["corruption_prob"] < 0.8) & runs["paper_model"].isin(FIG1C_MODELS)])
    err = _test_errors(used)
    err = err[err.groupby(["dataset", "corruption_prob"])["paper_model"].transform("nunique") >= 2]
    if err.empty:
        return row("16c", what, paper, "", "strict order", describe_runs(used),
                   na="no dataset key has two of Inception, AlexNet, MLP 1x512 at the same p < 0.8")
    results, texts = [], []
    for (dataset, prob), group in err.groupby(["dataset", "corruption_prob"]):
        errors = group.groupby("paper_model")["test_error"].mean().reindex(FIG1C_MODELS).dropna()
        results.append(bool(errors.is_monotonic_increasing and errors.is_unique))
        texts.append(f"{dataset} p = {prob:g}: " + chain(errors))
    compared = used.merge(err[["dataset", "corruption_prob"]].drop_duplicates())
    return row("16c", what, paper, "; ".join(texts), "strict order among the models run",
               describe_runs(compared), passed=all(results))
