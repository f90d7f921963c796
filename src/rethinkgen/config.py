"""Config checks a JSON schema cannot express, and the runs each experiment asks for.

The workflow validates the config against workflow/schemas/config.schema.yaml first
(types, ranges, misspelled keys), then calls `check_config` so that every bad config
fails before any job runs, with a message naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
from dataclasses import asdict, dataclass

import yaml

IMAGE_LIST_DATASETS = ("imagenet",)
IMAGENET_ARCHS = ("inception_v3",)
USER_ARCHS = ("torchvision", "python")  # your own models: any dataset (rethinkgen.user_inputs)
# Corruption kinds that change pixels (data/corruptions.py implements them). Kept here so
# that reading the config, which the workflow does while parsing, imports nothing heavy.
PIXEL_CORRUPTIONS = ("shuffled_pixels", "random_pixels", "gaussian")
GRID_SECTIONS = ("datasets", "models", "corruptions", "regularizers")  # a grid names keys of each


class ConfigError(ValueError):
    """A config that passes the schema but is inconsistent; the message says how to fix it."""


@dataclass(frozen=True, order=True)
class Run:
    """The keys of one training run; also its wildcard values."""

    dataset: str
    model: str
    corruption: str
    regularizer: str
    seed: int


def _known(config: dict, section: str) -> str:
    return ", ".join(sorted(config.get(section, {}))) or "(none)"


def check_config(config: dict, report_dir: str | None = None) -> None:
    """Raise ConfigError listing every cross-reference problem in a schema-valid config.

    With `report_dir` (workflow/report), also every figure/table without its caption file.
    """
    problems = []
    for name, experiment in config["experiments"].items():
        for index, grid in enumerate(experiment["grids"]):
            where = f"experiments.{name}.grids[{index}]"
            for section in GRID_SECTIONS:
                for key in grid[section]:
                    if key not in config[section]:
                        problems.append(
                            f"{where}.{section}: '{key}' is not defined under '{section}:' "
                            f"(defined: {_known(config, section)})"
                        )
            problems += _grid_compatibility(config, grid, where)
    for key, corruption in config["corruptions"].items():
        if corruption["kind"] == "random_labels":
            if "prob" not in corruption:
                problems.append(f"corruptions.{key}: kind random_labels needs 'prob' (a number in [0, 1])")
            if "test" in corruption.get("splits", ["train"]):
                problems.append(
                    f"corruptions.{key}.splits: label corruption applies to the training labels only; "
                    "the paper keeps test labels true. Use splits: [train]"
                )
        elif "prob" in corruption:
            problems.append(f"corruptions.{key}.prob: only kind random_labels takes 'prob'")
    for key, model in config["models"].items():
        if model["arch"] == "mlp" and "hidden" not in model:
            problems.append(f"models.{key}: arch mlp needs 'hidden' (a list of layer widths, e.g. [512])")
    problems += _theory_references(config)
    problems += _output_references(config)
    if report_dir is not None:
        problems += _missing_captions(config, report_dir)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def _theory_references(config: dict) -> list[str]:
    """Dataset keys named by the theory section must be defined under 'datasets:'."""
    theory = config.get("theory", {})
    named = [("theory.expressivity.datasets", d) for d in theory.get("expressivity", {}).get("datasets", [])]
    named += [(f"theory.kernel_solves.{k}.dataset", row["dataset"]) for k, row in theory.get("kernel_solves", {}).items()]
    return [
        f"{where}: '{key}' is not defined under 'datasets:' (defined: {_known(config, 'datasets')})"
        for where, key in named
        if key not in config["datasets"]
    ]


def _output_references(config: dict) -> list[str]:
    """Each figure/table must read a defined experiment. Only an entry with
    `requires_dataset` (fig2a, table2: ImageNet only) may name one the config leaves out;
    it is then skipped (rethinkgen.targets.output_available)."""
    return [
        f"{section}.{key}.experiment: '{spec['experiment']}' is not defined under 'experiments:' "
        f"(defined: {_known(config, 'experiments')}). Add that experiment or remove '{key}'"
        for section in ("figures", "tables")
        for key, spec in config.get(section, {}).items()
        if spec["experiment"] not in config["experiments"] and "requires_dataset" not in spec
    ]


def _missing_captions(config: dict, report_dir: str) -> list[str]:
    """The report shows each figure/table with its caption, report_dir/<key>.rst."""
    keys = [(section, key) for section in ("figures", "tables", "beyond") for key in config.get(section, {})]
    return [
        f"{section}.{key}: its report caption {os.path.join(report_dir, key + '.rst')} is missing. "
        "Write it (what the output reproduces, in reStructuredText; see the other .rst files there)"
        for section, key in keys
        if not os.path.isfile(os.path.join(report_dir, f"{key}.rst"))
    ]


def _grid_compatibility(config: dict, grid: dict, where: str) -> list[str]:
    problems = []
    for dataset_key, model_key in itertools.product(grid["datasets"], grid["models"]):
        dataset, model = config["datasets"].get(dataset_key), config["models"].get(model_key)
        if dataset is None or model is None:
            continue
        on_imagenet = dataset["name"] in IMAGE_LIST_DATASETS
        if model["arch"] not in USER_ARCHS and on_imagenet != (model["arch"] in IMAGENET_ARCHS):
            problems.append(
                f"{where}: model '{model_key}' (arch {model['arch']}) cannot train on dataset "
                f"'{dataset_key}' ({dataset['name']}): ImageNet takes arch inception_v3, "
                "the 28x28 datasets take small_inception, small_alexnet or mlp"
            )
    for dataset_key, corruption_key in itertools.product(grid["datasets"], grid["corruptions"]):
        dataset, corruption = config["datasets"].get(dataset_key), config["corruptions"].get(corruption_key)
        if dataset is None or corruption is None:
            continue
        if dataset["name"] in IMAGE_LIST_DATASETS and corruption["kind"] in PIXEL_CORRUPTIONS:
            problems.append(
                f"{where}: pixel corruption '{corruption_key}' ({corruption['kind']}) cannot apply to "
                f"'{dataset_key}' ({dataset['name']}): the paper runs only label randomization on "
                "ImageNet. Use a corruption of kind none or random_labels"
            )
    return problems


def _memoized(function):
    """Cache a function of (config, *keys) for the config object last seen.

    The workflow asks for the same run lists hundreds of times while building the DAG; a
    config is not hashable, so the cache is keyed by its id and keeps a reference to it (the
    id of a live object cannot be reused). Callers must not mutate the returned lists.
    """
    cache: dict = {}

    @functools.wraps(function)
    def wrapper(config, *keys):
        if cache.get("config") is not config:
            cache.clear()
            cache["config"] = config
        if keys not in cache:
            cache[keys] = function(config, *keys)
        return cache[keys]

    wrapper.cache_clear = cache.clear
    return wrapper


@_memoized
def experiment_runs(config: dict, experiment: str) -> list[Run]:
    """The runs of one experiment: the union of its grids, each crossed with its seeds."""
    runs = set()
    for grid in config["experiments"][experiment]["grids"]:
        seeds = grid.get("seeds", config["seeds"])
        for combo in itertools.product(
            grid["datasets"], grid["models"], grid["corruptions"], grid["regularizers"], seeds
        ):
            runs.add(Run(*combo))
    return sorted(runs)


def experiment_target(config: dict, experiment: str) -> str:
    """Which target trains an experiment: `all` (the default) or `beyond`."""
    return config["experiments"][experiment].get("target", "all")


@_memoized
def target_runs(config: dict, target: str) -> list[Run]:
    """Every run of the experiments of one target (all | beyond), each once."""
    return sorted({run for name in config["experiments"] if experiment_target(config, name) == target
                   for run in experiment_runs(config, name)})


def all_runs(config: dict) -> list[Run]:
    """Every run of `snakemake all`, each once (a run shared by experiments trains once).
    Experiments with ``target: beyond`` are left to `snakemake beyond`."""
    return target_runs(config, "all")


def used_dataset_corruptions(config: dict) -> list[tuple[str, str]]:
    """The (dataset, corruption) pairs that some run needs."""
    return sorted({(run.dataset, run.corruption) for run in all_runs(config)})


BUDGET_KEYS = ("max_epochs", "stop_when_fitted")
# Training keys that say how to run, not what: the adapter and the rules read them.
SCHEDULING_KEYS = ("tensorboard", "runs_per_gpu")
_BUDGET_CACHE: dict[int, tuple[dict, dict]] = {}


def _experiment_budgets(config: dict) -> dict[Run, list[dict]]:
    """For each run, the budget settings of every experiment that lists it (memoized)."""
    cached = _BUDGET_CACHE.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    budgets: dict[Run, list[dict]] = {}
    for name, experiment in config["experiments"].items():
        for run in experiment_runs(config, name):
            budgets.setdefault(run, []).append(experiment.get("training", {}))
    _BUDGET_CACHE[id(config)] = (config, budgets)
    return budgets


def _combine_budgets(training: dict, budgets: list[dict]) -> dict:
    """A run shared by experiments trains once. It stops at fit only if all of them allow
    it; otherwise it trains the largest budget among those that want the whole curve (a
    stop-at-fit experiment's max_epochs is only a cap, and the full curve holds its fit
    time too, or shows it was not reached within the budget)."""
    if not budgets:
        return {}
    effective = [training | budget for budget in budgets]
    stop = all(b.get("stop_when_fitted", False) for b in effective)
    wanted = [b for b in effective if stop or not b.get("stop_when_fitted", False)]
    return {"max_epochs": max(b["max_epochs"] for b in wanted), "stop_when_fitted": stop}


def run_config(config: dict, run: Run) -> dict:
    """Resolve one run's keys into the plain dict the training engine takes."""
    model = copy.deepcopy(config["models"][run.model])
    regularizer = copy.deepcopy(config["regularizers"][run.regularizer])
    # Overrides, most specific last: the model's, the regularizer's, then the budgets of
    # the experiments that use the run.
    training = copy.deepcopy(config["training"]) | model.pop("training", {}) | regularizer.pop("training", {})
    training |= _combine_budgets(training, _experiment_budgets(config).get(run, []))
    for key in SCHEDULING_KEYS:  # not part of the run: changing one must not retrain it
        training.pop(key, None)
    return {
        **asdict(run),
        "dataset_spec": copy.deepcopy(config["datasets"][run.dataset]),
        "model_spec": model,
        "regularizer_spec": regularizer,
        "training": training,
    }


