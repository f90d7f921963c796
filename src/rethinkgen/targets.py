"""Which files a config can build: every target list of the workflow (`rule all`, the
short targets such as `snakemake fig1a`, the scorecard's inputs and the theory tables)."""

from __future__ import annotations

from rethinkgen.config import data_seed_of, experiment_runs, output_available
from rethinkgen.layout import results_dir

FIGURE_FORMATS = ("png", "pdf", "parquet")  # parquet: the data the figure drew
TABLE_FORMATS = ("parquet", "md", "tex", "html")
# Below the config's results folder (rethinkgen.layout):
AGGREGATED = {"runs": "tables/runs.parquet", "curves": "tables/curves.parquet"}
EXPERIMENT_TABLE = "tables/experiments/{experiment}/{name}.parquet"
# Corrupted data, per data seed (replicate_data_seeds gives each replicate its own).
CORRUPTED_DIR = "data/{dataset}/{corruption}/data_seed{data_seed}"
# The theory rules' tables (theory.smk), by the scorecard's name for each.
THEORY_TABLES = {"expressivity": "expressivity", "kernels": "table3_kernels"}
THEORY_FORMATS = ("parquet", "md")


def unavailable_reason(key: str, spec: dict) -> str:
    dataset = f" on a {spec['requires_dataset']} dataset" if spec.get("requires_dataset") else ""
    return f"{key} needs experiment '{spec['experiment']}'{dataset}; the config does not define it"


def short_name(key: str) -> str:
    """`snakemake fig1a` builds fig1a_learning_curves: the key up to its first '_'."""
    return key.split("_")[0]


def aggregated(config: dict) -> dict[str, str]:
    """Every run's summary and curves, under the config's results folder."""
    return {name: f"{results_dir(config)}/{path}" for name, path in AGGREGATED.items()}


def figure_files(config: dict, key: str) -> list[str]:
    return [f"{results_dir(config)}/figures/{key}.{ext}" for ext in FIGURE_FORMATS]


def table_files(config: dict, key: str) -> list[str]:
    return [f"{results_dir(config)}/tables/{key}.{ext}" for ext in TABLE_FORMATS]


def scorecard_files(config: dict) -> list[str]:
    """The scorecard (rule make_scorecard), in the paper tables' formats."""
    return table_files(config, "scorecard")


def theory_targets(config: dict) -> list[str]:
    """The theory rules' final tables (none when the config has no theory section)."""
    if "theory" not in config:
        return []
    return [
        f"{results_dir(config)}/tables/{table}.{ext}"
        for table in THEORY_TABLES.values()
        for ext in THEORY_FORMATS
    ]


def scorecard_experiments(config: dict) -> dict[str, list[str]]:
    """Each group of checks -> the experiments whose read-outs it judges
    (rethinkgen.analysis.scorecard.SOURCES)."""
    from rethinkgen.analysis.scorecard import source_experiments  # pandas: import when used

    return source_experiments(config)


def scorecard_draws(config: dict) -> list[dict]:
    """The random-label draws (p = 1) of the scorecard's runs: keys and train/test files,
    from which the chance checks measure each draw's expected chance level."""
    experiments = sorted({e for names in scorecard_experiments(config).values() for e in names})
    draws = {}
    for experiment in experiments:
        for run in experiment_runs(config, experiment):
            spec = config["corruptions"][run.corruption]
            if spec["kind"] != "random_labels" or spec.get("prob", 1.0) != 1.0:
                continue
            keys = {
                "dataset": run.dataset,
                "corruption": run.corruption,
                "data_seed": data_seed_of(config, run),
            }
            folder = f"{results_dir(config)}/{CORRUPTED_DIR.format(**keys)}"
            draws[folder] = keys | {s: f"{folder}/{s}.npz" for s in ("train", "test")}
    return [draws[k] for k in sorted(draws)]


def scorecard_inputs(config: dict) -> dict[str, str | list[str]]:
    """What the scorecard reads: each of its experiments' runs and curves (`runs_<name>`,
    `curves_<name>`), the random-label draws' files (`draws`) and the theory tables
    (Parquet) when the config has a theory section."""
    results = results_dir(config)
    experiments = sorted({e for names in scorecard_experiments(config).values() for e in names})
    tables = {
        f"{name}_{e}": f"{results}/{EXPERIMENT_TABLE.format(experiment=e, name=name)}"
        for e in experiments
        for name in ("runs", "curves")
    }
    draws = [d[s] for d in scorecard_draws(config) for s in ("train", "test")]
    theory = {name: f"{results}/tables/{table}.parquet" for name, table in THEORY_TABLES.items()}
    return tables | {"draws": draws} | (theory if "theory" in config else {})


