"""One page, "How much does your model memorize?", from the ready experiment of
config/your_model.yaml: the Figure 1a randomizations, the Figure 1b/1c corruption sweep and
the memorization dynamics of one model on one dataset, beside any other models in the same
grids (labelled by their config keys). docs/own-model.md explains how to read it.
"""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis import example_learning, learning_order, memorization
from rethinkgen.run import RUN_KEYS, RunKeys

LAST_LEARNED = 20  # examples listed as learned last
COLUMNS = {
    "model": "model",
    "corruption": "test",
    "corruption_prob": "p",
    "final_train_accuracy": "train accuracy",
    "epochs_to_fit": "epochs to fit",
    "final_test_accuracy": "test accuracy",
    "max_epochs": "budget (epochs)",
}


def _per_condition(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean over seeds of the final accuracies and the fit time, one row per condition."""
    numbers = ["final_train_accuracy", "final_test_accuracy", "epochs_to_fit", "max_epochs"]
    table = runs.groupby(keys, sort=False)[numbers].mean().reset_index()
    table["epochs_to_fit"] = [
        f"{e:.0f}" if pd.notna(e) else f"not within {b:.0f}"
        for e, b in zip(table["epochs_to_fit"], table["max_epochs"])
    ]
    return table.drop(columns="max_epochs").rename(columns=COLUMNS)


def _ordered(runs: pd.DataFrame, model: str) -> pd.DataFrame:
    """The page's model first, then the others beside it."""
    return (
        runs.assign(_first=runs["model"] != model)
        .sort_values("_first", kind="stable")
        .drop(columns="_first")
    )


def verdict(runs: pd.DataFrame, model: str) -> str:
    """One sentence: how well the model fitted random labels, and how fast against true ones."""
    own = runs[runs["model"] == model]
    random = own[own["corruption_prob"] == 1.0]
    true = own[own["corruption_prob"] == 0.0]
    if random.empty or true.empty:
        return f"`{model}` has no run with both true (p = 0) and random (p = 1) labels to compare."
    fit = random["epochs_to_fit"].mean()
    when = (
        f"met the fit criterion after {fit:.0f} epochs (true labels: "
        f"{true['epochs_to_fit'].mean():.0f})"
        if pd.notna(fit)
        else f"did not meet the fit criterion within {random['max_epochs'].max():.0f} epochs"
    )
    if pd.isna(fit):  # say how to give it a larger budget (docs/own-model.md)
        when += (
            f" (not fitted within {random['max_epochs'].max():.0f} epochs: raise max_epochs, "
            "e.g. `--config override='{max_epochs: "
            f"{2 * int(random['max_epochs'].max())}}}'` or the experiment's `max_epochs`)"
        )
    return (
        f"`{model}` reached {random['final_train_accuracy'].mean():.1%} training accuracy on "
        f"completely random labels and {when}; its test accuracy there is "
        f"{random['final_test_accuracy'].mean():.1%}, chance being "
        f"{1 / random['num_classes'].iloc[0]:.1%}."
    )


def paper_note(runs: pd.DataFrame) -> str:
    """Where the paper's own numbers appear in the figures, and why not elsewhere."""
    paper = runs[(runs["dataset_name"] == "cifar10") & runs["paper_model"].notna()]
    if paper.empty:
        return (
            "The paper's curves are not drawn: they are for its models on CIFAR-10, and "
            "these runs use another dataset or model (the figures' titles say which)."
        )
    return (
        "The figures draw the paper's curves (dashed) for "
        f"{', '.join(sorted(set(paper['model'])))}, "
        "the paper's models on the paper's dataset; other models are ours alone."
    )


def render_page(
    spec: dict,
    config: dict,
    randomizations: pd.DataFrame,
    sweep: pd.DataFrame,
    dynamics: pd.DataFrame,
    figures: dict[str, str],
    source: dict,
    load_record,
) -> str:
    """The Markdown page. ``figures``: figure key -> path relative to the page;
    ``load_record(RunKeys)``: a run's per-example record or None."""
    model, dataset = spec["model"], spec["dataset"]
    own = pd.concat([randomizations, sweep])
    own = own[own["model"] == model]
    params = int(own["num_params"].iloc[0]) if len(own) else None
    origin = source.get("factory") or source.get("builder")
    digest = f", source SHA-256 `{source['sha256'][:16]}...`" if "sha256" in source else ""
    lines = [
        f"# How much does your model memorize? `{model}` on `{dataset}`",
        "",
        f"Model `{model}`: {origin}{digest}, {params:,} parameters. Dataset `{dataset}` "
        f"({config['datasets'][dataset]['name']}), {int(own['n_train'].iloc[0]):,} training "
        f"images, {int(own['num_classes'].iloc[0])} classes."
        if params
        else f"No runs of `{model}`.",
        "",
        f"**In one line.** {verdict(sweep if len(sweep) else randomizations, model)}",
        "",
        paper_note(pd.concat([randomizations, sweep])),
        "",
        "## Randomization tests (Figure 1a)",
        "",
        _per_condition(_ordered(randomizations, model), ["model", "corruption"]).to_markdown(
            index=False, floatfmt=".3f"
        ),
        "",
    ]
    lines += [
        f"![{key}]({path})"
        for key, path in figures.items()
        if key in spec.get("randomizations_figures", [])
    ]
    lines += [
        "",
        "## Label corruption sweep (Figures 1b and 1c)",
        "",
        _per_condition(
            _ordered(sweep.sort_values("corruption_prob"), model), ["model", "corruption_prob"]
        ).to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    lines += [
        f"![{key}]({path})" for key, path in figures.items() if key in spec.get("sweep_figures", [])
    ]
    table = memorization.memorization_table(dynamics)
    lines += [
        "",
        "## Memorization dynamics",
        "",
        f"**Finding.** {memorization.memorization_finding(table)}",
        "",
        _ordered(table, model)
        .drop(columns=["dataset", "regularizer"])
        .to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    lines += [
        f"![{key}]({path})"
        for key, path in figures.items()
        if key in spec.get("dynamics_figures", [])
    ]
    lines += examples_section(spec, randomizations, dynamics, figures, load_record)
    return "\n".join(lines) + "\n"


def examples_section(
    spec: dict, randomizations: pd.DataFrame, dynamics: pd.DataFrame, figures: dict, load
) -> list[str]:
    """Which examples were learned when (runs with training.record_examples): the clean
    and corrupted examples of the dynamics runs, and the true-label run's last learned."""
    lines = ["", "## Which examples were learned, and when", ""]
    partial = dynamics[[*RUN_KEYS, "corruption_prob"]].drop_duplicates()
    try:
        table = learning_order.example_learning_table(partial, load)
    except ValueError as err:
        return lines + [f"No per-example record: {err}."]
    lines += [f"**Finding.** {learning_order.example_learning_finding(table)}", ""]
    lines += [
        f"![{key}]({path})"
        for key, path in figures.items()
        if key in spec.get("examples_figures", [])
    ]
    own = randomizations[
        (randomizations["model"] == spec["model"]) & (randomizations["corruption_prob"] == 0)
    ].sort_values("seed")
    record = None if own.empty else load(RunKeys.of(own.iloc[0].to_dict()))
    if record is None:
        return lines + ["", f"No true-label run of `{spec['model']}` kept a per-example record."]
    keys = RunKeys.of(own.iloc[0].to_dict())
    last = example_learning.last_learned(example_learning.example_measures(record), LAST_LEARNED)
    last["first_learned_epoch"] = [
        "never" if pd.isna(e) else f"{e:.0f}" for e in last["first_learned_epoch"]
    ]
    return lines + [
        "",
        f"The {LAST_LEARNED} training examples `{spec['model']}` learned last on true labels "
        f"(seed {keys.seed}): `example` is the index in the run's train.npz "
        f"(results/data/{keys.dataset}/{keys.corruption}/); for an image folder without "
        "`n_train`, the position in its train/ files sorted by class, then name. "
        "`first_learned_epoch`: correct from then on; `aum`: mean margin over epochs.",
        "",
        last.drop(columns=["corrupted"]).to_markdown(index=False, floatfmt=".3f"),
    ]
