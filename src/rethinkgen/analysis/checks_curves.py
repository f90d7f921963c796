"""Scorecard checks of Figure 1b and 1c: the slowdown with label noise (1b) and test error
against p (1c); docs/paper.md, checks 14-17 (Figure 1a's, 10-13, are in checks_fig1a).

Shapes (monotone rises, orders) apply to any dataset; values only to the paper's CIFAR-10
setting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rethinkgen.analysis.chance import cell_text, chance_cells
from rethinkgen.analysis.checks_common import (
    MIN_SEEDS_FOR_SPREAD,
    SD_MULTIPLE,
    against_paper,
    cell_accuracy,
    chain,
    combine,
    describe_runs,
    few_runs,
    key_name,
    not_evidence,
    paper_data_reason,
    plain,
    row,
    unless_missing,
    with_note,
)
from rethinkgen.analysis.derived import relative_time_to_fit
from rethinkgen.paper import PAPER_TEST_SIZE, read_reference_csv

FIG1C_MODELS = ["inception", "alexnet", "mlp_1x512"]  # the paper's order of test error
MAX_SLOWDOWN = 5.0  # "a small constant factor" (Section 2.1); above every ratio of Fig. 1b's CSV
NO_SWEEP = "no label-corruption sweep (3 or more p) configured"


def _roughly_increasing(values: pd.Series, slack: float) -> bool:
    values = values.dropna()
    return (
        len(values) >= 2
        and bool((values.diff().dropna() >= -slack).all())
        and values.iloc[-1] > values.iloc[0]
    )


def _sweeps(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(plain label-corruption evidence runs of each (dataset, model) trained at 3 or more p,
    a note naming the sweep's runs that are not evidence)."""
    sweep = plain(runs[runs["corruption_prob"].notna()])
    sweep = sweep[sweep.groupby(["dataset", "model"])["corruption_prob"].transform("nunique") >= 3]
    return not_evidence(sweep)


def check_slowdown(runs: pd.DataFrame) -> list[dict]:
    """docs/paper.md, check 14: relative time to fit rises with p and stays a small factor;
    on CIFAR-10 its value at p = 1 within +-50% of (ratio - 1)."""
    used, note = _sweeps(runs)
    rel = (
        relative_time_to_fit(used)
        .groupby(
            ["dataset", "dataset_name", "model", "paper_model", "corruption_prob"], dropna=False
        )["relative_time_to_fit"]
        .mean()
        .reset_index()
    )
    what, what_b = (
        "Fig. 1b: relative time to fit rises with p and stays a small factor",
        "Fig. 1b ratio at p = 1",
    )
    ref = read_reference_csv("fig1b_convergence_slowdown.csv").query("label_corruption == 1.0")
    ref = ref.set_index("model")["relative_time_to_overfit"]
    paper = "1.0 at p = 0; at p = 1: " + ", ".join(f"{m} {v:.2f}" for m, v in ref.items())
    if rel.empty:
        return [
            row("14a", what, paper, "", "", na=NO_SWEEP),
            row("14b", what_b, paper, "", "", na=NO_SWEEP),
        ]
    ends = rel[rel["corruption_prob"] == 1.0].set_index(["dataset", "model"])[
        "relative_time_to_fit"
    ]
    ok = all(
        _roughly_increasing(g.sort_values("corruption_prob")["relative_time_to_fit"], 0.25)
        for _, g in rel.groupby(["dataset", "model"])
    ) and bool((ends <= MAX_SLOWDOWN).all())
    ratio = lambda v: "not fitted" if pd.isna(v) else f"{v:.2f}"  # noqa: E731
    rows = [
        row(
            "14a",
            what,
            paper,
            with_note(", ".join(f"{key_name(k)}: {ratio(v)}" for k, v in ends.items()), note),
            f"dips <= 0.25, ratio at p = 1 <= {MAX_SLOWDOWN:g}",
            describe_runs(used),
            verdict=unless_missing("pass" if ok else "fail", note),
        )
    ]
    at_one = rel[(rel["corruption_prob"] == 1.0) & rel["paper_model"].isin(ref.index)]
    used_b = used[used["paper_model"].isin(ref.index)]
    reason = paper_data_reason(used_b) or (None if len(at_one) else "p = 1 not run")
    if reason:
        return rows + [
            row("14b", what_b, paper, "", "+-50% of (ratio - 1)", describe_runs(used_b), na=reason)
        ]
    err = [
        abs(r.relative_time_to_fit - ref[r.paper_model]) <= 0.5 * (ref[r.paper_model] - 1)
        for r in at_one.itertuples()
    ]
    return rows + [
        row(
            "14b",
            what_b,
            paper,
            ", ".join(f"{r.model}: {ratio(r.relative_time_to_fit)}" for r in at_one.itertuples()),
            "+-50% of (ratio - 1)",
            describe_runs(used_b),
            passed=all(err),
        )
    ]


