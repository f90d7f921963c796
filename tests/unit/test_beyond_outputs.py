"""Beyond the paper, the outputs' data contracts: each table's columns and finding from
small synthetic runs/curves, the exact solves of Theorem 1 per activation, the targets."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from rethinkgen import targets  # noqa: E402
from rethinkgen.analysis import beyond, capacity, wd_claims, weight_decay  # noqa: E402
from rethinkgen.analysis.capacity import construction_size, input_dimension  # noqa: E402
from rethinkgen.io import read_parquet, write_parquet  # noqa: E402
from rethinkgen.run import RUN_KEYS  # noqa: E402
from rethinkgen.theory import activations as theory  # noqa: E402
from rethinkgen.theory.activations import activation_rows, hidden_matrix  # noqa: E402

KEYS = dict(dataset="d", regularizer="none", seed=0)


def memorization_curves() -> pd.DataFrame:
    """p = 0.4, K = 10: clean reaches 0.5 at epoch 1, corrupted at epoch 3; validation
    peaks at 2; the pick half at 3 (0.8), where the score half has 0.7 (0.6 at epoch 2)."""
    acc = {
        "train_clean": [0.1, 0.6, 0.9, 0.95, 1.0],
        "train_corrupted": [0.1, 0.1, 0.2, 0.6, 1.0],
        "validation": [0.1, 0.4, 0.6, 0.5, 0.45],
        "test": [0.1, 0.5, 0.7, 0.75, 0.55],
        "test_pick": [0.1, 0.5, 0.7, 0.8, 0.5],
        "test_score": [0.1, 0.5, 0.6, 0.7, 0.6],
    }
    rows = [
        dict(
            KEYS,
            model="m",
            corruption="p040",
            corruption_prob=0.4,
            num_classes=10,
            epoch=e,
            step=10 * e,
            split=s,
            accuracy=a,
            loss=1.0,
        )
        for s, values in acc.items()
        for e, a in enumerate(values)
    ]
    return pd.DataFrame(rows)


MEMORIZATION = {"kind": "memorization_dynamics", "experiment": "e", "reach_accuracy": 0.5}


def info_of(keys: dict, model_spec=None, regularizer_spec=None, n_train=128, **training) -> dict:
    """A run_info.json as the engine writes it: the keys and the spec the run trained with."""
    return {
        "keys": keys,
        "data": {"n_train": n_train},
        "spec": {
            **keys,
            "model_spec": model_spec or {"arch": "small_alexnet", "lr": 0.01},
            "regularizer_spec": regularizer_spec or {},
            "training": training,
        },
    }


def model_infos(runs: pd.DataFrame, models: dict) -> list[dict]:
    """One run_info.json per run, recording its model's spec."""
    return [
        info_of(
            {k: r[k] for k in RUN_KEYS},
            models[r["model"]],
        )
        for _, r in runs.iterrows()
    ]


def roundtrip(output: beyond.Output, kind: str, tmp_path) -> str:
    """The finding re-derived from the per-run Parquet as written and read back."""
    write_parquet(output.table, tmp_path / f"{kind}.parquet")
    write_parquet(output.curves, tmp_path / f"{kind}_curves.parquet")
    assert (tmp_path / f"{kind}_curves.parquet").exists()
    return beyond.finding(kind, read_parquet(tmp_path / f"{kind}.parquet"))


