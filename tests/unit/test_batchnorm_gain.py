"""Figure 2b's gain (rethinkgen.analysis.batchnorm_gain): last five evaluations, paired."""

import pandas as pd
import pytest

from rethinkgen.analysis.batchnorm_gain import batchnorm_gains, summarize_gains


def run(model, paper_model, seed, train_acc, readout=12):
    return {
        "dataset": "d",
        "model": model,
        "corruption": "true_labels",
        "regularizer": "none",
        "seed": seed,
        "paper_model": paper_model,
        "paper_condition": "true_labels",
        "outcome": "budget",
        "readout_epoch": readout,
        "final_train_accuracy": train_acc,
    }


def curve(model, seed, accuracies):
    return [
        {
            "dataset": "d",
            "model": model,
            "corruption": "true_labels",
            "regularizer": "none",
            "seed": seed,
            "split": "test",
            "epoch": 2 * (i + 1),
            "accuracy": a,
        }
        for i, a in enumerate(accuracies)
    ]


def test_gain_is_the_mean_of_the_last_five_paired_differences_up_to_the_readout():
    runs = pd.DataFrame(
        [run("bn", "inception", 0, 1.0), run("nobn", "inception_nobn", 0, 0.85)]
        + [run("bn", "inception", 1, 1.0), run("nobn", "inception_nobn", 1, 0.995)]
    )
    # epochs 2..14; the read-out is epoch 12, so the last evaluation (epoch 14) is left out
    curves = pd.DataFrame(
        curve("bn", 0, [0.1, 0.80, 0.80, 0.80, 0.80, 0.80, 0.99])
        + curve("nobn", 0, [0.1, 0.70, 0.72, 0.74, 0.76, 0.78, 0.0])
        + curve("bn", 1, [0.5] * 7)
        + curve("nobn", 1, [0.5] * 7)
    )
    gains = batchnorm_gains(curves, runs)
    first = gains[gains["seed"] == 0].iloc[0]
    assert first["evaluations"] == 5
    assert first["gain"] == pytest.approx(0.80 - 0.74)
    assert first["gain_sd_over_evaluations"] == pytest.approx(
        pd.Series([0.10, 0.08, 0.06, 0.04, 0.02]).std()
    )
    assert not first["both_fitted"] and gains[gains["seed"] == 1].iloc[0]["both_fitted"]
    summary = summarize_gains(gains).iloc[0]
    assert summary["n"] == 2 and summary["both_fitted"] == 1
    assert summary["gain_mean"] == pytest.approx((0.06 + 0.0) / 2)


def test_a_diverged_partner_removes_the_pair():
    runs = pd.DataFrame([run("bn", "inception", 0, 1.0), run("nobn", "inception_nobn", 0, 0.1)])
    runs.loc[1, "outcome"] = "diverged"
    curves = pd.DataFrame(curve("bn", 0, [0.8] * 6) + curve("nobn", 0, [0.1] * 6))
    assert batchnorm_gains(curves, runs).empty
