# Config validation and the input/params functions of every rule.
import functools
import os

import yaml
from snakemake.exceptions import WorkflowError

# The Snakefile put src/ on sys.path (WORKFLOW_DIR).
from rethinkgen.config import (
    ConfigError,
    all_runs,
    canonical_spec,
    data_seed_of,
    dataset_identity,
    experiment_budget,
    experiment_runs,
    rule_settings,
    run_settings,
    run_spec,
    spec_defaults,
)
from rethinkgen.config_load import check_loaded_config
from rethinkgen.run import RUN_PATTERN, RunKeys, RunPaths
from rethinkgen.describe import settings_caption
from rethinkgen.targets import output_available, short_targets, unavailable_reason
from rethinkgen import preflight, targets
from rethinkgen.theory import memory as theory_memory
from rethinkgen.training import cost as training_cost
from rethinkgen.training import console, gpu_share

SCHEMA_DIR = os.path.join(WORKFLOW_DIR, "workflow", "schemas")
REPORT_DIR = os.path.join(WORKFLOW_DIR, "workflow", "report")

# Every check the `rethinkgen` command makes too (rethinkgen.config_load), before any job.
check_loaded_config(config, SCHEMA_DIR)
# What validate fills in; run identities and corruption streams leave these values out.
with open(os.path.join(SCHEMA_DIR, "config.schema.yaml")) as f:
    SPEC_DEFAULTS = spec_defaults(yaml.safe_load(f))

# Every output of this config goes under its results folder (the Snakefile resolved it:
# `results:` or results/<config name>; rethinkgen.layout). Prepared datasets are shared.
RESULTS = config["results"]


def res(path):
    """A path under this config's results folder."""
    return f"{RESULTS}/{path}"


# Every file of a run, as wildcard patterns (rethinkgen.run: the one spelling).
RUN_PATHS = RunPaths.of(RUN_PATTERN, RESULTS)
# Prepared and corrupted data, per data seed (replicate_data_seeds gives each replicate its own).
DATASET_DIR = "resources/datasets/{dataset}/data_seed{data_seed}"
CORRUPTED_DIR = res(targets.CORRUPTED_DIR)


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    model="|".join(config["models"]),
    corruption="|".join(config["corruptions"]),
    regularizer="|".join(config["regularizers"]),
    seed=r"\d+",
    data_seed=r"\d+",
    split="train|test",


@functools.lru_cache(maxsize=None)
def _run_spec(run):
    return run_spec(config, run, SPEC_DEFAULTS)


def get_run_spec(wildcards):
    """The RunSpec of the run named by the wildcards (see docs/design.md)."""
    return _run_spec(RunKeys.of(wildcards))


def get_run_identity(wildcards):
    """What the run's result is: rule train_model's params, so a scheduling setting
    (threads, evaluation batch, TensorBoard, ...) changes nothing Snakemake compares."""
    return get_run_spec(wildcards).identity()


def get_run_data(wildcards):
    """The run's corrupted training and test splits, at its data seed."""
    spec = get_run_spec(wildcards)
    place = dict(
        dataset=spec.keys.dataset,
        corruption=spec.keys.corruption,
        data_seed=spec.data_seed,
    )
    output = rules.corrupt_dataset.output
    return {
        split: getattr(output, split).format(**place) for split in ("train", "test")
    }


# Training jobs' priorities are 0-100 (rethinkgen.training.cost); the data jobs that
# unlock them come first, or a cheap run whose data is ready would start before them.
DATA_PRIORITY = training_cost.MAX_PRIORITY + 1


def get_run_priority(wildcards):
    """The run's estimated cost on a log scale (longest first; rethinkgen.training.cost)."""
    return training_cost.priority(get_run_spec(wildcards).to_dict())


