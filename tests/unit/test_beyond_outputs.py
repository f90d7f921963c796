"""Beyond the paper, the outputs' data contracts: each table's columns and finding from
small synthetic runs/curves, the exact solves of Theorem 1 per activation, the targets."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rethinkgen import targets  # noqa: E402
from rethinkgen.analysis import beyond, weight_decay  # noqa: E402
from rethinkgen.analysis.capacity import construction_size, input_dimension  # noqa: E402
from rethinkgen.theory.activations import activation_rows, hidden_matrix  # noqa: E402

KEYS = dict(dataset="d", regularizer="none", seed=0)


def memorization_curves() -> pd.DataFrame:
    """p = 0.4: clean fitted first, validation peaks at epoch 2 and test at 3 (picking on the
    test set would report 0.75 instead of 0.7), corrupted memorized by epoch 4."""
    acc = {
        "train_clean": [0.1, 0.6, 0.9, 0.95, 1.0],
        "train_corrupted": [0.1, 0.1, 0.2, 0.6, 1.0],
        "validation": [0.1, 0.4, 0.6, 0.5, 0.45],
        "test": [0.1, 0.5, 0.7, 0.75, 0.55],
    }
    rows = [
        dict(
            KEYS,
            model="m",
            corruption="p040",
            corruption_prob=0.4,
            epoch=e,
            step=10 * e,
            split=s,
            accuracy=a,
        )
        for s, values in acc.items()
        for e, a in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_memorization_table_and_finding():
    table, finding = beyond.build(
        "memorization_dynamics", memorization_curves(), pd.DataFrame(), []
    )
    row = table.iloc[0]
    assert (row["val_peak_epoch"], row["corrupted_accuracy_at_peak"]) == (2, 0.2)
    assert (row["test_at_val_peak"], row["test_peak_accuracy"]) == (0.7, 0.75)
    assert row["clean_accuracy_at_peak"] == 0.9 and row["final_corrupted_accuracy"] == 1.0
    assert "1 of 1 runs" in finding and "fallen 15.0" in finding and "5.0 points more" in finding
    fig = beyond.plot("memorization_dynamics", memorization_curves(), pd.DataFrame(), [])
    assert len(fig.axes) == 1
    markdown = beyond.render_markdown("memorization_dynamics", table, finding)
    assert "0.7 ± nan (1)" in markdown and "## Per run" in markdown


def test_memorization_peak_without_a_validation_split_is_picked_on_test_and_says_so():
    curves = memorization_curves()
    table, finding = beyond.build(
        "memorization_dynamics", curves[curves["split"] != "validation"], pd.DataFrame(), []
    )
    assert "the test set for" in finding and "set validation_fraction" in finding
    with_validation, finding = beyond.build("memorization_dynamics", curves, pd.DataFrame(), [])
    assert "the held-out validation split the clean" in finding


def test_memorization_needs_subset_rows():
    curves = memorization_curves()
    with pytest.raises(ValueError, match="eval_train_every: 1"):
        beyond.build("memorization_dynamics", curves[curves["split"] == "test"], pd.DataFrame(), [])


MODELS = {f"w{h}": {"arch": "mlp", "hidden": [h], "lr": 0.01} for h in (2, 64)}


def info_of(keys: dict, model_spec=None, regularizer_spec=None, n_train=128, **training) -> dict:
    """A run_info.json as the engine writes it: the keys and the spec the run trained with."""
    return {
        "keys": keys,
        "data": {"n_train": n_train},
        "spec": {
            **keys,
            "model_spec": model_spec or {"arch": "alexnet", "lr": 0.01},
            "regularizer_spec": regularizer_spec or {},
            "training": training,
        },
    }


def capacity_infos(models=MODELS) -> list[dict]:
    return [
        info_of(dict(KEYS, model=m, corruption="random_labels"), models[m]) for m in ("w2", "w64")
    ]


def capacity_runs() -> pd.DataFrame:
    rows = []
    for n in (100, 400):
        for h in (2, 64):
            rows.append(
                dict(
                    KEYS,
                    model=f"w{h}",
                    corruption="random_labels",
                    n_train=n,
                    num_classes=10,
                    num_params=(784 + 1) * h + (h + 1) * 10,
                    fitted=h == 64,
                    epochs_to_fit=30 if h == 64 else None,
                    max_epochs=80,
                    status="max_epochs",
                    final_train_accuracy=1.0 if h == 64 else 0.3,
                    weight_decay=0.0,
                    final_train_online_accuracy=0.5,
                    final_train_online_loss=1.0,
                    epochs=80,
                )
            )
    return pd.DataFrame(rows)


def test_capacity_yardstick_for_k_outputs():
    assert input_dimension((784 + 1) * 7 + 8 * 10, 7, 10) == 784
    assert construction_size(784, 100, 1) == 2 * 100 + 784  # Theorem 1: one scalar output
    assert construction_size(784, 250, 10) == 784 + 250 + 10 * 250
    table, finding = beyond.build(
        "capacity_vs_samples", pd.DataFrame(), capacity_runs(), capacity_infos()
    )
    row = table[(table["n_train"] == 100) & (table["hidden"] == 64)].iloc[0]
    assert row["theorem_params"] == 784 + 100 + 10 * 100
    assert row["params_per_theorem"] == pytest.approx(row["num_params"] / 1884)
    assert "K = 10 outputs" in finding and "lr 0.01" in finding
    assert "n = 100: every seed fitted from 27 x, none up to 0.849 x" in finding
    assert "0 of 2 runs smaller than the construction fitted" in finding
    assert (
        len(
            beyond.plot(
                "capacity_vs_samples", pd.DataFrame(), capacity_runs(), capacity_infos()
            ).axes
        )
        == 1
    )


def weight_decay_inputs():
    """Three AlexNet runs on random labels and one on true labels, 10 steps at lr 0.01."""
    settings = [
        ("random_labels", "none", 0.0, True),
        ("random_labels", "wd_fc", 4e-3, False),
        ("random_labels", "wd_all", 4e-3, True),
        ("true_labels", "wd_fc", 4e-3, True),
    ]
    regularizers = {
        "none": {},
        "wd_fc": {"weight_decay": 4e-3, "weight_decay_scope": "fc"},
        "wd_all": {"weight_decay": 4e-3, "weight_decay_scope": "all"},
    }
    runs, curves, infos = [], [], []
    for corruption, reg, wd, fitted in settings:
        keys = dict(KEYS, model="alexnet", corruption=corruption, regularizer=reg)
        runs.append(
            dict(
                keys,
                n_train=128,
                weight_decay=wd,
                fitted=fitted,
                epochs_to_fit=10 if fitted else None,
                status="fitted" if fitted else "max_epochs",
                steps=10,
                lr_decay=0.95,
                final_train_accuracy=1.0 if fitted else 0.3,
            )
        )
        curves += [dict(keys, split="train_online", epoch=e, step=e, lr=0.01) for e in range(1, 11)]
        infos.append(
            {
                **info_of(
                    keys,
                    regularizer_spec=regularizers[reg],
                    momentum=0.9,
                    lr_decay=0.95,
                    lr_decay_every_steps=391,
                ),
                "weight_norms": [
                    {
                        "epoch": e,
                        "step": e,
                        "norms": {
                            "hidden.1.weight": 3.0 * (1 - e / 100),
                            "hidden.1.bias": 9.0,
                            "classifier.weight": 4.0,
                        },
                    }
                    for e in range(0, 11)
                ],
            }
        )
    return pd.DataFrame(curves), pd.DataFrame(runs), infos


def test_weight_decay_table_finding_and_figure():
    curves, runs, infos = weight_decay_inputs()
    table, finding = beyond.build("weight_decay_failure", curves, runs, infos)
    row = table[
        (table["weight_decay_scope"] == "fc") & (table["corruption"] == "random_labels")
    ].iloc[0]
    assert row["outcome"] == "stalled" and row["summed_lr"] == pytest.approx(0.1)
    assert row["decay_shrink"] == pytest.approx(
        1 - weight_decay.decay_factor([0.01] * 10, 4e-3, 0.9)
    )
    # whole-run bound: 1 - exp(-wd lr0 391 / (0.05 x 0.1))
    assert row["decay_shrink_bound"] == pytest.approx(1 - np.exp(-4e-3 * 0.01 * 391 / 0.005))
    # kernels (names ending in weight) together: sqrt(3^2 + 4^2) = 5 at epoch 0,
    # sqrt(2.7^2 + 16) at 10
    assert row["kernel_norm_ratio"] == pytest.approx(np.hypot(2.7, 4.0) / 5.0)
    assert "n = 128, fc 0.004: 0% of seeds fitted" in finding
    assert "yes, n = 128, fc 0.004 (0% of seeds) fitted random labels in fewer seeds" in finding
    assert "controls fitted in up to 10 steps; stalled runs stopped at 10" in finding
    fig = beyond.plot("weight_decay_failure", curves, runs, infos)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="weight_norms"):
        weight_decay.norms_frame([{"keys": KEYS}])


def test_the_weight_decay_bound_uses_each_runs_own_schedule_not_the_configs():
    """A run whose model set momentum 0.5 and that decays its lr every epoch (no
    lr_decay_every_steps): 128 images at batch 32 are 4 steps between decays, not 391."""
    curves, runs, infos = weight_decay_inputs()
    for info in infos:
        info["spec"]["training"] = {"momentum": 0.5, "lr_decay": 0.95, "batch_size": 32}
    table, _ = beyond.build("weight_decay_failure", curves, runs, infos)
    row = table[
        (table["weight_decay_scope"] == "fc") & (table["corruption"] == "random_labels")
    ].iloc[0]
    assert row["decay_shrink"] == pytest.approx(
        1 - weight_decay.decay_factor([0.01] * 10, 4e-3, 0.5)
    )
    assert row["decay_shrink_bound"] == pytest.approx(1 - np.exp(-4e-3 * 0.01 * 4 / (0.05 * 0.5)))
    infos[1]["spec"]["regularizer_spec"] = {"weight_decay": 4e-3}  # another spec, same key
    infos.append({**infos[1], "keys": dict(infos[1]["keys"], seed=1)})
    infos[-1]["spec"] = dict(infos[1]["spec"], regularizer_spec={"weight_decay": 1e-3})
    with pytest.raises(ValueError, match="regularizer 'wd_fc' trained with two specs"):
        beyond.build("weight_decay_failure", curves, runs, infos)


def test_theorem_one_first_layer_per_activation():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([-0.5, 0.5, 1.5, 2.5])
    relu = hidden_matrix(x, b, "relu")
    assert np.allclose(np.triu(relu, 1), 0) and (np.diag(relu) > 0).all()  # lower triangular
    assert not np.allclose(np.triu(hidden_matrix(x, b, "tanh"), 1), 0)  # dense
    images = np.random.default_rng(0).integers(0, 256, size=(300, 6, 6, 1), dtype=np.uint8)
    rows = activation_rows(
        images, [50, 200], ["relu", "tanh"], [1.0], 0.1, seed=0, min_gap_targets=[10.0], repeats=2
    )
    assert set(rows.columns) >= {
        "activation",
        "n",
        "scaling",
        "min_gap",
        "condition_number",
        "relative_residual",
        "exact",
    }
    assert len(rows) == 2 * 2 * 2 * 2 and rows.loc[rows["activation"] == "relu", "exact"].all()
    drawn = rows[rows["scaling"] == "x1"]
    tanh = drawn[drawn["activation"] == "tanh"].set_index(["repeat", "n"])["condition_number"]
    relu_cond = drawn[drawn["activation"] == "relu"].set_index(["repeat", "n"])["condition_number"]
    assert (tanh > relu_cond).all()
    gap = rows[rows["scaling"] == "min gap 10"]
    assert gap["min_gap"].to_numpy() == pytest.approx(10.0)
    assert gap["exact"].all()  # the remedy: tanh exact once every gap is large


def test_activations_table_has_both_parts():
    solves = pd.DataFrame(
        {
            "activation": ["relu", "tanh"],
            "n": [10, 10],
            "scaling": ["x1", "x1"],
            "relative_residual": [1e-12, 0.5],
            "condition_number": [10.0, 1e12],
            "exact": [True, False],
        }
    )
    models = {
        m: {"arch": "mlp", "hidden": [2], "activation": a}
        for m, a in (("w2", "relu"), ("w64", "tanh"))
    }
    table, finding = beyond.build(
        "expressivity_activations", pd.DataFrame(), capacity_runs(), capacity_infos(models), solves
    )
    assert set(table["part"]) == {"solve", "trained"}
    assert (
        "x1: exact relu; not tanh (worst 5e-01)" in finding
        and "condition number up to 1e+12" in finding
    )
    markdown = beyond.render_markdown("expressivity_activations", table, finding)
    assert "**Finding.**" in markdown and "## Mean ± sd (n) over seeds" in markdown
    assert (
        len(
            beyond.plot(
                "expressivity_activations",
                pd.DataFrame(),
                capacity_runs(),
                capacity_infos(models),
                solves,
            ).axes
        )
        == 1
    )


def test_beyond_outputs_and_checks():
    config = {
        "experiments": {"e": {"target": "beyond", "grids": []}, "p": {"grids": []}},
        "beyond": {
            "memorization_dynamics": {"kind": "memorization_dynamics", "experiment": "e"},
            "weight_decay_failure": {"kind": "weight_decay_failure", "experiment": "p"},
            "expressivity_activations": {"kind": "expressivity_activations", "experiment": "x"},
        },
    }
    outputs = targets.beyond_outputs(config)
    assert "results/figures/memorization_dynamics.png" in outputs["memorization_dynamics"]
    assert outputs["weight_decay_failure"][-1] == "results/figures/weight_decay_failure.pdf"
    problems = targets.check_beyond(config)
    assert any("must set `target: beyond`" in p for p in problems)
    assert any("'x' is not defined" in p for p in problems)
    assert any("needs a `theory:` section" in p for p in problems)
