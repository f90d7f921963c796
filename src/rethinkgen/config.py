"""Config checks a JSON schema cannot express, and the runs each experiment asks for.

The workflow validates the config against workflow/schemas/config.schema.yaml first
(types, ranges, misspelled keys), then calls `check_config` so that every bad config
fails before any job runs, with a message naming the key and what is allowed.
"""

from __future__ import annotations

import copy
import functools
import importlib
import itertools
import json
import os

import yaml

from rethinkgen.config_checks import (
    known_keys as _known,
)
from rethinkgen.config_checks import (
    long_keys,
    non_finite_numbers,
    warn_large_batches,
)
from rethinkgen.run import RunKeys, RunSpec
from rethinkgen.training.settings import TRAINING_KEYS

IMAGE_LIST_DATASETS = ("imagenet",)
IMAGENET_ARCHS = ("inception_v3",)
USER_ARCHS = ("torchvision", "python")  # your own models: any dataset (rethinkgen.user_inputs)
# Datasets whose files can change under one config: their digest is part of their identity
# (rethinkgen.data.content).
USER_DATA_SOURCES = ("image_folder", "npz", "svhn", "cifar100", "kmnist")
# Corruption kinds that change pixels (data/corruptions.py implements them). Kept here so
# that reading the config, which the workflow does while parsing, imports nothing heavy.
PIXEL_CORRUPTIONS = ("shuffled_pixels", "random_pixels", "gaussian")
GRID_SECTIONS = ("datasets", "models", "corruptions", "regularizers")  # a grid names keys of each


class ConfigError(ValueError):
    """A config that passes the schema but is inconsistent; the message says how to fix it."""


def check_config(config: dict, report_dir: str | None = None) -> None:
    """Raise ConfigError listing every cross-reference problem in a schema-valid config.

    With `report_dir` (workflow/report), also every figure/table without its caption file.
    Warns (ConfigWarning) where a batch is larger than its training set."""
    problems = non_finite_numbers(config) + long_keys(config)
    for name, experiment in config["experiments"].items():
        for index, grid in enumerate(experiment["grids"]):
            where = f"experiments.{name}.grids[{index}]"
            for section in GRID_SECTIONS:
                for key in grid[section]:
                    if key not in config[section]:
                        problems.append(
                            f"{where}.{section}: '{key}' is not defined under '{section}:' "
                            f"(defined: {_known(config, section, key)})"
                        )
            problems += _grid_compatibility(config, grid, where)
    for key, corruption in config["corruptions"].items():
        if corruption["kind"] == "random_labels":
            if "prob" not in corruption:
                problems.append(
                    f"corruptions.{key}: kind random_labels needs 'prob' (a number in [0, 1])"
                )
            if "test" in corruption.get("splits", ["train"]):
                problems.append(
                    f"corruptions.{key}.splits: label corruption applies to the training labels "
                    "only; the paper keeps test labels true. Use splits: [train]"
                )
        elif "prob" in corruption:
            problems.append(f"corruptions.{key}.prob: only kind random_labels takes 'prob'")
    for section in ("models", "regularizers"):
        for key, entry in config[section].items():
            problems += [
                f"{section}.{key}.training.{name}: set it in the top-level training "
                "section only (it says how many jobs share a GPU)"
                for name in RULE_ONLY_KEYS
                if name in entry.get("training", {})
            ]
    for key, model in config["models"].items():
        if model["arch"] == "mlp" and "hidden" not in model:
            problems.append(
                f"models.{key}: arch mlp needs 'hidden' (a list of layer widths, e.g. [512])"
            )
    problems += override_problems(config)
    problems += _theory_references(config)
    problems += _output_references(config)
    if report_dir is not None:
        problems += _missing_captions(config, report_dir)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    # The default target's runs only: the beyond sweeps size their batches by hand (the
    # weight-decay ladder keeps the paper's batch 128 on 64 images, one full-batch step).
    warn_large_batches(
        config,
        all_runs(config),
        lambda run: _run_training(config, run),
    )


def _theory_references(config: dict) -> list[str]:
    """Dataset keys named by the theory section must be defined under 'datasets:'."""
    theory = config.get("theory", {})
    named = [
        ("theory.expressivity.datasets", d)
        for d in theory.get("expressivity", {}).get("datasets", [])
    ]
    named += [
        (f"theory.kernel_solves.{k}.dataset", row["dataset"])
        for k, row in theory.get("kernel_solves", {}).items()
    ]
    return [
        f"{where}: '{key}' is not defined under 'datasets:' (defined: "
        f"{_known(config, 'datasets', key)})"
        for where, key in named
        if key not in config["datasets"]
    ]