# GPUs a training job claims (rethinkgen.training.gpu_share.train_job_resources): a whole
# `gpu` only with `training.device: cuda` and `runs_per_gpu: 1`; its share in `gpu_slots`.
# Decided from config, never by probing the submit host: `device: auto` claims nothing and
# still trains on a GPU where the job's host has one; `--set-resources train_model:gpu=1`
# (e.g. in a profile) claims one without changing the config. Constants, not functions:
# Snakemake skips a call per job (10,000 jobs).
# Read with `override` and every run's own device (rethinkgen.config.rule_settings).
RULE_SETTINGS = rule_settings(config)
TRAIN_RESOURCES = gpu_share.train_job_resources(RULE_SETTINGS)


# `--resources gpu=G` with k runs per GPU: at most G * k training jobs at once, and each
# job takes one of those slots' GPUs (CUDA_VISIBLE_DEVICES; see gpu_share.pin_to_gpu_slot).
def _resource_value(name):
    resource = workflow.global_resources.get(name)
    return getattr(resource, "value", resource)


RUNS_PER_GPU = gpu_share.runs_per_gpu(RULE_SETTINGS)
GPU_SLOT_LIMIT = gpu_share.slot_limit(
    _resource_value("gpu"), _resource_value("gpu_slots"), RUNS_PER_GPU
)
if GPU_SLOT_LIMIT is not None:
    workflow.register_resource("gpu_slots", GPU_SLOT_LIMIT)
    print(
        f"gpu_slots={GPU_SLOT_LIMIT}: {_resource_value('gpu')} GPU(s) x "
        f"{RUNS_PER_GPU} training run(s) per GPU",
        file=sys.stderr,
    )
gpu_share.export_slots(_resource_value("gpu"), RUNS_PER_GPU)
# Jobs started from here inherit it: with several cores their progress bars would share
# (and garble) one terminal, so they show none (rethinkgen.training.console).
if console.shared_terminal(workflow.resource_settings.cores):
    os.environ[console.SHARED_TERMINAL_ENV] = "1"


# `device: cuda` without a GPU stops before any job, but only where training jobs run on
# this machine: a Slurm submit host has no GPU, and data, theory and report jobs need none.
# At parse time Snakemake does not yet know the executor (workflow.executor_plugin is None)
# nor whether this is a dry run; onstart runs after both are set and the DAG is built,
# before the first job, and not in dry runs or inside cluster jobs.
onstart:
    executor = getattr(workflow.executor_plugin, "name", None)
    problem = preflight.missing_executor_commands(executor)
    if not problem and workflow.local_exec and not workflow.touch:
        runs = [
            RunKeys.of(job.wildcards)
            for job in workflow.dag.needrun_jobs()
            if preflight.runs_training([job.rule.name])
        ]
        found = preflight.cuda_run(runs, lambda run: run_settings(config, run))
        if found:
            run, settings = found
            where = (
                f" for run {run.subpath} (with its model's settings and override)"
            )
            problem = gpu_share.missing_gpu_message(settings, where)
    if problem:
        raise WorkflowError(problem)


def run_files(runs, name):
    """One output (metrics, info, model) of rule train_model for each run."""
    return [getattr(rules.train_model.output, name).format(**vars(run)) for run in runs]


def experiment_files(wildcards, name="metrics"):
    return run_files(experiment_runs(config, wildcards.experiment), name)


def training_targets():
    """Every declared output of every run, so `all` restores any one that was deleted."""
    return [
        path
        for name in ("metrics", "info", "model")
        for path in run_files(all_runs(config), name)
    ]


def get_dataset_spec(wildcards):
    """The canonical spec; for your own data with its files' digest (rebuilt on change)."""
    return dataset_identity(config, wildcards.dataset, SPEC_DEFAULTS)


def get_corruption_spec(wildcards):
    """The canonical spec: its hash keys the random stream (rethinkgen.data.corruptions)."""
    return canonical_spec(
        config["corruptions"][wildcards.corruption], SPEC_DEFAULTS["corruptions"]
    )


def get_data_seed(wildcards):
    return int(wildcards.data_seed)


