"""Beyond the paper, the outputs' data contracts: each table's columns and finding from
small synthetic runs/curves, the exact solves of Theorem 1 per activation, the targets."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rethinkgen.analysis import beyond  # noqa: E402
from rethinkgen import targets  # noqa: E402
from rethinkgen.analysis.capacity import input_dimension  # noqa: E402
from rethinkgen.theory.activations import activation_rows, hidden_matrix  # noqa: E402

KEYS = dict(dataset="d", regularizer="none", seed=0)


def memorization_curves() -> pd.DataFrame:
    """p = 0.4: clean fitted first, test peaks at epoch 2, corrupted memorized by epoch 4."""
    acc = {"train_clean": [0.1, 0.6, 0.9, 0.95, 1.0], "train_corrupted": [0.1, 0.1, 0.2, 0.6, 1.0],
           "test": [0.1, 0.5, 0.7, 0.6, 0.55]}
    rows = [dict(KEYS, model="m", corruption="p040", corruption_prob=0.4, epoch=e, step=10 * e,
                 split=s, accuracy=a) for s, values in acc.items() for e, a in enumerate(values)]
    return pd.DataFrame(rows)


def test_memorization_table_and_finding():
    table, finding = beyond.build("memorization_dynamics", memorization_curves(), pd.DataFrame(), {})
    row = table.iloc[0]
    assert (row["peak_test_epoch"], row["corrupted_accuracy_at_peak"]) == (2, 0.2)
    assert row["clean_accuracy_at_peak"] == 0.9 and row["final_corrupted_accuracy"] == 1.0
    assert "1 of 1 runs" in finding and "15.0 points" in finding
    fig = beyond.plot("memorization_dynamics", memorization_curves(), pd.DataFrame(), {})
    assert len(fig.axes) == 1


def test_memorization_needs_subset_rows():
    curves = memorization_curves()
    with pytest.raises(ValueError, match="eval_train_every: 1"):
        beyond.build("memorization_dynamics", curves[curves["split"] == "test"], pd.DataFrame(), {})


MODELS = {f"w{h}": {"arch": "mlp", "hidden": [h], "lr": 0.01} for h in (2, 64)}


def capacity_runs() -> pd.DataFrame:
    rows = []
    for n in (100, 400):
        for h in (2, 64):
            rows.append(dict(KEYS, model=f"w{h}", corruption="random_labels", n_train=n, num_classes=10,
                             num_params=(784 + 1) * h + (h + 1) * 10, fitted=h == 64,
                             epochs_to_fit=30 if h == 64 else None, max_epochs=80, status="max_epochs",
                             final_train_accuracy=1.0 if h == 64 else 0.3, weight_decay=0.0,
                             final_train_online_accuracy=0.5, final_train_online_loss=1.0, epochs=80))
    return pd.DataFrame(rows)


def test_capacity_table_in_theorem_units():
    assert input_dimension((784 + 1) * 7 + 8 * 10, 7, 10) == 784
    table, finding = beyond.build("capacity_vs_samples", pd.DataFrame(), capacity_runs(), {"models": MODELS})
    row = table[(table["n_train"] == 100) & (table["hidden"] == 64)].iloc[0]
    assert row["theorem_params_per_n"] == pytest.approx((2 * 100 + 784) / 100)
    assert row["params_per_n"] == pytest.approx(row["num_params"] / 100)
    assert "n = 100: smallest fitted" in finding and "0 run(s) fitted with fewer" in finding
    assert len(beyond.plot("capacity_vs_samples", pd.DataFrame(), capacity_runs(),
                           {"models": MODELS}).axes) == 2


def test_weight_decay_outcomes():
    runs = capacity_runs().iloc[:3].assign(model="alexnet", regularizer=["none", "wd_all", "wd_w"],
                                           weight_decay=[0.0, 4e-3, 4e-3], fitted=[True, False, False],
                                           status=["fitted", "diverged", "max_epochs"],
                                           steps=[400, 400, 25_000])
    regularizers = {"none": {}, "wd_all": {"weight_decay": 4e-3, "weight_decay_scope": "all"},
                    "wd_w": {"weight_decay": 4e-3}}
    config = {"regularizers": regularizers, "models": {"alexnet": {"lr": 0.01}}}
    table, finding = beyond.build("weight_decay_failure", pd.DataFrame(), runs, config)
    assert dict(zip(table["weight_decay_scope"], table["outcome"])) == {
        "-": "fitted", "all": "diverged", "weights": "stalled"}
    # SGD multiplies the weights by 1 - lr wd per step: 400 steps at 0.01 x 4e-3 remove 1.6%,
    # 25,000 steps (1 / (lr wd)) remove 1 - 1/e
    shrink = dict(zip(table["weight_decay_scope"], table["decay_shrink"]))
    assert shrink["-"] == 0 and shrink["all"] == pytest.approx(0.0159, abs=1e-4)
    assert shrink["weights"] == pytest.approx(1 - np.exp(-1))
    assert finding.startswith("2 of 3 settings failed") and "by at most 63%" in finding


def test_theorem_one_first_layer_per_activation():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([-0.5, 0.5, 1.5, 2.5])
    relu = hidden_matrix(x, b, "relu")
    assert np.allclose(np.triu(relu, 1), 0) and (np.diag(relu) > 0).all()  # lower triangular
    assert not np.allclose(np.triu(hidden_matrix(x, b, "tanh"), 1), 0)  # dense
    images = np.random.default_rng(0).integers(0, 256, size=(300, 6, 6, 1), dtype=np.uint8)
    rows = activation_rows(images, [50, 200], ["relu", "tanh"], [1.0], 0.1, seed=0)
    assert set(rows.columns) >= {"activation", "n", "condition_number", "relative_residual", "exact"}
    assert rows.loc[rows["activation"] == "relu", "exact"].all()
    tanh = rows[rows["activation"] == "tanh"].set_index("n")["condition_number"]
    relu_cond = rows[rows["activation"] == "relu"].set_index("n")["condition_number"]
    assert (tanh > relu_cond).all()


def test_activations_table_has_both_parts():
    solves = pd.DataFrame({"activation": ["relu", "tanh"], "n": [10, 10], "projection_scale": [1.0, 1.0],
                           "relative_residual": [1e-12, 0.5], "condition_number": [10.0, 1e12],
                           "exact": [True, False]})
    models = {m: {"arch": "mlp", "hidden": [2], "activation": a} for m, a in (("w2", "relu"), ("w64", "tanh"))}
    table, finding = beyond.build("expressivity_activations", pd.DataFrame(), capacity_runs(),
                                  {"models": models}, solves)
    assert set(table["part"]) == {"solve", "trained"}
    assert "for relu; not for tanh" in finding
    markdown = beyond.render_markdown("expressivity_activations", table, finding)
    assert "**Finding.**" in markdown and "## solve" in markdown and "## trained" in markdown


def test_beyond_outputs_and_checks():
    config = {"experiments": {"e": {"target": "beyond", "grids": []}, "p": {"grids": []}},
              "beyond": {"memorization_dynamics": {"kind": "memorization_dynamics", "experiment": "e"},
                         "weight_decay_failure": {"kind": "weight_decay_failure", "experiment": "p"},
                         "expressivity_activations": {"kind": "expressivity_activations", "experiment": "x"}}}
    outputs = targets.beyond_outputs(config)
    assert "results/figures/memorization_dynamics.png" in outputs["memorization_dynamics"]
    assert outputs["weight_decay_failure"] == ["results/tables/weight_decay_failure.parquet",
                                               "results/tables/weight_decay_failure.md"]
    problems = targets.check_beyond(config)
    assert any("must set `target: beyond`" in p for p in problems)
    assert any("'x' is not defined" in p for p in problems)
    assert any("needs a `theory:` section" in p for p in problems)