def test_memorization_timeline_baseline_picks_and_roundtrip(tmp_path):
    output = beyond.build(MEMORIZATION, memorization_curves(), pd.DataFrame(), [])
    row = output.table.iloc[0]
    assert (row["clean_reach_epoch"], row["corrupted_reach_epoch"]) == (1, 3)
    assert bool(row["clean_first"])
    # memorization = corrupted - (1 - test) / (K - 1): at the validation pick (epoch 2)
    assert row["val_pick_epoch"] == 2
    assert row["memorization_at_val_pick"] == pytest.approx(0.2 - 0.3 / 9)
    assert row["final_memorization"] == pytest.approx(1.0 - 0.45 / 9)
    # pick half picks epoch 3 (0.8); the score half has 0.7 there and 0.6 at epoch 2
    assert row["test_pick_epoch"] == 3
    assert row["pick_loss"] == pytest.approx(0.1) and row["optimism"] == pytest.approx(0.1)
    assert "1 of 1 runs" in output.finding and "10.0 +- nan (1 runs) points" in output.finding
    assert roundtrip(output, "memorization_dynamics", tmp_path) == output.finding
    assert set(output.curves["split"]) >= {"test_pick", "test_score", "train_corrupted"}
    fig = beyond.plot("memorization_dynamics", output)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) >= 3  # no empty panel
    markdown = beyond.render_markdown("memorization_dynamics", output)
    assert "**Finding.**" in markdown and "## Per run" in markdown


def test_memorization_corrupted_never_reaching_is_clean_first_and_said():
    curves = memorization_curves()
    low = curves["split"] == "train_corrupted"
    curves.loc[low, "accuracy"] = 0.2
    output = beyond.build(MEMORIZATION, curves, pd.DataFrame(), [])
    assert np.isnan(output.table["corrupted_reach_epoch"].iloc[0])
    assert bool(output.table["clean_first"].iloc[0])
    assert "never reached it in 1" in output.finding


def test_memorization_needs_subset_rows():
    curves = memorization_curves()
    with pytest.raises(ValueError, match="eval_train_every: 1"):
        beyond.build(MEMORIZATION, curves[curves["split"] == "test"], pd.DataFrame(), [])


WIDTHS = (2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512)
MODELS = {f"w{h}": {"arch": "mlp", "hidden": [h], "lr": 0.01} for h in WIDTHS}
CAPACITY = {"kind": "capacity_vs_samples", "experiment": "e"}


def capacity_runs(needed=lambda n: 0.9 * (784 + 11 * n), seeds=5) -> pd.DataFrame:
    """Runs fit exactly when the net has at least needed(n) parameters, except seed 0 at
    the first width above the need (a 4/5 boundary)."""
    rows = []
    for n in (100, 1000, 10000):
        params = {h: (784 + 1) * h + (h + 1) * 10 for h in WIDTHS}
        first = min(h for h in WIDTHS if params[h] >= needed(n))
        for h in WIDTHS:
            for seed in range(seeds):
                fitted = params[h] >= needed(n) and not (h == first and seed == 0)
                rows.append(
                    dict(
                        KEYS,
                        seed=seed,
                        data_seed=100 + seed,
                        model=f"w{h}",
                        corruption="random_labels",
                        n_train=n,
                        num_classes=10,
                        num_params=params[h],
                        fitted=fitted,
                        epochs_to_fit=30 if fitted else None,
                        max_epochs=300,
                        budget=300,
                        lr_decay=0.95,
                        final_train_accuracy=1.0 if fitted else 0.3,
                    )
                )
    return pd.DataFrame(rows)


def test_capacity_yardstick_for_k_outputs():
    assert input_dimension((784 + 1) * 7 + 8 * 10, 7, 10) == 784
    assert construction_size(784, 100, 1) == 2 * 100 + 784  # Theorem 1: one scalar output
    assert construction_size(784, 250, 10) == 784 + 250 + 10 * 250
    assert (capacity.baum_width(100, 784), capacity.bubeck_width(10000, 784)) == (1, 52)