def report_targets(config: dict) -> list[str]:
    """Every final output the configured experiments allow (theory: theory_targets)."""
    figures = [
        f
        for k, s in config.get("figures", {}).items()
        if output_available(config, s)
        for f in figure_files(config, k)
    ]
    tables = [
        f
        for k, s in config.get("tables", {}).items()
        if output_available(config, s)
        for f in table_files(config, k)
    ]
    summary = aggregated(config)
    return [summary["curves"], summary["runs"]] + figures + tables + scorecard_files(config)


def short_targets(config: dict) -> dict[str, list[str]]:
    """Short rule name -> the files it builds, for every figure and table key and the scorecard."""
    targets = {short_name(k): figure_files(config, k) for k in config.get("figures", {})}
    targets |= {short_name(k): table_files(config, k) for k in config.get("tables", {})}
    return targets | {"scorecard": scorecard_files(config)}


# ---- `snakemake beyond` (rethinkgen.analysis.beyond builds the outputs)
FIGURE_KINDS = (
    "memorization_dynamics",
    "capacity_vs_samples",
    "expressivity_activations",
    "weight_decay_failure",
    "example_learning",
)
# Each output's tables: per-run rows (what its finding is derived from), per-epoch curves,
# and the Markdown with the finding.
BEYOND_TABLE_FILES = (".parquet", "_curves.parquet", ".md")
THEORY_KINDS = ("expressivity_activations",)


def beyond_outputs(config: dict) -> dict[str, list[str]]:
    """Output key -> the files `snakemake beyond` builds for it."""
    outputs, results = {}, results_dir(config)
    for key, spec in config.get("beyond", {}).items():
        files = [f"{results}/tables/beyond/{key}{tail}" for tail in BEYOND_TABLE_FILES]
        if spec["kind"] in FIGURE_KINDS:
            files += [f"{results}/figures/beyond/{key}.{ext}" for ext in ("png", "pdf")]
        outputs[key] = files
    return outputs


def check_beyond(config: dict) -> list[str]:
    """Problems with the `beyond:` section: each output reads an experiment that exists
    and has `target: beyond` (otherwise `snakemake all` would train it)."""
    problems = []
    for key, spec in config.get("beyond", {}).items():
        name = spec["experiment"]
        experiment = config["experiments"].get(name)
        if experiment is None:
            problems.append(
                f"beyond.{key}.experiment: '{name}' is not defined under 'experiments:'"
            )
        elif experiment.get("target", "all") != "beyond":
            problems.append(
                f"beyond.{key}.experiment: experiment '{name}' must set `target: beyond`"
            )
        if spec["kind"] in THEORY_KINDS and "theory" not in spec:
            problems.append(f"beyond.{key}: kind {spec['kind']} needs a `theory:` section")
    return problems


# ---- `snakemake fig9`: Snakemake itself says only "No rule to produce fig9" (the
# Snakefile's rule unknown_target asks this instead)
def unknown_target_message(
    targets: list[str], target_rules: list[str], existing=lambda p: False
) -> str | None:
    """Which bare-word targets name no rule, with the rules that can be targets."""
    unknown = [
        t
        for t in targets
        if "/" not in t and "." not in t and t not in target_rules and not existing(t)
    ]
    if not unknown:
        return None
    return (
        f"no target named {', '.join(repr(t) for t in unknown)}. Targets: "
        f"{', '.join(sorted(target_rules))}; or any output file, e.g. results/config/figures/"
        "fig1a_learning_curves.pdf. `snakemake --list-target-rules` lists them too"
    )


# ---- targets that a config may leave empty: say so, and why, instead of "1 of 1 steps done"
def nothing_to_make(config: dict, target: str) -> str | None:
    """Why `snakemake <target>` has nothing to build under this config (None: it has work)."""
    if target == "beyond" and not config.get("beyond"):
        return (
            "snakemake beyond: nothing to make: this config has no `beyond:` section, so "
            "there are no beyond-the-paper outputs to build. config/config.yaml and "
            "config/paper.yaml have one (docs/beyond.md); add one or pass one of those "
            "with --configfile."
        )
    if target in ("expressivity", "table3") and "theory" not in config:
        return (
            f"snakemake {target}: nothing to make: this config has no `theory:` section "
            "(Theorem 1 and Table 3 are configured there; config/config.yaml has one)."
        )
    return None


def require_something(config: dict, target: str, files: list[str]) -> list[str]:
    """The target's files, or an error saying why there are none (for an input function)."""
    reason = nothing_to_make(config, target)
    if reason:
        raise ValueError(reason)
    return files
