"""Which figure and table files a config can build (used by the workflow's `rule all`)."""

from __future__ import annotations

from rethinkgen.config import experiment_runs

FIGURE_FORMATS = ("png", "pdf")
TABLE_FORMATS = ("parquet", "md", "tex", "html")


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


def report_targets(config: dict) -> list[str]:
    """Every final output the configured experiments allow."""
    figures = [f for k, s in config.get("figures", {}).items() if output_available(config, s) for f in figure_files(k)]
    tables = [f for k, s in config.get("tables", {}).items() if output_available(config, s) for f in table_files(k)]
    aggregated = ["results/tables/curves.parquet", "results/tables/runs.parquet"]
    return aggregated + figures + tables + table_files("scorecard")


def short_targets(config: dict) -> dict[str, list[str]]:
    """Short rule name -> the files it builds, for every figure and table key."""
    targets = {short_name(k): figure_files(k) for k in config.get("figures", {})}
    targets |= {short_name(k): table_files(k) for k in [*config.get("tables", {}), "scorecard"]}
    return targets
