"""Each figure function on a tiny tidy frame (Agg backend, no pixel comparison)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rethinkgen.analysis import figures  # noqa: E402
from tests.conftest import design_of

CONFIG = {
    "datasets": {
        "cifar10": {"name": "cifar10"},
        "fmnist": {"name": "fashion_mnist"},
        "imagenet": {"name": "imagenet"},
    },
    "models": {
        "inception": {"arch": "small_inception", "batch_norm": True},
        "inception_nobn": {"arch": "small_inception", "batch_norm": False},
        "mlp_1x512": {"arch": "mlp", "hidden": [512]},
        "v3": {"arch": "inception_v3"},
    },
    "corruptions": {
        "true_labels": {"kind": "none"},
        "labels_p050": {"kind": "random_labels", "prob": 0.5},
        "random_labels": {"kind": "random_labels", "prob": 1.0},
        "shuffled_pixels": {"kind": "shuffled_pixels"},
    },
    "regularizers": {"none": {}, "all": {"augment": True, "weight_decay": 4e-5, "dropout": 0.2}},
    "training": {"lr_decay": 0.95, "max_epochs": 5},
}
CORRUPTION_P = {"true_labels": 0.0, "labels_p050": 0.5, "random_labels": 1.0}


def tidy(
    dataset="cifar10",
    models=("inception", "mlp_1x512"),
    corruptions=("true_labels", "random_labels"),
    regularizers=("none",),
    seeds=(0,),
):
    """(curves, runs) for a tiny grid; accuracy falls with label corruption."""
    curves, runs = [], []
    for model in models:
        for corruption in corruptions:
            for regularizer in regularizers:
                for seed in seeds:
                    k = dict(
                        dataset=dataset,
                        model=model,
                        corruption=corruption,
                        regularizer=regularizer,
                        seed=seed,
                    )
                    design = design_of(CONFIG, dataset, model, corruption, regularizer)
                    design |= dict(num_classes=10, n_test=10_000, max_epochs=20)
                    p = CORRUPTION_P.get(corruption, 0.3)
                    for epoch in range(1, 5):
                        for split, acc in (
                            ("train_online", 0.2 * epoch),
                            ("test", 0.8 - 0.7 * p + 0.01 * seed),
                        ):
                            curves.append(
                                k
                                | design
                                | dict(
                                    epoch=epoch,
                                    step=500 * epoch,
                                    split=split,
                                    loss=2.3 / epoch,
                                    accuracy=acc,
                                )
                            )
                    runs.append(
                        k
                        | design
                        | dict(
                            epochs_to_fit=int(4 + 6 * p) + seed,
                            final_test_accuracy=0.8 - 0.7 * p + 0.01 * seed,
                        )
                    )
    return pd.DataFrame(curves), pd.DataFrame(runs)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(fig: Figure) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
    return [t.get_text() for legend in legends for t in legend.texts]


def test_every_registered_figure_returns_a_figure():
    curves, runs = tidy(corruptions=tuple(CORRUPTION_P) + ("shuffled_pixels",))
    for name, plot in figures.FIGURES.items():
        if name == "imagenet_regularizers":
            curves, runs = tidy(
                "imagenet",
                models=("v3",),
                corruptions=("true_labels",),
                regularizers=("none", "all"),
            )
        assert isinstance(plot(curves, runs), Figure), name


def test_paper_reference_is_drawn_on_cifar10_and_named():
    curves, runs = tidy(corruptions=tuple(CORRUPTION_P))
    fig = figures.plot_test_error_vs_corruption(curves, runs)
    assert f"Inception, {figures.PAPER}" in legend_texts(fig)
    assert "chance (1 - 1/10)" in legend_texts(fig)
    ax = fig.axes[0]
    assert any(list(line.get_ydata()) == [0.9, 0.9] for line in ax.get_lines())  # chance at 1 - 1/K


def test_other_dataset_says_so_and_omits_paper_curves():
    curves, runs = tidy("fmnist", corruptions=tuple(CORRUPTION_P))
    fig = figures.plot_convergence_slowdown(curves, runs)
    assert figures.PAPER not in legend_texts(fig)
    assert "Fashion-MNIST" in fig._suptitle.get_text() and "not drawn" in fig._suptitle.get_text()


def test_convergence_slowdown_plots_ratio_to_p0():
    curves, runs = tidy("fmnist", models=("mlp_1x512",), corruptions=tuple(CORRUPTION_P))
    ax = figures.plot_convergence_slowdown(curves, runs).axes[0]
    ours = ax.get_lines()[0]
    assert list(ours.get_xdata()) == [0.0, 0.5, 1.0]
    assert list(ours.get_ydata()) == pytest.approx([1.0, 7 / 4, 10 / 4])


def spread(fig: Figure) -> float:
    """The largest error bar drawn (sd over seeds)."""
    return max(
        (
            float(np.ptp(seg[:, 1]))
            for ax in fig.axes
            for c in ax.collections
            if isinstance(c, LineCollection)
            for seg in c.get_segments()
        ),
        default=0.0,
    )


def test_one_seed_draws_no_spread_several_seeds_do_and_say_how_many():
    one = figures.plot_test_error_vs_corruption(*tidy("fmnist", corruptions=tuple(CORRUPTION_P)))
    two = figures.plot_test_error_vs_corruption(
        *tidy("fmnist", corruptions=tuple(CORRUPTION_P), seeds=(0, 1))
    )
    assert spread(one) == 0 and spread(two) > 0
    assert "Inception, ours (n = 2)" in legend_texts(two)


def test_diverged_runs_are_marked_and_never_drawn_as_results():
    curves, runs = tidy("fmnist", corruptions=tuple(CORRUPTION_P), seeds=(0, 1))
    runs["outcome"] = "fitted"
    diverged = (runs["corruption"] == "random_labels") & (runs["seed"] == 1)
    runs.loc[diverged, ["outcome", "final_test_accuracy"]] = ["diverged", 0.1]
    for plot in (figures.plot_test_error_vs_corruption, figures.plot_convergence_slowdown):
        fig = plot(curves, runs)
        assert any(
            t.startswith("diverged or unfinished: not a result (2 run") for t in legend_texts(fig)
        )
        data = fig.plotted_data
        assert set(
            data.loc[data["seed"].eq(1) & data["corruption"].eq("random_labels"), "outcome"]
        ) == {"diverged"}
        assert "ours (n = 1-2)" in " ".join(legend_texts(fig))  # p = 1 averages one seed
    summary = figures.plot_test_error_vs_corruption(curves, runs).summary
    at_1 = summary[summary["label_corruption"] == 1.0]
    assert (at_1["n"] == 1).all()  # the diverged seed is not averaged


def test_a_censored_run_is_a_lower_bound_and_its_group_a_censoring_aware_median():
    curves, runs = tidy(
        "fmnist", models=("mlp_1x512",), corruptions=tuple(CORRUPTION_P), seeds=(0, 1, 2)
    )
    runs["outcome"], runs["readout_epoch"] = "fitted", 20
    late = (runs["corruption"] == "random_labels") & (runs["seed"] == 2)
    runs.loc[late, ["outcome", "epochs_to_fit", "censored"]] = ["censored", None, True]
    fig = figures.plot_convergence_slowdown(curves, runs)
    row = fig.summary.set_index("label_corruption").loc[1.0]
    assert row["summary"] == "median" and row["n"] == 3 and row["n_censored"] == 1
    # seeds 0 and 1 fit at 10 and 11 epochs (base 4 and 5), seed 2 is at least 20 / 6
    assert row["estimate"] == pytest.approx(np.median([10 / 4, 11 / 5, 20 / 6]))
    assert any("lower bound (1 run" in t for t in legend_texts(fig))


def test_every_figure_records_the_rows_it_drew():
    curves, runs = tidy(corruptions=tuple(CORRUPTION_P))
    for name in (
        "learning_curves",
        "convergence_slowdown",
        "test_error_vs_corruption",
        "batchnorm",
    ):
        data = figures.FIGURES[name](curves, runs).plotted_data
        assert {"source", "outcome"} <= set(data.columns) and len(data), name
        assert set(data["source"]) <= {figures.OURS, figures.PAPER}, name


def test_learning_curves_one_line_per_condition_and_paper_dashed():
    curves, runs = tidy(
        models=("inception",), corruptions=("true_labels", "random_labels", "shuffled_pixels")
    )
    fig = figures.plot_learning_curves(curves, runs)
    texts = legend_texts(fig)
    assert {"true labels", "random labels", "shuffled pixels", figures.PAPER} <= set(texts)
    # conditions listed in the paper's order of fitting (rethinkgen.paper.FIG1A_CONDITIONS)
    assert [t for t in texts if t in {"true labels", "shuffled pixels", "random labels"}] == [
        "true labels",
        "shuffled pixels",
        "random labels",
    ]


def test_learning_curves_plot_our_losses_against_steps():
    curves, runs = tidy(
        "fmnist", models=("inception",), corruptions=("true_labels", "random_labels")
    )
    curves.loc[curves["corruption"] == "random_labels", "loss"] *= 2  # tell the two lines apart
    ax = figures.plot_learning_curves(curves, runs).axes[0]
    drawn = sorted(
        (tuple(line.get_xdata()), tuple(line.get_ydata()))
        for line in ax.get_lines()
        if len(line.get_xdata()) == 4
    )
    online = curves[curves["split"] == "train_online"].sort_values("step")
    expected = sorted((tuple(g["step"]), tuple(g["loss"])) for _, g in online.groupby("corruption"))
    assert len(drawn) == 2
    for (x, y), (steps, losses) in zip(drawn, expected):
        assert y == pytest.approx(losses)
        assert x == pytest.approx(steps) or x == pytest.approx(
            [v / 1000 for v in steps]
        )  # steps or k steps


def test_test_error_plot_draws_one_minus_final_test_accuracy():
    curves, runs = tidy("fmnist", models=("mlp_1x512",), corruptions=tuple(CORRUPTION_P))
    ax = figures.plot_test_error_vs_corruption(curves, runs).axes[0]
    ours = ax.get_lines()[0]
    by_p = runs.assign(p=runs["corruption"].map(CORRUPTION_P)).sort_values("p")
    assert list(ours.get_xdata()) == list(by_p["p"])
    assert list(ours.get_ydata()) == pytest.approx(list(1 - by_p["final_test_accuracy"]))


def test_batchnorm_panels_per_model_with_early_stopping_band():
    curves, runs = tidy(models=("inception", "inception_nobn"), corruptions=("true_labels",))
    fig = figures.plot_batchnorm(curves, runs)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Inception", "Inception w/o BatchNorm"]
    assert "best test so far (early stopping)" in legend_texts(fig)


def test_imagenet_regularizers_draws_table2_levels():
    curves, runs = tidy(
        "imagenet", models=("v3",), corruptions=("true_labels",), regularizers=("none", "all")
    )
    fig = figures.plot_imagenet_regularizers(curves, runs)
    assert [ax.get_title() for ax in fig.axes] == ["no regularizer", "w/ aug, wd, dropout"]
    levels = {
        round(line.get_ydata()[0], 4)
        for ax in fig.axes
        for line in ax.get_lines()
        if len(line.get_ydata()) == 2 and line.get_linestyle() == "--"
    }
    assert {0.598, 0.6316, 0.7784} <= levels  # Table 2: final/best of "none", final of "all"


def test_a_ladder_of_sizes_draws_one_line_per_dataset_key():
    small = tidy("fmnist", models=("mlp_1x512",), corruptions=tuple(CORRUPTION_P))
    CONFIG["datasets"]["fmnist_big"] = {"name": "fashion_mnist"}
    big = tidy("fmnist_big", models=("mlp_1x512",), corruptions=tuple(CORRUPTION_P))
    curves = pd.concat([small[0], big[0]], ignore_index=True)
    runs = pd.concat([small[1], big[1]], ignore_index=True)
    texts = legend_texts(figures.plot_test_error_vs_corruption(curves, runs))
    assert (
        "MLP 1x512, fmnist, ours (n = 1)" in texts
        and "MLP 1x512, fmnist_big, ours (n = 1)" in texts
    )


def test_figure_data_columns_name_their_unit_and_what_is_drawn():
    # short runs: plain steps, in a column named `step`; thousands only where the paper is drawn
    curves, runs = tidy("fmnist", models=("inception",), corruptions=("true_labels",))
    data = figures.plot_learning_curves(curves, runs).plotted_data
    assert "step" in data and "thousand_steps" not in data
    curves, runs = tidy(models=("inception",), corruptions=("true_labels",))  # cifar10
    data = figures.plot_learning_curves(curves, runs).plotted_data
    ours = data[data["source"] == figures.OURS]
    online = curves[curves["split"] == "train_online"]
    assert sorted(ours["thousand_steps"] * 1000) == pytest.approx(sorted(online["step"]))
    # Figure 2b draws the online training accuracy and the test accuracy: the split says so
    curves, runs = tidy(
        "fmnist", models=("inception", "inception_nobn"), corruptions=("true_labels",)
    )
    data = figures.plot_batchnorm(curves, runs).plotted_data
    drawn = data[data["source"] == figures.OURS]
    assert set(drawn["split"]) == {"train_online", "test"}
    assert "train (online, epoch mean)" in legend_texts(figures.plot_batchnorm(curves, runs))


def strict_sweep(reach_at: dict, budget: int = 20):
    """Runs at p = 0 and p = 1 whose whole-set training accuracy reaches 99% at the given
    epochs (None: never), evaluated every epoch; test accuracy 0.5 + epoch / 100."""
    keys = dict(dataset="fmnist", model="mlp_1x512", regularizer="none", seed=0)
    curves, runs = [], []
    for corruption, reach in reach_at.items():
        k = keys | dict(corruption=corruption)
        for epoch in range(1, 31):
            train = 0.995 if reach is not None and epoch >= reach else 0.9
            curves += [
                k | dict(epoch=epoch, step=10 * epoch, split="train", accuracy=train),
                k | dict(epoch=epoch, step=10 * epoch, split="test", accuracy=0.5 + epoch / 100),
            ]
        runs.append(
            k | dict(corruption_prob=CORRUPTION_P[corruption], budget=budget, outcome="fitted")
        )
    return pd.DataFrame(curves), pd.DataFrame(runs)


def test_strict_fit_reads_the_whole_set_accuracy_from_the_same_curves():
    from rethinkgen.analysis.figure_data import strict_fit

    curves, runs = strict_sweep({"true_labels": 5, "random_labels": 12})
    table = strict_fit(curves, runs).set_index("corruption")
    assert table.loc["random_labels", "strict_epochs_to_fit"] == 12
    assert table.loc["random_labels", "strict_relative_time_to_fit"] == pytest.approx(12 / 5)
    assert table.loc["random_labels", "strict_test_error"] == pytest.approx(1 - 0.62)
    assert not table["strict_censored"].any()
    # reached after the experiment's cap (20): censored at the cap, a lower bound
    curves, runs = strict_sweep({"true_labels": 5, "random_labels": 25})
    late = strict_fit(curves, runs).set_index("corruption").loc["random_labels"]
    assert late["strict_censored"] and late["strict_epochs_to_fit"] == 20
    # the p = 0 run never reaches it: no relative time
    curves, runs = strict_sweep({"true_labels": None, "random_labels": 12})
    assert strict_fit(curves, runs)["strict_relative_time_to_fit"].isna().all()


def test_figure_1b_and_1c_data_carry_the_strict_fit_read_out():
    curves, runs = strict_sweep({"true_labels": 5, "random_labels": 12})
    full = tidy("fmnist", models=("mlp_1x512",), corruptions=("true_labels", "random_labels"))[1]
    runs = full.drop(columns=["budget"], errors="ignore").assign(budget=20)
    runs["epochs_to_fit"] = runs["corruption"].map({"true_labels": 4, "random_labels": 8})
    for plot in (figures.plot_convergence_slowdown, figures.plot_test_error_vs_corruption):
        data = plot(curves, runs).plotted_data
        ours = data[data["source"] == figures.OURS].set_index("corruption")
        assert ours.loc["random_labels", "strict_epochs_to_fit"] == 12, plot.__name__


def test_two_model_keys_of_one_paper_model_get_their_own_lines():
    from rethinkgen.analysis.figures import _with_labels

    df = pd.DataFrame(
        {
            "paper_model": ["alexnet", "alexnet", "mlp_1x512"],
            "model": ["alexnet", "alexnet_bf16", "mlp_1x512"],
            "dataset": ["d", "d", "d"],
        }
    )
    labels = list(_with_labels(df)["model_label"])
    assert labels[0] != labels[1] and "alexnet_bf16" in labels[1]
    assert "(" not in labels[2]