def retype_cli_strings(config: dict, schema: dict) -> None:
    """Give `--config` overrides the types the schema asks for, in place.

    Snakemake 9 reads nested `--config` values as strings (`training='{max_epochs: 3}'`
    gives `'3'`), which the schema would then reject. A string where the schema allows no
    string is parsed as YAML and kept if that yields an allowed number, boolean or null;
    values read from config files already have their types and are left alone.
    """
    config.update(_retyped(config, schema, schema))


def _resolved(schema: dict, root: dict) -> dict:
    """`schema` with local `$ref`s and `allOf` parts merged in (enough for our schemas)."""
    schema = dict(schema)
    if "$ref" in schema:
        schema = {**_resolved(root["$defs"][schema.pop("$ref").rsplit("/", 1)[-1]], root), **schema}
    for part in schema.pop("allOf", []):
        part = _resolved(part, root)
        schema = {**part, **schema,
                  "properties": {**part.get("properties", {}), **schema.get("properties", {})}}
    return schema


def _child_schema(schema: dict, key: str) -> dict:
    child = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
    return child if isinstance(child, dict) else {}


def _retyped(value, schema: dict, root: dict):
    schema = _resolved(schema, root)
    if isinstance(value, dict):
        return {key: _retyped(item, _child_schema(schema, key), root) for key, item in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_retyped(item, schema["items"], root) for item in value]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and types and "string" not in types:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value  # the schema check then reports it
        allowed = {"integer": int, "number": (int, float), "boolean": bool, "null": type(None)}
        if any(isinstance(parsed, allowed[t]) and (t == "boolean") == isinstance(parsed, bool)
               for t in types if t in allowed):
            return parsed
    return value
