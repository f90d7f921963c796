"""Which files a config can build: every target list of the workflow (`rule all`, the
short targets such as `snakemake fig1a`, the scorecard's inputs and the theory tables)."""

from __future__ import annotations

from rethinkgen.config import experiment_runs

FIGURE_FORMATS = ("png", "pdf", "parquet")  # parquet: the data the figure drew
TABLE_FORMATS = ("parquet", "md", "tex", "html")
AGGREGATED = {"runs": "results/tables/runs.parquet", "curves": "results/tables/curves.parquet"}
# The theory rules' tables (theory.smk), by the scorecard's name for each.
THEORY_TABLES = {"expressivity": "expressivity", "kernels": "table3_kernels"}
THEORY_FORMATS = ("parquet", "md")


def output_available(config: dict, spec: dict) -> bool:
    """A figure/table exists when its experiment is configured (and, where the spec asks
    for a dataset such as imagenet, when that experiment trains on it)."""
    if spec["experiment"] not in config["experiments"]:
        return False
    needed = spec.get("requires_dataset")
    datasets = {run.dataset for run in experiment_runs(config, spec["experiment"])}
    return needed is None or any(config["datasets"][d]["name"] == needed for d in datasets)


def unavailable_reason(key: str, spec: dict) -> str:
    dataset = f" on a {spec['requires_dataset']} dataset" if spec.get("requires_dataset") else ""
    return f"{key} needs experiment '{spec['experiment']}'{dataset}; the config does not define it"


def short_name(key: str) -> str:
    """`snakemake fig1a` builds fig1a_learning_curves: the key up to its first '_'."""
    return key.split("_")[0]


def figure_files(key: str) -> list[str]:
    return [f"results/figures/{key}.{ext}" for ext in FIGURE_FORMATS]


def table_files(key: str) -> list[str]:
    return [f"results/tables/{key}.{ext}" for ext in TABLE_FORMATS]


def scorecard_files() -> list[str]:
    """The scorecard (rule make_scorecard), in the paper tables' formats."""
    return table_files("scorecard")


def theory_targets(config: dict) -> list[str]:
    """The theory rules' final tables (none when the config has no theory section)."""
    if "theory" not in config:
        return []
    return [
        f"results/tables/{table}.{ext}"
        for table in THEORY_TABLES.values()
        for ext in THEORY_FORMATS
    ]


def scorecard_inputs(config: dict) -> dict[str, str]:
    """What the scorecard reads: every run's summary and curves, and the theory tables
    (Parquet) when the config has a theory section."""
    theory = {name: f"results/tables/{table}.parquet" for name, table in THEORY_TABLES.items()}
    return AGGREGATED | (theory if "theory" in config else {})


def report_targets(config: dict) -> list[str]:
    """Every final output the configured experiments allow (theory: theory_targets)."""
    figures = [
        f
        for k, s in config.get("figures", {}).items()
        if output_available(config, s)
        for f in figure_files(k)
    ]
    tables = [
        f
        for k, s in config.get("tables", {}).items()
        if output_available(config, s)
        for f in table_files(k)
    ]
    return [AGGREGATED["curves"], AGGREGATED["runs"]] + figures + tables + scorecard_files()


def short_targets(config: dict) -> dict[str, list[str]]:
    """Short rule name -> the files it builds, for every figure and table key and the scorecard."""
    targets = {short_name(k): figure_files(k) for k in config.get("figures", {})}
    targets |= {short_name(k): table_files(k) for k in config.get("tables", {})}
    return targets | {"scorecard": scorecard_files()}


# ---- `snakemake beyond` (rethinkgen.analysis.beyond builds the outputs)
FIGURE_KINDS = (
    "memorization_dynamics",
    "capacity_vs_samples",
    "expressivity_activations",
    "weight_decay_failure",
    "example_learning",
)
RUN_INFO_KINDS = ("weight_decay_failure",)  # read the runs' run_info.json (weight norms)
THEORY_KINDS = ("expressivity_activations",)


def beyond_outputs(config: dict) -> dict[str, list[str]]:
    """Output key -> the files `snakemake beyond` builds for it."""
    outputs = {}
    for key, spec in config.get("beyond", {}).items():
        files = [f"results/tables/{key}.{ext}" for ext in ("parquet", "md")]
        if spec["kind"] in FIGURE_KINDS:
            files += [f"results/figures/{key}.{ext}" for ext in ("png", "pdf")]
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


# ---- `snakemake fig9`: Snakemake itself says only "No rule to produce fig9"
def bare_words(argv: list[str], known: set[str]) -> list[str]:
    """Words on a command line that could be rule targets but name no rule (a cheap
    pre-filter: option values such as `--quiet rules` are weeded out by `requested_targets`)."""
    return [
        a
        for a in argv
        if a.replace("_", "").replace("-", "").isalnum() and a[0].isalpha() and a not in known
    ]


def requested_targets(argv: list[str]) -> list[str]:
    """The targets Snakemake's own parser reads from `argv` (its command line)."""
    from snakemake.cli import get_argument_parser

    try:
        return list(get_argument_parser().parse_known_args(argv)[0].targets or [])
    except SystemExit:  # a command line Snakemake itself will refuse, in its own words
        return []


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
        f"{', '.join(sorted(target_rules))}; or any output file, e.g. results/figures/"
        "fig1a_learning_curves.pdf. `snakemake --list-target-rules` lists them too"
    )


# ---- targets that a config may leave empty: say so, and why, instead of "1 of 1 steps done"
def nothing_to_make(config: dict, target: str) -> str | None:
    """Why `snakemake <target>` has nothing to build under this config (None: it has work)."""
    if target == "beyond" and not config.get("beyond"):
        return (
            "snakemake beyond: nothing to make: this config has no `beyond:` section, so "
            "there are no beyond-the-paper outputs to build. config/quick.yaml and "
            "config/config.yaml have one (docs/beyond.md); add one or pass one of those "
            "with --configfile."
        )
    if target in ("expressivity", "table3") and "theory" not in config:
        return (
            f"snakemake {target}: nothing to make: this config has no `theory:` section "
            "(Theorem 1 and Table 3 are configured there; config/quick.yaml has one)."
        )
    return None


def require_something(config: dict, target: str, files: list[str]) -> list[str]:
    """The target's files, or an error saying why there are none (for an input function)."""
    reason = nothing_to_make(config, target)
    if reason:
        raise ValueError(reason)
    return files