def _fig1c_paper() -> pd.DataFrame:
    return read_reference_csv("fig1c_test_error_vs_corruption.csv")


def _test_errors(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean test error per (dataset, model, p), one run's sd (RULES["difference"]) and the
    fewest replicates of its cells."""
    keys = ["dataset_name", "paper_model", "num_classes", "corruption_prob"]
    cells = cell_accuracy(runs, "final_test_accuracy", "n_test", keys).assign(
        test_error=lambda c: 1 - c["mean"]
    )
    return (
        cells.groupby(["dataset", "model"] + keys, dropna=False)
        .agg(test_error=("test_error", "mean"), sd=("sd", "max"), seeds=("seeds", "min"))
        .reset_index()
    )


def _rises(errors: pd.DataFrame) -> bool:
    """Rises with p: each dip at most 3 sd of the difference, and the last above the first."""
    errors = errors.sort_values("corruption_prob")
    dips = -errors["test_error"].diff().iloc[1:]
    allowed = SD_MULTIPLE * np.hypot(
        errors["sd"].iloc[1:].to_numpy(), errors["sd"].iloc[:-1].to_numpy()
    )
    return (
        len(errors) >= 2
        and bool((dips.to_numpy() <= allowed).all())
        and errors["test_error"].iloc[-1] > errors["test_error"].iloc[0]
    )


def check_chance_at_one(runs: pd.DataFrame, levels: pd.DataFrame | None = None) -> dict:
    """docs/paper.md, check 15: test error at p = 1 is chance, by RULES["chance"] (each draw's
    expected chance level), on every plain p = 1 run of the experiment (no sweep needed)."""
    at_one = _fig1c_paper().query("label_corruption == 1.0")
    paper = ", ".join(f"{r.model}: {r.test_error:.3f}" for r in at_one.itertuples())
    what = "Fig. 1c test error at p = 1 is chance (1 - the draw's chance level)"
    tolerance = "3 sd each: null c(1 - c)/n_test + run-to-run variance (RULES: chance)"
    selected = plain(runs[runs["corruption_prob"] == 1.0])
    top, note = not_evidence(selected)
    if top.empty:
        verdict = "inconclusive (no run is evidence)" if len(selected) else None
        return row("15", what, paper, note, tolerance, verdict=verdict, na="p = 1 not run")
    cells = chance_cells(top, levels)
    return row(
        "15",
        what,
        paper,
        with_note("; ".join(cell_text(c, as_error=True) for c in cells.itertuples()), note),
        tolerance,
        describe_runs(selected),
        verdict=combine(list(cells["verdict"])),
    )


def check_test_error_growth(runs: pd.DataFrame, levels: pd.DataFrame | None = None) -> list[dict]:
    """docs/paper.md, checks 15-17: test error reaches chance at p = 1 (check_chance_at_one)
    and rises with p; its values at p = 0.5 and p = 0 on CIFAR-10 (RULES["difference"])."""
    used, note = _sweeps(runs)
    err = _test_errors(used)
    chance = check_chance_at_one(runs, levels)
    if err.empty:
        return [chance] + [
            row(i, t, "", note, "", na=NO_SWEEP)
            for i, t in (
                ("16a", "Fig. 1c test error rises with p"),
                ("16b", "Fig. 1c test error at p = 0.5"),
                ("17", "Fig. 1c test error at p = 0"),
            )
        ]
    rises = all(_rises(g) for _, g in err.groupby(["dataset", "model"]))
    shape = "; ".join(
        f"{key_name(k)}: "
        + chain(g.set_index("corruption_prob")["test_error"].rename(lambda p: f"p {p:g}"))
        for k, g in err.sort_values("corruption_prob").groupby(["dataset", "model"])
    )
    rises_row = row(
        "16a",
        "Fig. 1c test error rises with p",
        "monotone increase",
        with_note(shape, note),
        "dips <= 3 sd of the difference (binomial at n_test, or the seed sd), last > first",
        describe_runs(used),
        verdict=unless_missing("pass" if rises else "fail", note),
    )
    return [chance, rises_row] + [
        _fig1c_value(err, used, "16b", 0.5),
        _fig1c_value(err, used, "17", 0.0),
    ]


def _fig1c_value(err: pd.DataFrame, used: pd.DataFrame, check_id: str, prob: float) -> dict:
    """Our Fig. 1c test error at one p against the paper's (CIFAR-10 only), each within 3 sd
    of the difference (ours, and the paper's binomial sd on its 10,000 test images)."""
    what, tolerance = f"Fig. 1c test error at p = {prob:g}", "+-3 sd of the difference each"
    ref = _fig1c_paper()
    ref = ref[ref["label_corruption"] == prob].set_index("model")["test_error"]
    mine = err[(err["corruption_prob"] == prob) & err["paper_model"].isin(ref.index)]
    read = used[(used["corruption_prob"] == prob) & used["paper_model"].isin(ref.index)]
    reason = paper_data_reason(mine) if len(mine) else f"p = {prob:g} not run for a paper model"
    paper = ", ".join(f"{m}: {v:.3f}" for m, v in ref.items())
    if reason:
        return row(check_id, what, paper, "", tolerance, describe_runs(read), na=reason)
    gap, tol = against_paper(
        100 * mine["test_error"], mine["sd"], 100 * mine["paper_model"].map(ref), PAPER_TEST_SIZE
    )
    verdicts = [
        ("pass" if ok else "fail") if seeds >= MIN_SEEDS_FOR_SPREAD else few_runs(int(seeds))
        for ok, seeds in zip(gap <= tol, mine["seeds"])
    ]
    ours = ", ".join(
        f"{r.dataset}/{r.model}: {r.test_error:.3f} (+-{t / 100:.3f}, {v})"
        for r, t, v in zip(mine.itertuples(), tol, verdicts)
    )
    return row(
        check_id, what, paper, ours, tolerance, describe_runs(read), verdict=combine(verdicts)
    )


def check_model_order(runs: pd.DataFrame) -> dict:
    """docs/paper.md, check 16c: test error Inception < AlexNet < MLP 1x512 at every p < 0.8.
    Models are compared on the same dataset key; every p < 0.8 at which two or more of them
    ran is compared, and a dataset key with such models needs two or more shared p (the
    sweep, not one pair at one p). A p run by only one model is listed as uncompared."""
    what, paper = (
        "Fig. 1c: test error Inception < AlexNet < MLP 1x512 for p < 0.8",
        "at every p < 0.8",
    )
    used, note = not_evidence(
        plain(runs[(runs["corruption_prob"] < 0.8) & runs["paper_model"].isin(FIG1C_MODELS)])
    )
    err = _test_errors(used)
    models = err.groupby(["dataset", "corruption_prob"])["paper_model"].transform("nunique")
    compared = err[models >= 2]
    probs = compared.groupby("dataset")["corruption_prob"].transform("nunique")
    compared = compared[probs >= 2]
    tolerance = "strict order at every shared p < 0.8 (two or more p per dataset key)"
    if compared.empty:
        return row(
            "16c",
            what,
            paper,
            "",
            tolerance,
            describe_runs(used),
            na=(
                "no dataset key has two of Inception, AlexNet, MLP 1x512 at two or more shared "
                "p < 0.8"
            ),
        )
    results, texts = [], []
    for (dataset, prob), group in compared.groupby(["dataset", "corruption_prob"]):
        errors = group.groupby("paper_model")["test_error"].mean().reindex(FIG1C_MODELS).dropna()
        results.append(bool(errors.is_monotonic_increasing and errors.is_unique))
        texts.append(f"{dataset} p = {prob:g}: " + chain(errors))
    alone = err[(models < 2) & err["dataset"].isin(compared["dataset"])]
    if len(alone):
        texts.append(
            "not compared (one model): "
            + ", ".join(
                f"{r.dataset} p = {r.corruption_prob:g} {r.model}" for r in alone.itertuples()
            )
        )
    read = used.merge(compared[["dataset", "corruption_prob"]].drop_duplicates())
    return row(
        "16c",
        what,
        paper,
        with_note("; ".join(texts), note),
        tolerance,
        describe_runs(read),
        verdict=unless_missing("pass" if all(results) else "fail", note),
    )
