"""The `rethinkgen` command (click): a run's status, a config's targets and checks, two
result sets compared, exports to trackers, shell completion.

Run it from the repository root, as Snakemake. Config files are read as Snakemake reads
``--configfile`` and resolved by the same function (rethinkgen.layout): several are merged
in order and replace the default config/config.yaml, and a config's outputs are under its
results folder (``results:``, default results/<config name>).
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import click
from tabulate import tabulate

from rethinkgen import __version__, config_load, layout, status
from rethinkgen import config as config_checks

DEFAULT_CONFIG = layout.DEFAULT_CONFIG
SHELLS = ("bash", "zsh", "fish")


def schema_dir() -> Path:
    """workflow/schemas of this checkout (editable install), else of the working directory."""
    try:
        return config_load.schema_dir()
    except config_checks.ConfigError:
        raise layout.CheckoutError(
            "workflow/schemas not found: run rethinkgen from the repository root, as snakemake"
        ) from None


def load_checked_config(paths: list[str], user_inputs: bool = True) -> dict:
    """The merged config after every check the workflow makes before its first job
    (rethinkgen.config_load, the one loader); ``user_inputs``: also build your own models
    and read your data."""
    return config_load.load_config(paths, schema_dir(), user_inputs)


def resolve_configfiles(given: tuple[str, ...] | list[str]) -> list[str]:
    """The config files a command reads: those given, else the default, as Snakemake does;
    outside a checkout, an error that says where to run from rather than "not found"."""
    files = list(given) or [DEFAULT_CONFIG]
    missing = [f for f in files if not Path(f).is_file()]
    if missing and not Path(missing[0]).is_absolute():
        layout.checkout_root()  # raises CheckoutError: not the repository root
    return files


def resolved_config(
    given: tuple[str, ...] | list[str], user_inputs: bool = True
) -> tuple[list[str], dict]:
    """(config files, checked config with its results folder): what the workflow would use;
    without ``user_inputs``, your own models and images are not built or decoded."""
    files = resolve_configfiles(given)
    return files, layout.resolve(load_checked_config(files, user_inputs), files)


def package_version() -> str:
    try:
        return metadata.version("rethinkgen")
    except metadata.PackageNotFoundError:  # run from src/ without an install
        return __version__


class Commands(click.Group):
    """Commands in the order they are defined; an unknown one is named with the list."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise click.UsageError(
                f"unknown command '{name}'. Commands: {', '.join(self.list_commands(ctx))} "
                "(rethinkgen --help says what each does)",
                ctx,
            )
        return super().resolve_command(ctx, args)


CONFIGFILE = click.option(
    "--configfile",
    "configfiles",
    multiple=True,
    metavar="FILE",
    help=f"a config file, as given to snakemake (repeat for several, merged in order); "
    f"replaces the default {DEFAULT_CONFIG}",
)
RESULTS = click.option(
    "--results",
    metavar="DIR",
    help="the results folder (default: the config's, results/<config name>)",
)


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_version(), "--version", "-V", prog_name="rethinkgen")
def app() -> None:
    """Zhang et al. (ICLR 2017) reproduced as a Snakemake workflow: watch its runs, list and
    check what a config builds, compare two configs' results, export runs to trackers.

    Run from the repository root. Build with snakemake (README); these commands only read.
    """


@app.command("status")
@CONFIGFILE
@RESULTS
@click.option("--experiment", metavar="NAME", help="only this experiment's runs")
@click.option(
    "--stale-after",
    type=float,
    default=30.0,
    show_default=True,
    metavar="MINUTES",
    help="a run on another host that wrote no progress for this long (or three epoch "
    "times) is failed",
)
def status_command(configfiles, results, experiment, stale_after) -> None:
    """Where every run stands: status, accuracies, time left.

    Every run of the config, with each accuracy's epoch and the time left; read from the
    runs' files only, so it works while snakemake runs (watch -n 30 rethinkgen status).
    """
    _, config = resolved_config(configfiles, user_inputs=False)
    status.show(config, results or config["results"], experiment, stale_after)