def theory_split(dataset, split="train"):
    """The theory rules' prepared dataset: at the config's data seed."""
    split = getattr(rules.prepare_dataset.output, split)
    return split.format(dataset=dataset, data_seed=config["data_seed"])


def get_theory_data(wildcards):
    return theory_split(wildcards.dataset)


def experiment_readouts(wildcards):
    """Each run's budget in this experiment: the epoch its tables read (docs/design.md)."""
    return [
        {**vars(run), **experiment_budget(config, wildcards.experiment, run)}
        for run in experiment_runs(config, wildcards.experiment)
    ]


def unknown_target_input(wildcards):
    """Rule unknown_target: nothing for a file that exists, else which targets there are."""
    if os.path.exists(wildcards.target):
        return []
    target_rules = [r.name for r in workflow.rules if not r.has_wildcards()]
    raise ConfigError(
        targets.unknown_target_message([wildcards.target], target_rules, os.path.exists)
    )


# ---- aggregation, tables and figures (report.smk)
FIGURE_SPECS = config.get("figures", {})
TABLE_SPECS = config.get("tables", {})


def report_targets():
    return targets.report_targets(config)


def experiment_table(name):
    """Input function: the per-experiment aggregated table a figure/table reads."""

    def of(wildcards):
        key = wildcards.get("figure") or wildcards.get("table")
        spec = {**FIGURE_SPECS, **TABLE_SPECS}[key]
        if not output_available(config, spec):
            raise ValueError(unavailable_reason(key, spec))
        table = getattr(rules.aggregate_experiment_runs.output, name)
        return table.format(experiment=spec["experiment"])

    return of


def caption_text(wildcards):
    """Per-output caption: what it reproduces (its .rst), then what this config made it from."""
    key = wildcards.get("figure") or wildcards.get("table")
    spec = {**FIGURE_SPECS, **TABLE_SPECS}[key]
    with open(os.path.join(REPORT_DIR, f"{key}.rst")) as handle:
        return f"{handle.read()}\n{settings_caption(config, spec['experiment'])}"


def experiment_metrics(wildcards):
    return experiment_files(wildcards, "metrics")


def experiment_infos(wildcards):
    return experiment_files(wildcards, "info")


def figure_spec(wildcards):
    return FIGURE_SPECS[wildcards.figure]


# ---- theory experiments (theory.smk)
def theory_targets():
    """Final theory outputs for `rule all` (none when the config has no theory section)."""
    return targets.theory_targets(config)


def theory_short_target(target, files):
    """Input function of `snakemake expressivity` / `table3`: the files, or why there are none."""

    def of(wildcards):
        return targets.require_something(config, target, files)

    return of


def get_expressivity_rows(wildcards):
    return expand(
        rules.fit_expressivity.output.rows,
        dataset=config["theory"]["expressivity"]["datasets"],
    )


def get_kernel_solve_rows(wildcards):
    return expand(
        rules.solve_kernel.output.row, kernel_solve=config["theory"]["kernel_solves"]
    )


def get_kernel_solve_data(wildcards):
    dataset = config["theory"]["kernel_solves"][wildcards.kernel_solve]["dataset"]
    return {split: theory_split(dataset, split) for split in ("train", "test")}


def get_kernel_solve_keys(wildcards):
    """Row keys: the config key, the dataset key and source name, the paper row compared."""
    entry = config["theory"]["kernel_solves"][wildcards.kernel_solve]
    return {
        "kernel_solve": wildcards.kernel_solve,
        "dataset": entry["dataset"],
        "dataset_name": config["datasets"][entry["dataset"]]["name"],
        "paper_row": entry["paper_row"],
    }


def get_kernel_solve_spec(wildcards):
    entry = config["theory"]["kernel_solves"][wildcards.kernel_solve]
    return {k: v for k, v in entry.items() if k not in ("dataset", "paper_row")}


def get_kernel_solve_mem_mb(wildcards):
    """The solve's own peak-memory estimate for its real n and solver (theory/memory.py)."""
    entry = config["theory"]["kernel_solves"][wildcards.kernel_solve]
    dataset = config["datasets"][entry["dataset"]]
    return theory_memory.kernel_solve_plan(entry, dataset)[1] // 10**6