def _output_references(config: dict) -> list[str]:
    """Each figure/table must read a defined experiment. Only an entry with
    `requires_dataset` (fig2a, table2: ImageNet only) may name one the config leaves out;
    it is then skipped (output_available)."""
    return [
        f"{section}.{key}.experiment: '{spec['experiment']}' is not defined under 'experiments:' "
        f"(defined: {_known(config, 'experiments', spec['experiment'])}). Add that experiment or "
        f"remove '{key}'"
        for section in ("figures", "tables")
        for key, spec in config.get(section, {}).items()
        if spec["experiment"] not in config["experiments"] and "requires_dataset" not in spec
    ]


def _missing_captions(config: dict, report_dir: str) -> list[str]:
    """The report shows each figure/table with its caption, report_dir/<key>.rst."""
    keys = [
        (section, key)
        for section in ("figures", "tables", "beyond")
        for key in config.get(section, {})
    ]
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
        dataset, corruption = (
            config["datasets"].get(dataset_key),
            config["corruptions"].get(corruption_key),
        )
        if dataset is None or corruption is None:
            continue
        if dataset["name"] in IMAGE_LIST_DATASETS and corruption["kind"] in PIXEL_CORRUPTIONS:
            problems.append(
                f"{where}: pixel corruption '{corruption_key}' ({corruption['kind']}) cannot apply "
                f"to '{dataset_key}' ({dataset['name']}): the paper runs only label randomization "
                "on ImageNet. Use a corruption of kind none or random_labels"
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
def experiment_runs(config: dict, experiment: str) -> list[RunKeys]:
    """The runs of one experiment: the union of its grids, each crossed with its seeds."""
    runs = set()
    for grid in config["experiments"][experiment]["grids"]:
        seeds = grid.get("seeds", config["seeds"])
        for combo in itertools.product(
            grid["datasets"], grid["models"], grid["corruptions"], grid["regularizers"], seeds
        ):
            runs.add(RunKeys(*combo))
    return sorted(runs)


def output_available(config: dict, spec: dict) -> bool:
    """A figure/table exists when its experiment is configured (and, where the spec asks
    for a dataset such as imagenet, when that experiment trains on it)."""
    if spec["experiment"] not in config["experiments"]:
        return False
    needed = spec.get("requires_dataset")
    datasets = {run.dataset for run in experiment_runs(config, spec["experiment"])}
    return needed is None or any(config["datasets"][d]["name"] == needed for d in datasets)


def experiment_target(config: dict, experiment: str) -> str:
    """Which target trains an experiment: `all` (the default) or `beyond`."""
    return config["experiments"][experiment].get("target", "all")


@_memoized
def target_runs(config: dict, target: str) -> list[RunKeys]:
    """Every run of the experiments of one target (all | beyond), each once."""
    return sorted(
        {
            run
            for name in config["experiments"]
            if experiment_target(config, name) == target
            for run in experiment_runs(config, name)
        }
    )


def all_runs(config: dict) -> list[RunKeys]:
    """Every run of `snakemake all`, each once (a run shared by experiments trains once).
    Experiments with ``target: beyond`` are left to `snakemake beyond`."""
    return target_runs(config, "all")


def used_dataset_corruptions(config: dict) -> list[tuple[str, str]]:
    """The (dataset, corruption) pairs that some run needs."""
    return sorted({(run.dataset, run.corruption) for run in all_runs(config)})


# Training keys that only the rules read (how many jobs share a GPU): top-level only.
RULE_ONLY_KEYS = ("runs_per_gpu",)
# Settings a command-line `override` cannot change in a run, and why. (`device` and
# `runs_per_gpu` can: the GPU claim and the check at start read them with the override,
# rule_settings.)
OVERRIDE_REFUSED = {
    "num_threads": "a training job uses the threads Snakemake gives it (--set-threads)",
}


def override_problems(config: dict) -> list[str]:
    """Each key of ``override`` that could not take effect in a run, with the keys that can."""
    refused = [key for key in config.get("override") or {} if key in OVERRIDE_REFUSED]
    if not refused:
        return []
    settable = TRAINING_KEYS + RULE_ONLY_KEYS  # the rules read runs_per_gpu with the override
    allowed = ", ".join(sorted(k for k in settable if k not in OVERRIDE_REFUSED))
    return [
        f"override.{key}: cannot take effect in a run ({OVERRIDE_REFUSED[key]}). "
        f"An override may set: {allowed}"
        for key in refused
    ]


SPEC_SECTIONS = {
    "datasets": "dataset",
    "models": "model",
    "corruptions": "corruption",
    "regularizers": "regularizer",
}


def spec_defaults(schema: dict) -> dict[str, dict]:
    """{section: {key: schema default}} for the four spec sections of config.schema.yaml."""
    return {
        section: {
            key: prop["default"]
            for key, prop in schema["$defs"][name]["properties"].items()
            if "default" in prop
        }
        for section, name in SPEC_SECTIONS.items()
    }


def canonical_spec(spec: dict, defaults: dict) -> dict:
    """A spec without the values its schema fills in by default.

    Snakemake's validate writes schema defaults into the config; identities and random
    streams hash the canonical form, so a default added to the schema later changes no
    run's identity and redraws no saved corruption.
    """
    return {
        key: copy.deepcopy(value)
        for key, value in spec.items()
        if key not in defaults or value != defaults[key]
    }


def _layered_training(config: dict, run: RunKeys) -> dict:
    """Training settings, most specific last: global, the model's, the regularizer's."""
    model, regularizer = config["models"][run.model], config["regularizers"][run.regularizer]
    return (
        copy.deepcopy(config.get("training", {}))
        | model.get("training", {})
        | regularizer.get("training", {})
    )


def _run_training(config: dict, run: RunKeys) -> dict:
    """The layered settings with the command line's `override` on top."""
    return _layered_training(config, run) | config.get("override", {})


def run_settings(config: dict, run: RunKeys) -> dict:
    """One run's settings as its job resolves them: global, its model's, its regularizer's,
    then the command line's `override`. Every reader that asks what a run trains with (the
    preflight, the GPU claim, the user-input checks) reads this, not `training:` alone."""
    return _run_training(config, run)


def rule_settings(config: dict) -> dict:
    """The settings the rules read once for every training job (its GPU claim, runs per
    GPU): the top-level `training:` with `override` on top, and ``device`` the first CUDA
    device any run of the config resolves to (by its model's or regularizer's section),
    so that such a run claims a GPU and meets the preflight's stop."""
    settings = copy.deepcopy(config.get("training", {})) | config.get("override", {})
    if not str(settings.get("device", "auto")).startswith("cuda"):
        runs = set(target_runs(config, "all")) | set(target_runs(config, "beyond"))
        cuda = sorted(
            {
                str(device)
                for device in (run_settings(config, run).get("device") for run in runs)
                if str(device).startswith("cuda")
            }
        )
        if cuda:
            settings["device"] = cuda[0]
    return settings


def experiment_budget(config: dict, experiment: str, run: RunKeys) -> dict:
    """One experiment's budget for one of its runs: max_epochs and whether it stops at
    fit (then max_epochs is only a cap), after the command line's `override`."""
    budget = (
        _layered_training(config, run)
        | config["experiments"][experiment].get("training", {})
        | config.get("override", {})
    )
    return {
        "max_epochs": budget["max_epochs"],
        "stop_when_fitted": bool(budget.get("stop_when_fitted", False)),
    }


def run_experiments(config: dict, run: RunKeys) -> list[str]:
    """The experiments that list ``run`` (memoized per config)."""
    return _experiments_by_run(config).get(run, [])


@_memoized
def _experiments_by_run(config: dict) -> dict:
    by_run: dict = {}
    for name in config.get("experiments", {}):
        for run in experiment_runs(config, name):
            by_run.setdefault(run, []).append(name)
    return by_run


def shared_budget(budgets: list[dict]) -> dict:
    """How a run shared by experiments trains, from each one's budget.

    It trains once, as long as every experiment's read-out needs: at least the longest
    whole budget (min_epochs), then, if some experiment stops at fit, on until the fit
    criterion held or the longest cap (max_epochs). Each experiment then reads its own
    point of the same curve (docs/design.md, "Read-out epochs"): the whole training and
    test sets are scored at every budget and cap (readout_epochs) and, when some
    experiment stops at fit, at the epoch the fit criterion first held (score_at_fit).
    """
    if not budgets:
        return {}
    whole = [b["max_epochs"] for b in budgets if not b["stop_when_fitted"]]
    stops = any(b["stop_when_fitted"] for b in budgets)
    return {
        "max_epochs": max(b["max_epochs"] for b in budgets),
        "stop_when_fitted": stops,
        "min_epochs": max(whole) if stops and whole else 0,
        "readout_epochs": sorted({b["max_epochs"] for b in budgets}),
        "score_at_fit": stops,
    }


def replicates_data(config: dict, run: RunKeys) -> bool:
    """Whether the run draws its own data: the top-level ``replicate_data_seeds``, or every
    experiment listing it replicates (an experiment's own key; true by default for
    ``target: beyond``, whose replicates are meant as independent draws)."""
    if config.get("replicate_data_seeds"):
        return True
    experiments = run_experiments(config, run)
    return bool(experiments) and all(
        config["experiments"][name].get(
            "replicate_data_seeds", experiment_target(config, name) == "beyond"
        )
        for name in experiments
    )


def data_seed_of(config: dict, run: RunKeys) -> int:
    """The run's data seed: the config's, or where it replicates (:func:`replicates_data`)
    its own per replicate (data_seed + seed), so replicates differ in subset and draw."""
    return config.get("data_seed", 0) + (run.seed if replicates_data(config, run) else 0)


def run_spec(config: dict, run: RunKeys, defaults: dict | None = None) -> RunSpec:
    """Resolve one run's keys into its RunSpec (schema defaults removed from its specs;
    ``defaults`` from :func:`spec_defaults`, none removed without it)."""
    defaults = defaults or {}
    model = copy.deepcopy(config["models"][run.model])
    regularizer = copy.deepcopy(config["regularizers"][run.regularizer])
    model.pop("training", None)
    regularizer.pop("training", None)
    training = _run_training(config, run)
    training |= shared_budget(
        [experiment_budget(config, name, run) for name in run_experiments(config, run)]
    )
    for key in RULE_ONLY_KEYS:
        training.pop(key, None)
    specs = {
        section: canonical_spec(spec, defaults.get(section, {}))
        for section, spec in (
            ("models", model),
            ("corruptions", config["corruptions"][run.corruption]),
            ("regularizers", regularizer),
        )
    }
    return RunSpec(
        keys=run,
        dataset_spec=dataset_identity(config, run.dataset, defaults),
        model_spec=specs["models"],
        corruption_spec=specs["corruptions"],
        regularizer_spec=specs["regularizers"],
        data_seed=data_seed_of(config, run),
        training=training,
        model_source=_user_model_source(model),
    )


def dataset_identity(config: dict, key: str, defaults: dict | None = None) -> dict:
    """A dataset's spec as rule prepare_dataset's params and a run's identity hold it:
    schema defaults removed and, for your own data (image_folder, npz, local copies), the
    digest of its files added (rethinkgen.data.content), so changing the data rebuilds
    the split and retrains its runs. Built-in datasets' specs are left as they were."""
    spec = canonical_spec(config["datasets"][key], (defaults or {}).get("datasets", {}))
    if spec.get("name") not in USER_DATA_SOURCES:
        return spec
    content = importlib.import_module("rethinkgen.data.content")
    return content.with_content_digest(spec)


@functools.lru_cache(maxsize=None)
def _source_of(model_json: str) -> dict:
    # Loaded by name, at the first user model: it imports torch, which the analysis rules'
    # environment (envs/analysis.yaml) leaves out and which never reaches this call.
    user_models = importlib.import_module("rethinkgen.training.user_models")
    found = user_models.model_source(json.loads(model_json))
    return {key: value for key, value in found.items() if key != "file"}  # not machine paths


def _user_model_source(model: dict) -> dict | None:
    """A user model's builder or factory and its file's digest (part of its identity)."""
    if model["arch"] not in USER_ARCHS:
        return None
    return _source_of(json.dumps(model, sort_keys=True))


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
        schema = {
            **part,
            **schema,
            "properties": {**part.get("properties", {}), **schema.get("properties", {})},
        }
    return schema


def _child_schema(schema: dict, key: str) -> dict:
    child = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
    return child if isinstance(child, dict) else {}


def _retyped(value, schema: dict, root: dict):
    schema = _resolved(schema, root)
    if isinstance(value, dict):
        return {
            key: _retyped(item, _child_schema(schema, key), root) for key, item in value.items()
        }
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
        if any(
            isinstance(parsed, allowed[t]) and (t == "boolean") == isinstance(parsed, bool)
            for t in types
            if t in allowed
        ):
            return parsed
    return value


def job_run_spec(config: dict, wildcards, identity: dict, schema_path: str) -> RunSpec:
    """The spec a training job runs: rebuilt from the config by :func:`run_spec`, and
    refused unless its identity is the one Snakemake scheduled (rule params)."""
    with open(schema_path) as handle:
        defaults = spec_defaults(yaml.safe_load(handle))
    spec = run_spec(config, RunKeys.of(wildcards), defaults)
    if json.loads(json.dumps(spec.identity(), default=str)) != identity:
        raise ConfigError(
            f"run {spec.keys.subpath}: the config (or your data's files or model code) "
            "changed since Snakemake scheduled this job; run snakemake again"
        )
    return spec
