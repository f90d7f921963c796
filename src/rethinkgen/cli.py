"""The `rethinkgen` command: a run's status, the targets a config offers, its checks, exports.

    rethinkgen status [--configfile F ...] [--experiment E]   # the status table (rethinkgen.status)
    rethinkgen targets [--configfile F ...]                   # short targets and what each makes
    rethinkgen check-config [F ...]                           # the workflow's config checks alone
    rethinkgen export tensorboard|mlflow [--results DIR]      # finished runs to a tracker

Run it from the repository root, as Snakemake. Config files are read as Snakemake reads
``--configfile``: several are merged in order, and they replace the default config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

from rethinkgen import config as config_checks
from rethinkgen import config_load, describe, status, targets

DEFAULT_CONFIG = status.DEFAULT_CONFIG


def schema_dir() -> Path:
    """workflow/schemas of this checkout (editable install), else of the working directory."""
    try:
        return config_load.schema_dir()
    except config_checks.ConfigError as error:
        raise SystemExit(str(error)) from None


def load_checked_config(paths: list[str], user_inputs: bool = True) -> dict:
    """The merged config after every check the workflow makes before its first job
    (rethinkgen.config_load, the one loader); ``user_inputs``: also build your own models
    and read your data."""
    return config_load.load_config(paths, schema_dir(), user_inputs)


def target_rows(config: dict) -> list[tuple[str, str, str]]:
    """(target, what it makes, its files) for `all`, each short target, and `beyond`."""
    rows = [
        (
            "all",
            f"every figure, table and the scorecard; "
            f"{describe.plural(len(config_checks.all_runs(config)), 'run')}",
            "results/figures/, results/tables/",
        )
    ]
    specs = {**config.get("figures", {}), **config.get("tables", {})}
    for name, files in targets.short_targets(config).items():
        key = next((k for k in specs if targets.short_name(k) == name), None)
        spec = specs.get(key)
        if spec is None:  # the scorecard
            what = "the reproduction checks (docs/paper.md), over every run of `all`"
        elif targets.output_available(config, spec):
            runs = len(config_checks.experiment_runs(config, spec["experiment"]))
            kind = describe.KIND_WORDS.get(spec.get("kind"), describe.TABLE_WORDS.get(key, key))
            what = f"{kind}; experiment {spec['experiment']}, {describe.plural(runs, 'run')}"
        else:
            what = "nothing: " + targets.unavailable_reason(key, spec)
        rows.append((name, what, _short(files)))
    for name, files in (
        ("expressivity", ["results/tables/expressivity.md"]),
        ("table3", ["results/tables/table3_kernels.md"]),
    ):
        reason = targets.nothing_to_make(config, name)
        what = (
            "Theorem 1's construction"
            if name == "expressivity"
            else "Table 3, kernel interpolation"
        )
        rows.append((name, reason.split(": ", 1)[1] if reason else what, _short(files)))
    beyond = targets.beyond_outputs(config)
    reason = targets.nothing_to_make(config, "beyond")
    rows.append(
        (
            "beyond",
            reason.split(": ", 1)[1]
            if reason
            else f"{', '.join(beyond)}; "
            f"{describe.plural(len(config_checks.target_runs(config, 'beyond')), 'run')}",
            "" if reason else "results/tables/, results/figures/",
        )
    )
    return rows


def _short(files: list[str]) -> str:
    """results/figures/fig1a.{png,pdf} for a list of one stem in several formats."""
    stems = {f.rsplit(".", 1)[0] for f in files}
    if len(stems) == 1 and len(files) > 1:
        return f"{stems.pop()}.{{{','.join(f.rsplit('.', 1)[1] for f in files)}}}"
    return ", ".join(files)


def _configfile_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument(
        "--configfile",
        nargs="+",
        default=[DEFAULT_CONFIG],
        help=f"as given to snakemake; replaces the default {DEFAULT_CONFIG}",
    )
    return parser


def cmd_targets(argv: list[str]) -> int:
    args = _configfile_parser("rethinkgen targets").parse_args(argv)
    config = load_checked_config(args.configfile)
    print(
        tabulate(
            target_rows(config),
            headers=["target", "what it makes", "files"],
            maxcolwidths=[None, 64, None],
        )
    )
    print(
        f"\nBuild one with: snakemake --cores 2 <target> --configfile {' '.join(args.configfile)}"
    )
    return 0


def cmd_check_config(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rethinkgen check-config",
        description="the workflow's config checks, without running it",
    )
    parser.add_argument(
        "configfile",
        nargs="*",
        default=[DEFAULT_CONFIG],
        help=f"config files, merged in order as snakemake --configfile (default {DEFAULT_CONFIG})",
    )
    args = parser.parse_args(argv)
    config = load_checked_config(args.configfile)
    beyond = len(config_checks.target_runs(config, "beyond"))
    print(
        f"{' + '.join(args.configfile)}: valid. {len(config['experiments'])} experiments; "
        f"`snakemake all` trains {len(config_checks.all_runs(config))} runs, `snakemake beyond` "
        f"{beyond}; {len(config.get('figures', {}))} figures, {len(config.get('tables', {}))} "
        "tables configured."
    )
    return 0


def cmd_export(argv: list[str]) -> int:
    from rethinkgen.export import main as export_main

    return export_main(argv)


COMMANDS = {
    "status": None,
    "targets": cmd_targets,
    "check-config": cmd_check_config,
    "export": cmd_export,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(
            __doc__.strip(),
            file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "status":
            status.main(rest)
            return 0
        return COMMANDS[command](rest)
    except config_checks.ConfigError as error:
        print(f"rethinkgen {command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