def test_capacity_boundary_interval_and_size_laws(tmp_path):
    runs = capacity_runs()
    curves = runs.assign(split="train", epoch=2, step=8, accuracy=0.5, loss=1.0)
    output = beyond.build(CAPACITY, curves, runs, model_infos(runs, MODELS))
    assert len(output.curves) == len(runs)  # per run and epoch
    bounds = capacity.boundaries(output.table).set_index("n_train")
    # n = 100 needs 0.9 x 1,884 = 1,696 parameters: width 3 (2,395), not 2 (1,600)
    assert (bounds.loc[100, "width"], bounds.loc[100, "width_below"]) == (3, 2)
    # n = 10,000 needs 99,706: width 128 (101,770) is the first, fitting 4 of 5 seeds
    assert (bounds.loc[10000, "width"], bounds.loc[10000, "width_below"]) == (128, 91)
    assert bounds.loc[1000, "bracketed"] and bounds.loc[1000, "monotone"]
    # the boundary fitted 4 of 5 seeds, the width below none: rate CI from scipy
    rates = capacity.fit_rates(output.table).set_index(["n_train", "hidden"])
    assert rates.loc[(10000, 128), "fit_rate"] == 0.8
    assert rates.loc[(10000, 128), "rate_low"] == pytest.approx(0.2836, abs=1e-4)
    fits = capacity.size_law_fits(capacity.boundaries(output.table)).set_index("law")
    assert fits.loc["c (d + n + Kn)", "rms_log10_error"] < 0.1
    assert "5+ seeds (5 distinct data draws)" in output.finding
    assert "n = 10000: width (91, 128]" in output.finding
    assert roundtrip(output, "capacity_vs_samples", tmp_path) == output.finding
    assert len(beyond.plot("capacity_vs_samples", output).axes) == 2


def test_capacity_size_laws_tell_proportional_from_affine():
    """Boundaries generated by params = 30 n prefer c n, by 3 (d + n + Kn) the other."""
    for needed, best in (
        (lambda n: 30 * n, "c n"),
        (lambda n: 3 * (784 + 11 * n), "c (d + n + Kn)"),
    ):
        table = capacity.capacity_table(capacity_runs(needed, seeds=2), MODELS)
        fits = capacity.size_law_fits(capacity.boundaries(table))
        one = fits[fits["law"].isin(["c n", "c (d + n + Kn)"])]
        assert one.loc[one["rms_log10_error"].idxmin(), "law"] == best


def test_capacity_budget_arms_are_kept_apart():
    runs = pd.concat(
        [capacity_runs(), capacity_runs().assign(lr_decay=1.0, budget=3000, max_epochs=3000)]
    )
    bounds = capacity.boundaries(capacity.capacity_table(runs, MODELS))
    assert set(bounds["budget_arm"]) == {"lr x0.95, 300 epochs", "constant lr, 3000 epochs"}


REGULARIZERS = {
    "none": {},
    "wd_fc": {"weight_decay": 4e-3, "weight_decay_scope": "fc"},
    "wd_all": {"weight_decay": 4e-3, "weight_decay_scope": "all"},
}


def weight_decay_inputs(seeds=5, with_true=True):
    """AlexNet runs on random labels (wd = 0 fits every seed by epoch 10; wd 4e-3 on fc
    fits none) and true-label controls at 4e-3 (every seed), 100-epoch cap."""
    settings = [("random_labels", "none", 0.0, True), ("random_labels", "wd_fc", 4e-3, False)]
    if with_true:
        settings.append(("true_labels", "wd_fc", 4e-3, True))
    settings.append(("random_labels", "wd_all", 4e-3, True))  # no true-label control
    runs, curves, infos = [], [], []
    for corruption, reg, wd, fitted in settings:
        for seed in range(seeds):
            keys = dict(KEYS, seed=seed, model="alexnet", corruption=corruption, regularizer=reg)
            runs.append(
                dict(
                    keys,
                    n_train=2000,
                    batch_norm=False,
                    weight_decay=wd,
                    fitted=fitted,
                    epochs_to_fit=10 if fitted else None,
                    status="fitted" if fitted else "max_epochs",
                    steps=10,
                    budget=100,
                    max_epochs=100,
                    lr_decay=0.95,
                    final_train_accuracy=1.0 if fitted else 0.3,
                )
            )
            curves += [
                dict(keys, split="train_online", epoch=e, step=e, lr=0.01) for e in range(1, 11)
            ]
            decayed = ["hidden.1.weight"] if reg == "wd_fc" else []
            info = info_of(
                keys,
                regularizer_spec=REGULARIZERS[reg],
                n_train=2000,
                momentum=0.9,
                lr_decay=0.95,
                lr_decay_every_steps=391,
            )
            infos.append(
                info
                | {
                    "decayed_parameters": decayed,
                    "weight_norms": [
                        {
                            "epoch": e,
                            "step": e,
                            "norms": {
                                "hidden.1.weight": 3.0 * (1 - e / 100),
                                "hidden.1.bias": 9.0,
                                "classifier.weight": 4.0,
                            },
                            "gradient_norms": {"hidden.1.weight": 0.012},
                        }
                        for e in range(0, 11)
                    ],
                }
            )
    return pd.DataFrame(curves), pd.DataFrame(runs), infos


