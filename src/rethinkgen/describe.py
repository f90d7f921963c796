"""Words for what a config builds, written from the config itself: an experiment's
description when the config gives none, and the "this build" paragraph of every figure's
and table's report caption (models, datasets, corruptions, regularizers, budgets, seeds).

Captions describe the runs that were made, not the paper's: a config that draws Figure 1a
with an MLP gets a caption that says MLP. Light imports only: the workflow calls this
while it parses.
"""

from __future__ import annotations

from rethinkgen.config import experiment_runs, run_spec

# What an output of each kind shows, for experiments without a `description:`.
KIND_WORDS = {
    "learning_curves": "learning curves under the randomization tests (Figure 1a)",
    "convergence_slowdown": "time to fit against label corruption (Figure 1b)",
    "test_error_vs_corruption": "test error against label corruption (Figure 1c)",
    "imagenet_regularizers": "ImageNet regularizers (Figure 2a)",
    "batchnorm": "with and without BatchNorm (Figure 2b)",
    "memorization_dynamics": "memorization dynamics (beyond the paper)",
    "capacity_vs_samples": "capacity against sample size (beyond the paper)",
    "expressivity_activations": "Theorem 1 beyond ReLU (beyond the paper)",
    "weight_decay_failure": "weight decay on random labels (beyond the paper)",
    "example_learning": "which examples were learned when, clean vs corrupted (beyond the paper)",
}
TABLE_WORDS = {
    "table1": "regularizers (Table 1)",
    "table2": "ImageNet (Table 2)",
    "table4": "random labels with regularizers (Table 4)",
}


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _readers(config: dict, experiment: str) -> list[str]:
    """What each output that reads the experiment shows, in config order."""
    words = [
        KIND_WORDS.get(s["kind"], s["kind"].replace("_", " "))
        for s in config.get("figures", {}).values()
        if s["experiment"] == experiment
    ]
    words += [
        TABLE_WORDS.get(k, f"table {k}")
        for k, s in config.get("tables", {}).items()
        if s["experiment"] == experiment
    ]
    words += [
        KIND_WORDS.get(s["kind"], s["kind"].replace("_", " "))
        for s in config.get("beyond", {}).values()
        if s["experiment"] == experiment
    ]
    return list(dict.fromkeys(words))


def _keys(runs, field: str) -> list:
    return sorted({getattr(run, field) for run in runs})


def experiment_description(config: dict, experiment: str) -> str:
    """The config's `description:`, or one made from the outputs that read the experiment
    and the models it trains."""
    given = config["experiments"][experiment].get("description")
    if given:
        return given
    runs = experiment_runs(config, experiment)
    readers = _readers(config, experiment)
    what = "; ".join(readers) if readers else "runs no figure or table reads"
    return f"{what}: {', '.join(_keys(runs, 'model'))}, {plural(len(runs), 'run')}"


def fill_descriptions(config: dict) -> None:
    """Give every experiment without a description one from its outputs, in place (the
    report's front page lists them)."""
    for name, experiment in config["experiments"].items():
        experiment.setdefault("description", experiment_description(config, name))


def _model_words(config: dict, key: str) -> str:
    spec = config["models"][key]
    arch = spec.get("arch", "?")
    details = [f"hidden {spec['hidden']}"] if "hidden" in spec else []
    if "batch_norm" in spec:
        details.append("BatchNorm" if spec["batch_norm"] else "no BatchNorm")
    return f"``{key}`` ({arch}{', ' + ', '.join(details) if details else ''})"


def _dataset_words(config: dict, key: str) -> str:
    spec = config["datasets"][key]
    size = (
        f", {spec['n_train']} training / {spec.get('n_test', 'all')} test images"
        if spec.get("n_train")
        else ""
    )
    return f"``{key}`` ({spec['name']}{size})"


def _budgets(config: dict, runs) -> str:
    """Each model's budget in epochs (the runs' resolved settings) and whether it stops at fit."""
    per_model: dict[str, set] = {}
    for run in runs:
        training = run_spec(config, run).training
        stop = ", stops at fit" if training.get("stop_when_fitted") else ""
        per_model.setdefault(run.model, set()).add(f"{training['max_epochs']} epochs{stop}")
    return "; ".join(
        f"``{model}`` {' or '.join(sorted(b))}" for model, b in sorted(per_model.items())
    )


def settings_caption(config: dict, experiment: str) -> str:
    """The caption paragraph naming exactly what an output of `experiment` was made from."""
    runs = experiment_runs(config, experiment)
    seeds = _keys(runs, "seed")
    return (
        f"**This build** (experiment ``{experiment}``: "
        f"{experiment_description(config, experiment)}). "
        f"Models: {', '.join(_model_words(config, m) for m in _keys(runs, 'model'))}. "
        f"Data: {', '.join(_dataset_words(config, d) for d in _keys(runs, 'dataset'))}. "
        f"Corruptions: {', '.join(f'``{c}``' for c in _keys(runs, 'corruption'))}. "
        f"Regularizers: {', '.join(f'``{r}``' for r in _keys(runs, 'regularizer'))}. "
        f"Budgets: {_budgets(config, runs)}. "
        f"Training seeds: {', '.join(map(str, seeds))} ({plural(len(runs), 'run')})."
    )
