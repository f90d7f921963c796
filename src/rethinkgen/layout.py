"""Where a config lives and where its results go: the one resolution the Snakefile and the
`rethinkgen` command share.

* No ``--configfile``: ``config/config.yaml``, the offline default a user edits.
* Several ``--configfile``: merged in order, and together they replace the default.
* Every file a config makes (data it corrupts, runs, checkpoints, logs, tables, figures,
  its report) goes under one folder: the config's ``results:`` key, else
  ``results/<config name>`` (``results/config`` for config/config.yaml, ``results/
  large`` for config/large.yaml, ``results/config+fast`` for two files merged). Only the
  prepared datasets under ``resources/`` are shared. The folder is a path prefix and
  nothing more: no run's identity or rule params contain it, so an existing results
  folder moved into it (docs/operations.md, "Results per config") is up to date there.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CONFIG = "config/config.yaml"
RESULTS_ROOT = "results"


class CheckoutError(Exception):
    """The command was run outside a checkout of this workflow."""


def config_name(configfiles: list[str] | tuple[str, ...]) -> str:
    """`large` for config/large.yaml; the stems joined by '+' for several merged files."""
    return "+".join(Path(path).name.rsplit(".", 1)[0] for path in configfiles)


def default_results(configfiles: list[str] | tuple[str, ...]) -> str:
    """results/<config name>; plain results/ when no file is known (a module's config)."""
    if not configfiles:
        return RESULTS_ROOT
    return f"{RESULTS_ROOT}/{config_name(configfiles)}"


def results_dir(config: dict, configfiles: list[str] | tuple[str, ...] = ()) -> str:
    """The config's results folder: its `results:` key, else `default_results`."""
    given = config.get("results")
    return str(given).rstrip("/") if given else default_results(configfiles)


def resolve(config: dict, configfiles: list[str] | tuple[str, ...]) -> dict:
    """Fill in the results folder as the workflow sees it (the config, modified in place)."""
    config["results"] = results_dir(config, configfiles)
    return config


def checkout_root(start: Path | None = None) -> Path:
    """The working directory when it is a checkout's root (Snakefile and config/ there);
    otherwise an error that says where to run from."""
    here = Path.cwd() if start is None else Path(start)
    if (here / "Snakefile").is_file() and (here / "config").is_dir():
        return here
    above = next(
        (p for p in here.parents if (p / "Snakefile").is_file() and (p / "config").is_dir()),
        None,
    )
    where = f"cd {above} first" if above else "cd into your clone of rethinkgen first"
    raise CheckoutError(
        f"{here} is not the root of a rethinkgen checkout (no Snakefile and config/ here): "
        f"run rethinkgen from the repository root, as snakemake; {where}"
    )