WEIGHT_DECAY = {"kind": "weight_decay_failure", "experiment": "e"}


def test_weight_decay_claims_need_their_controls_and_roundtrip(tmp_path):
    curves, runs, infos = weight_decay_inputs()
    output = beyond.build(WEIGHT_DECAY, curves, runs, infos)
    table = output.table
    row = table[(table["weight_decay_scope"] == "fc") & (table["corruption"] == "random_labels")]
    row = row.iloc[0]
    assert row["outcome"] == "stalled" and row["summed_lr"] == pytest.approx(0.1)
    assert row["decay_shrink"] == pytest.approx(
        1 - weight_decay.decay_factor([0.01] * 10, 4e-3, 0.9)
    )
    # whole-run bound: 1 - exp(-wd lr0 391 / (0.05 x 0.1)), momentum from run_info
    assert row["decay_shrink_bound"] == pytest.approx(1 - np.exp(-4e-3 * 0.01 * 391 / 0.005))
    assert row["kernel_norm_ratio"] == pytest.approx(np.hypot(2.7, 4.0) / 5.0)
    # equilibrium: ||g|| / wd = 0.012 / 4e-3 = 3; measured: the fc kernel, 2.7
    assert row["equilibrium_norm"] == pytest.approx(3.0)
    assert row["decayed_norm"] == pytest.approx(2.7)
    cells = wd_claims.claims(table).set_index("weight_decay_scope")
    # 0/5 against 5/5 and 5/5: Fisher's two-sided p = 1/126 each
    assert cells.loc["fc", "p_vs_true"] == pytest.approx(2 / 252)
    assert cells.loc["fc", "claim"].startswith("weight decay stops random labels")
    assert cells.loc["all", "claim"] == "no claim: no true-label control in this cell"
    assert "random 0/5, true 5/5 (p = 0.0079)" in output.finding
    assert roundtrip(output, "weight_decay_failure", tmp_path) == output.finding
    assert {"decayed_norm", "equilibrium_norm"} <= set(output.curves)
    assert len(beyond.plot("weight_decay_failure", output).axes) == 2


def test_weight_decay_no_claim_when_the_cap_is_near_the_controls_fit():
    curves, runs, infos = weight_decay_inputs(seeds=3)
    runs["budget"] = 20  # 2x the wd = 0 fit at epoch 10
    table = beyond.build(WEIGHT_DECAY, curves, runs, infos).table
    assert set(wd_claims.claims(table)["claim"]) == {
        "no claim: cap under 3x the wd = 0 controls' fit",
        "no claim: no true-label control in this cell",
    }
    # three seeds each way cannot reach p < 0.05 (0/3 against 3/3: p = 0.1)
    runs["budget"] = 100
    table = beyond.build(WEIGHT_DECAY, curves, runs, infos).table
    fc = wd_claims.claims(table).set_index("weight_decay_scope").loc["fc"]
    assert fc["p_vs_true"] == pytest.approx(0.1)
    assert fc["claim"] == "no significant difference from the controls"