@app.command("targets")
@CONFIGFILE
def targets_command(configfiles) -> None:
    """Short targets of a config and what each makes.

    Every `snakemake <target>` the config offers (all, each figure and table, scorecard,
    expressivity, table3, beyond, memorize), with its files, or why it has nothing to make.
    """
    from rethinkgen.target_list import target_rows

    files, config = resolved_config(configfiles, user_inputs=False)
    click.echo(
        tabulate(
            target_rows(config),
            headers=["target", "what it makes", "files"],
            maxcolwidths=[None, 64, None],
        )
    )
    given = f" --configfile {' '.join(files)}" if configfiles else ""
    click.echo(f"\nBuild one with: .venv/bin/snakemake --cores 2 <target>{given}")


@app.command("check-config")
@click.argument("configfiles", nargs=-1, metavar="[FILE]...")
def check_config_command(configfiles) -> None:
    """Check config files as the workflow would.

    The schemas and cross-checks the workflow runs before its first job, without running
    anything; FILE... as given to snakemake --configfile (default config/config.yaml).
    """
    files, config = resolved_config(configfiles)
    beyond = len(config_checks.target_runs(config, "beyond"))
    click.echo(
        f"{' + '.join(files)}: valid. {len(config['experiments'])} experiments; "
        f"`snakemake all` trains {len(config_checks.all_runs(config))} runs, `snakemake beyond` "
        f"{beyond}; {len(config.get('figures', {}))} figures, {len(config.get('tables', {}))} "
        f"tables configured; results in {config['results']}/."
    )


def _results_folder(given: str) -> str:
    """A results folder, or the folder of a config file (its `results:` or default)."""
    if given.endswith((".yaml", ".yml")):
        return resolved_config([given], user_inputs=False)[1]["results"]
    if not Path(given).is_dir():
        raise click.ClickException(
            f"{given} does not exist: give a results folder a build made (results/<config "
            "name>) or the config file that made it"
        )
    return given


@app.command("compare")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--max-rows", type=int, default=30, show_default=True, help="rows per file")
@click.option("--out", type=click.Path(dir_okay=False), help="also write the Markdown here")
def compare_command(a, b, max_rows, out) -> None:
    """Two configs' results side by side (A, B, B - A).

    Every table and figure both result sets hold, row by row: each value in A, in B and
    their difference.

    A and B are results folders (results/config) or config files (config/smoke.yaml).
    """
    from rethinkgen.analysis.compare import compare_results, render

    folder_a, folder_b = _results_folder(a), _results_folder(b)
    text = render(*compare_results(Path(folder_a), Path(folder_b)), folder_a, folder_b, max_rows)
    click.echo(text)
    if out:
        Path(out).write_text(text)


@app.command("export")
@click.argument("tracker", type=click.Choice(["tensorboard", "mlflow"]))
@CONFIGFILE
@RESULTS
@click.option("--out", metavar="DIR", help="where to write (default <results>/<tracker>_export)")
@click.option("--experiment", default="rethinkgen", show_default=True, help="MLflow experiment")
def export_command(tracker, configfiles, results, out, experiment) -> None:
    """Send finished runs to TensorBoard or MLflow.

    Every finished run of the results folder: its settings, final metrics and curves.
    """
    from rethinkgen.export import export

    if results is None:
        results = resolved_config(configfiles, user_inputs=False)[1]["results"]
    export(tracker, results, out, experiment)


@app.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_command(shell) -> None:
    """Print the shell completion script.

    Enable it with: eval "$(rethinkgen completion bash)" (or zsh, fish), e.g. in ~/.bashrc.
    """
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)(app, {}, "rethinkgen", "_RETHINKGEN_COMPLETE")
    click.echo(complete.source())


def main(argv: list[str] | None = None) -> int:
    """The console script: the exit status (0 done, 1 a config or checkout problem, 2 usage)."""
    try:
        app.main(args=argv, prog_name="rethinkgen", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        return 1
    except (config_checks.ConfigError, layout.CheckoutError) as error:
        command = next((a for a in (argv or sys.argv[1:]) if not a.startswith("-")), "")
        click.echo(f"rethinkgen {command}: {error}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
