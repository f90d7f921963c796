"""One page, "How much does your model memorize?", from the ready experiment of
config/your_model.yaml: the Figure 1a randomizations, the Figure 1b/1c corruption sweep and
the memorization dynamics of one model on one dataset, beside any other models in the same
grids (labelled by their config keys). docs/own-model.md explains how to read it.
"""

from __future__ import annotations

import pandas as pd

from rethinkgen.analysis import memorization

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
) -> str:
    """The Markdown page. ``figures``: figure key -> path relative to the page."""
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
    return "\n".join(lines) + "\n"
