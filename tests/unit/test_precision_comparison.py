"""bf16 against fp32 (rethinkgen.analysis.precision): the agreement rule on known numbers."""

import math

import pandas as pd
import pytest

from rethinkgen.analysis.precision import compare_precisions, precision_markdown


def runs(fp32_epochs, bf16_epochs, outcomes=None, corruption="random_labels"):
    rows = []
    for precision, epochs in (("fp32", fp32_epochs), ("bf16", bf16_epochs)):
        for seed, e in enumerate(epochs):
            rows.append(
                {
                    "dataset": "fashion_mnist_5k",
                    "paper_model": "alexnet",
                    "model": "alexnet" if precision == "fp32" else "alexnet_bf16",
                    "corruption": corruption,
                    "seed": seed,
                    "precision": precision,
                    "outcome": "fitted",
                    "epochs_to_fit": e,
                    "final_test_accuracy": 0.1,
                }
            )
    frame = pd.DataFrame(rows)
    for index, outcome in (outcomes or {}).items():
        frame.loc[index, "outcome"] = outcome
    return frame


def test_close_means_agree_and_the_numbers_are_welchs():
    table = compare_precisions(runs([80, 82, 78], [79, 81, 83]))
    row = table[table["quantity"] == "epochs to fit"].iloc[0]
    assert row["fp32_mean"] == 80 and row["bf16_mean"] == 81
    assert row["difference"] == pytest.approx(1.0)
    assert row["standard_error"] == pytest.approx(math.sqrt(4 / 3 + 4 / 3))
    assert row["verdict"].startswith("agree")
    assert 0.5 < row["welch_p"] <= 1.0
    # seed by seed (same data draw): -1, -1, +5
    assert row["paired_n"] == 3 and row["paired_mean"] == pytest.approx(1.0)
    assert row["paired_sd"] == pytest.approx(pd.Series([-1.0, -1.0, 5.0]).std())


def test_far_means_differ():
    table = compare_precisions(runs([80, 82, 78], [100, 101, 99]))
    row = table[table["quantity"] == "epochs to fit"].iloc[0]
    assert row["verdict"].startswith("differ") and row["welch_p"] < 0.01


def test_a_censored_or_diverged_run_gives_no_verdict():
    table = compare_precisions(runs([80, 82, 78], [79, 81, 83], {4: "censored", 5: "diverged"}))
    row = table[table["quantity"] == "epochs to fit"].iloc[0]
    assert row["verdict"].startswith("no verdict")
    assert "seed 1 censored" in row["verdict"] and "seed 2 diverged" in row["verdict"]
    assert math.isnan(row["difference"])


def test_one_run_a_side_is_inconclusive_and_one_precision_alone_is_left_out():
    table = compare_precisions(runs([80], [81]))
    assert set(table["verdict"]) == {"inconclusive: fewer than 2 runs a side"}
    assert compare_precisions(runs([80, 81], []).query("precision == 'fp32'")).empty


def test_markdown_has_a_row_per_quantity():
    text = precision_markdown(compare_precisions(runs([80, 82, 78], [79, 81, 83])))
    assert text.count("\n") == 2 + 2 and "80 ± 2 (n=3)" in text