def test_the_weight_decay_bound_uses_each_runs_own_schedule_not_the_configs():
    """A run whose model set momentum 0.5 and that decays its lr every epoch (no
    lr_decay_every_steps): 2,000 images at batch 32 are 63 steps between decays, not 391."""
    curves, runs, infos = weight_decay_inputs(seeds=1)
    for info in infos:
        info["spec"]["training"] = {"momentum": 0.5, "lr_decay": 0.95, "batch_size": 32}
    table = beyond.build(WEIGHT_DECAY, curves, runs, infos).table
    row = table[
        (table["weight_decay_scope"] == "fc") & (table["corruption"] == "random_labels")
    ].iloc[0]
    assert row["decay_shrink"] == pytest.approx(
        1 - weight_decay.decay_factor([0.01] * 10, 4e-3, 0.5)
    )
    assert row["decay_shrink_bound"] == pytest.approx(1 - np.exp(-4e-3 * 0.01 * 63 / (0.05 * 0.5)))
    infos.append({**infos[1], "keys": dict(infos[1]["keys"], seed=1)})
    infos[-1]["spec"] = dict(infos[1]["spec"], regularizer_spec={"weight_decay": 1e-3})
    with pytest.raises(ValueError, match="regularizer 'wd_fc' trained with two specs"):
        beyond.build(WEIGHT_DECAY, curves, runs, infos)


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
        "condition_source",
        "weight_norm",
        "first_layer_scale",
        "relative_residual",
        "exact",
    }
    assert len(rows) == 2 * 2 * 2 * 2 and rows.loc[rows["activation"] == "relu", "exact"].all()
    gap = rows[rows["scaling"] == "min gap 10"]
    assert gap["min_gap"].to_numpy() == pytest.approx(10.0)
    assert gap["exact"].all()  # the remedy: tanh exact once every gap is large
    # ... at the price of a first layer scaled far up (the projection's norm times the factor)
    drawn = rows[rows["scaling"] == "x1"]
    assert gap["first_layer_scale"].min() > 10 * drawn["first_layer_scale"].max()
    # saturated float64 condition numbers are never reported as measurements
    tanh = drawn[drawn["activation"] == "tanh"]
    saturated = tanh[tanh["condition_source"] == "lower bound"]
    assert saturated["condition_number"].isna().all()
    assert (saturated["condition_lower_bound"] == 1 / (2 * saturated["n"] * theory.EPS)).all()


def test_saturated_condition_is_measured_in_mpmath():
    """Eight points 0.01 apart: tanh's H is invertible but float64 cannot say how badly
    conditioned; mpmath gives a finite number beyond float64's floor, exact weights of
    huge norm, and those weights run in float64 miss the targets."""
    x = np.arange(8) * 0.01
    b = theory.interleaving_biases(x, 0.1)
    y = np.random.default_rng(0).standard_normal(8)
    solved = theory.solve_output_layer(hidden_matrix(x, b, "tanh"), y)
    assert theory.saturated(solved["condition_number"], 8)
    measured = theory.measured_condition(x, b, y, "tanh", solved, mp_max_n=8)
    assert measured["condition_source"] == "mpmath"
    assert measured["condition_number"] > 1 / (8 * theory.EPS)
    assert measured["exact_weight_norm"] > 1e10
    assert measured["exact_weights_float64_residual"] > 1e-6
    # well conditioned (relu): float64's own number, left alone
    relu = theory.solve_output_layer(hidden_matrix(x, b, "relu"), y)
    assert theory.measured_condition(x, b, y, "relu", relu, 8)["condition_source"] == "float64"
    # the mpmath number agrees with float64's where float64 is trustworthy
    x3 = np.arange(4) * 1.0
    b3 = theory.interleaving_biases(x3, 0.1)
    dense = np.linalg.cond(hidden_matrix(x3, b3, "tanh"))
    exact = theory.exact_solve(x3, b3, y[:4], "tanh")["condition_number"]
    assert exact == pytest.approx(dense, rel=1e-8)