def get_expressivity_mem_mb(wildcards):
    """Theorem 1's fit at the largest sample size of this dataset (theory/memory.py)."""
    return theory_memory.expressivity_mem_mb(
        config["theory"]["expressivity"], config["datasets"][wildcards.dataset]
    )


# ---- beyond the paper (beyond.smk)
from rethinkgen.targets import THEORY_KINDS, beyond_outputs

BEYOND_SPECS = config.get("beyond", {})


wildcard_constraints:
    beyond_key="|".join(BEYOND_SPECS) or "no_beyond_outputs",


def beyond_targets(wildcards):
    """Every beyond output, or an error saying the config has none (targets.nothing_to_make)."""
    files = [path for paths in beyond_outputs(config).values() for path in paths]
    return targets.require_something(config, "beyond", files)


def beyond_spec(wildcards):
    return BEYOND_SPECS[wildcards.beyond_key]


def beyond_caption(wildcards):
    with open(os.path.join(REPORT_DIR, f"{wildcards.beyond_key}.rst")) as handle:
        settings = settings_caption(config, beyond_spec(wildcards)["experiment"])
        return f"{handle.read()}\n{settings}"


def beyond_input(wildcards):
    """The experiment's aggregated runs (and curves), each run's run_info.json (the
    settings it trained with), and the exact solves if any."""
    spec = beyond_spec(wildcards)
    tables = rules.aggregate_experiment_runs.output
    files = {
        "curves": tables.curves.format(experiment=spec["experiment"]),
        "runs": tables.runs.format(experiment=spec["experiment"]),
        "infos": run_files(experiment_runs(config, spec["experiment"]), "info"),
    }
    if spec["kind"] in THEORY_KINDS:
        solves = rules.solve_activations.output.rows
        files["solves"] = solves.format(beyond_key=wildcards.beyond_key)
    return files


def beyond_theory_settings(wildcards):
    return beyond_spec(wildcards)["theory"]


def beyond_theory_data(wildcards):
    dataset = beyond_spec(wildcards)["theory"]["dataset"]
    return theory_split(dataset)


# ---- your own model (own_model.smk; docs/own-model.md)
from rethinkgen.user_inputs import own_model_page, own_model_page_file

OWN_MODEL = own_model_page(config)
OWN_MODEL_PAGE = own_model_page_file(config)


def own_model_page_input(wildcards):
    """The three experiments' tables and every figure the page shows."""
    if OWN_MODEL is None:
        raise ValueError(
            "the page needs an `own_model:` section in the config; "
            "see config/your_model.yaml and docs/own-model.md"
        )
    tables = rules.aggregate_experiment_runs.output
    files = {
        "randomizations": tables.runs.format(experiment=OWN_MODEL["randomizations"]),
        "sweep": tables.runs.format(experiment=OWN_MODEL["sweep"]),
        "dynamics": tables.curves.format(experiment=OWN_MODEL["dynamics"]),
        # beside each run_info.json: its per-example record, if it keeps one
        "infos": run_files(
            sorted(
                {
                    run
                    for part in ("randomizations", "dynamics")
                    for run in experiment_runs(config, OWN_MODEL[part])
                }
            ),
            "info",
        ),
    }
    keys = [
        key
        for part in ("randomizations", "sweep")
        for key in OWN_MODEL[f"{part}_figures"]
    ]
    figures = [rules.plot_figure.output.png.format(figure=key) for key in keys] + [
        rules.beyond_figure.output.png.format(beyond_key=key)
        for part in ("dynamics", "examples")
        for key in OWN_MODEL[f"{part}_figures"]
    ]
    return files | {"figures": figures}


def own_model_source(wildcards):
    """The model's builder or factory and its file's SHA-256 (torch in the main env only)."""
    from rethinkgen.training.user_models import model_source

    return model_source(config["models"][OWN_MODEL["model"]])