def test_relu_without_forming_h_matches_the_dense_solve():
    rng = np.random.default_rng(1)
    x = np.sort(rng.standard_normal(300))
    y = rng.standard_normal(300)
    large = theory.relu_rows(x, y, 0.1)
    b = theory.interleaving_biases(x, 0.1)
    dense = theory.solve_output_layer(hidden_matrix(x, b, "relu"), y)
    assert large["exact"] and large["weight_norm"] == pytest.approx(dense["weight_norm"], rel=1e-6)
    # a rigorous lower bound: never above the dense condition number
    assert large["condition_lower_bound"] <= dense["condition_number"]
    assert large["condition_lower_bound"] > 1


def test_activations_table_has_both_parts(tmp_path):
    solves = pd.DataFrame(
        {
            "activation": ["relu", "tanh"],
            "n": [10, 10],
            "scaling": ["x1", "x1"],
            "relative_residual": [1e-12, 0.5],
            "weight_norm": [3.0, 2e16],
            "first_layer_scale": [28.0, 28.0],
            "condition_number": [10.0, np.nan],
            "condition_source": ["float64", "lower bound"],
            "condition_lower_bound": [np.nan, 2e14],
            "exact": [True, False],
        }
    )
    models = {
        m: {"arch": "mlp", "hidden": [h], "activation": a}
        for m, h, a in (("w4", 4, "relu"), ("w6", 6, "tanh"))
    }
    runs = capacity_runs()
    runs = runs[runs["model"].isin(models)]
    spec = {"kind": "expressivity_activations", "experiment": "e"}
    curves = runs.assign(split="train", epoch=1, step=8, accuracy=0.5, loss=1.0)
    output = beyond.build(spec, curves, runs, model_infos(runs, models), solves)
    assert set(output.table["part"]) == {"solve", "trained"}
    assert len(output.curves) == len(runs) and set(output.curves["model"]) == {"w4", "w6"}
    assert "x1, tanh: every draw exact up to n = none, 0/1 at n = 10 (residual up to 5e-01)" in (
        output.finding
    )
    assert "||w|| up to 2.0e+16" in output.finding and ">= 2e+14 (bound)" in output.finding
    assert roundtrip(output, "expressivity_activations", tmp_path) == output.finding
    markdown = beyond.render_markdown("expressivity_activations", output)
    assert "**Finding.**" in markdown and "## Mean ± sd (n) over seeds" in markdown
    assert len(beyond.plot("expressivity_activations", output).axes) == 2


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
    assert outputs["memorization_dynamics"] == [
        "results/tables/beyond/memorization_dynamics.parquet",
        "results/tables/beyond/memorization_dynamics_curves.parquet",
        "results/tables/beyond/memorization_dynamics.md",
        "results/figures/beyond/memorization_dynamics.png",
        "results/figures/beyond/memorization_dynamics.pdf",
    ]
    problems = targets.check_beyond(config)
    assert any("must set `target: beyond`" in p for p in problems)
    assert any("'x' is not defined" in p for p in problems)
    assert any("needs a `theory:` section" in p for p in problems)


def test_published_activations_finding_rederives_from_its_parquet():
    """docs/results/beyond: the remade activations table's finding line, every number of
    it, comes back from the published per-run Parquet alone."""
    folder = Path(__file__).resolve().parents[2] / "docs" / "results" / "beyond" / "tables"
    table = read_parquet(folder / "expressivity_activations.parquet")
    published = (folder / "expressivity_activations.md").read_text().splitlines()[2]
    assert published == f"**Finding.** {beyond.finding('expressivity_activations', table)}"
    curves = read_parquet(folder / "expressivity_activations_curves.parquet")
    assert set(curves["seed"]) == set(range(5)) and len(curves) > 0
