"""Where every run of the configured grid stands, while a local or Slurm run goes on.

    rethinkgen status [--configfile config/config.yaml] [--results results/config]

Built from files alone: each run's ``progress.json`` and ``live_metrics.parquet`` (beside
its checkpoint, written after every epoch by :mod:`rethinkgen.training.live`) and its
``run_info.json`` (written when it ends). A run is

* finished (``stopped at fit, epoch e``, ``trained n epochs; met the fit criterion at e``,
  ``not fitted within n epochs``, ``diverged at epoch e``) when
  ``run_info.json`` exists and no later progress shows it training again;
* ``running at epoch k of n`` when ``progress.json`` exists and its process is alive: on
  this host, its pid exists; on another host (a Slurm node), it wrote progress within
  ``--stale-after`` minutes or three of its epoch times, whichever is longer;
* ``failed`` when progress exists but its process on this host is gone without a
  ``run_info.json`` (its log under logs/train_model/ says why);
* ``stale, last seen ... ago`` when a run on another host wrote no progress within that
  time, or its progress is stamped in the future (a clock skew or a copied file): its
  process cannot be confirmed, so it is not shown as running;
* ``outdated`` when it finished, but under another identity than the config now gives it
  (rule train_model's params): Snakemake will retrain it, so its numbers are not the
  config's;
* ``unreadable: <file>`` when one of its files is truncated or damaged (the rest of the
  table is still shown);
* ``not started`` otherwise.

On this host a process counts as alive only if its pid exists and its start time and the
machine's boot id match what progress.json recorded (rethinkgen.process_identity), so a
reused pid does not make a dead run look alive.

The remaining time is the mean time per epoch so far times the epochs left to
``max_epochs``: an upper bound for a run that stops once it fits.
"""

from __future__ import annotations

import dataclasses
import json
import math
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml
from tabulate import tabulate

from rethinkgen import config_load, process_identity
from rethinkgen.config import ConfigError, all_runs, experiment_runs, run_spec, spec_defaults
from rethinkgen.io import DamagedFileError, read_json
from rethinkgen.run import RunKeys, RunPaths, RunSpec
from rethinkgen.training.live import read_live_metrics

STATES = (
    "not started",
    "running",
    "fitted",
    "finished",
    "diverged",
    "failed",
    "stale",
    "outdated",
    "unreadable",
)
# A progress stamp further ahead than this is not trusted (clocks of cluster nodes differ
# by seconds, not minutes).
FUTURE_SLACK_S = 300.0
# What a damaged file raises when read: JSON, Parquet (pyarrow), or a missing key.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, DamagedFileError)
HEADERS = [
    "dataset",
    "model",
    "corruption",
    "regularizer",
    "seed",
    "status",
    "train acc (epoch)",
    "test acc (epoch)",
    "train loss",
    "elapsed",
    "remaining",
]


@dataclass(frozen=True)
class RunStatus:
    run: RunKeys
    state: str  # one of STATES
    detail: str  # e.g. "running at epoch 3 of 200"
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    train_epoch: int | None = None  # the epoch each accuracy was measured at
    test_epoch: int | None = None
    met_fit: bool = False  # a finished run that met the fit criterion (stopped there or not)
    max_epochs: int | None = None
    train_loss: float | None = None  # of the last epoch's mini-batches (train_online)
    elapsed_s: float | None = None
    remaining_s: float | None = None
    log: Path | None = None


def _age_s(progress: dict, now: datetime) -> float:
    return max(_signed_age_s(progress, now), 0.0)


def _signed_age_s(progress: dict, now: datetime) -> float:
    """Seconds since the progress stamp; negative for a stamp in the future."""
    return (now - datetime.fromisoformat(progress["updated_at"])).total_seconds()


def _seconds_per_epoch(progress: dict) -> float:
    return float(progress["wall_time_s"] or 0.0) / max(int(progress["epoch"]), 1)


def process_alive(progress: dict, now: datetime, stale_after_s: float) -> bool:
    """Whether the process that wrote ``progress`` still trains (the rule in the docstring)."""
    if progress.get("host") == socket.gethostname():
        return process_identity.is_running(progress)
    age = _signed_age_s(progress, now)
    return -FUTURE_SLACK_S <= age <= max(stale_after_s, 3 * _seconds_per_epoch(progress))


def _stale_detail(progress: dict, now: datetime) -> str:
    age = _signed_age_s(progress, now)
    where = f"at epoch {progress['epoch']} of {progress['max_epochs']}"
    host = f" on {progress['host']}" if progress.get("host") else ""
    if age < -FUTURE_SLACK_S:
        return (
            f"stale, last seen {where}{host}, stamped {format_duration(-age)} in the future "
            "(clock skew?)"
        )
    return f"stale, last seen {format_duration(age)} ago {where}{host}"


def _last(metrics: pd.DataFrame | None, split: str, column: str) -> tuple[float | None, int | None]:
    """A split's last value of ``column`` and the epoch it was measured at."""
    if metrics is None:
        return None, None
    rows = metrics[metrics["split"] == split]
    if rows.empty:
        return None, None
    return float(rows[column].iloc[-1]), int(rows["epoch"].iloc[-1])


def _final(info: dict, split: str, column: str) -> tuple[float | None, int | None]:
    last = (info.get("final") or {}).get(split)
    return (None, None) if last is None else (last.get(column), last.get("epoch"))


def _accuracies(read, *args) -> dict:
    """Train accuracy (the whole training set, else the epoch's mini-batches) and test
    accuracy, each with the epoch it was measured at."""
    train, train_epoch = read(*args, "train", "accuracy")
    if train is None:
        train, train_epoch = read(*args, "train_online", "accuracy")
    test, test_epoch = read(*args, "test", "accuracy")
    return dict(
        train_accuracy=train, train_epoch=train_epoch, test_accuracy=test, test_epoch=test_epoch
    )


def _epochs(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def _finished_status(run: RunKeys, info: dict, log: Path) -> RunStatus:
    status, epochs, fitted_at = info["status"], info["epochs"], info.get("epochs_to_fit")
    if status == "fitted":
        state, detail = "fitted", f"stopped at fit, epoch {fitted_at if fitted_at else epochs}"
    elif status == "diverged":
        state, detail = "diverged", f"diverged at epoch {epochs}"
    elif fitted_at:
        state, detail = (
            "finished",
            f"trained {_epochs(epochs)}; met the fit criterion at {fitted_at}",
        )
    else:
        state, detail = "finished", f"not fitted within {_epochs(epochs)}"
    if info.get("mixed_code"):  # resumed across a code change: run_info lists each version
        detail += " (mixed code)"
    return RunStatus(
        run,
        state,
        detail,
        **_accuracies(_final, info),
        met_fit=status == "fitted" or bool(fitted_at),
        max_epochs=epochs,
        train_loss=_final(info, "train_online", "loss")[0],
        elapsed_s=info.get("wall_time_s"),
        remaining_s=0.0,
        log=log,
    )


def _live_status(
    run: RunKeys,
    progress: dict,
    metrics: pd.DataFrame | None,
    log: Path,
    now: datetime,
    stale_after_s: float,
) -> RunStatus:
    epoch, max_epochs = int(progress["epoch"]), int(progress["max_epochs"])
    values = dict(
        **_accuracies(_last, metrics),
        train_loss=_last(metrics, "train_online", "loss")[0],
        log=log,
        max_epochs=max_epochs,
    )
    wall = float(progress["wall_time_s"] or 0.0)
    if not process_alive(progress, now, stale_after_s):
        if progress.get("host") == socket.gethostname():
            detail = f"failed after epoch {epoch} of {max_epochs}"
            return RunStatus(run, "failed", detail, elapsed_s=wall, **values)
        return RunStatus(run, "stale", _stale_detail(progress, now), elapsed_s=wall, **values)
    since_update = _age_s(progress, now)
    if progress["status"] is not None:  # training ended; the outputs are being written
        remaining = 0.0
    elif epoch == 0:  # only the initial evaluation has been timed: no estimate yet
        remaining = None
    else:
        remaining = max(_seconds_per_epoch(progress) * (max_epochs - epoch) - since_update, 0.0)
    return RunStatus(
        run,
        "running",
        f"running at epoch {epoch} of {max_epochs}",
        elapsed_s=wall + since_update,
        remaining_s=remaining,
        **values,
    )


def identity_changes(info: dict, expected: dict) -> list[str] | None:
    """What differs between a finished run's recorded identity (run_info.json's spec) and
    the one the config gives it now: the keys of RunSpec.identity() (training settings by
    name), or None when run_info.json predates the recorded spec."""
    if not isinstance(info.get("spec"), dict):
        return None
    try:
        recorded = _plain(RunSpec.from_dict(info["spec"]).identity())
    except (KeyError, TypeError, ValueError):
        return None
    expected = _plain(expected)
    changed = []
    for key in sorted(set(recorded) | set(expected)):
        if recorded.get(key) == expected.get(key):
            continue
        if key == "dataset_spec" and "content_sha256" in (expected.get(key) or {}):
            old, new = recorded.get(key) or {}, expected[key]
            if {**old, "content_sha256": None} == {**new, "content_sha256": None}:
                changed.append("the dataset's files")
                continue
        changed.append(key)
    return changed


def _plain(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _outdated(status: RunStatus, changes: list[str]) -> RunStatus:
    return dataclasses.replace(
        status,
        state="outdated",
        detail=f"outdated ({status.detail}; since then changed: {', '.join(changes)}); "
        "snakemake retrains it",
    )


def run_status(
    run: RunKeys,
    results: Path,
    now: datetime,
    stale_after_s: float,
    expected: dict | None = None,
) -> RunStatus:
    """The status of one run from its files (see the module docstring for the rule);
    ``expected``: the identity the config gives it (a finished run under another one is
    outdated)."""
    files = run.paths(results)
    reading = files.progress
    try:
        status = _status_from_files(run, files, now, stale_after_s)
        if expected is not None and status.state in ("fitted", "finished", "diverged"):
            changes = identity_changes(read_json(files.info), expected)
            if changes:
                return _outdated(status, changes)
        return status
    except UNREADABLE as error:
        # Which file failed: the first that exists and does not parse.
        for path, read in (
            (files.progress, read_json),
            (files.info, read_json),
            (files.live_metrics, read_live_metrics),
        ):
            try:
                if path.exists():
                    read(path)
            except UNREADABLE:
                reading = path
                break
        return RunStatus(
            run,
            "unreadable",
            f"unreadable: {reading} ({type(error).__name__}); delete it and rerun",
            log=files.log,
        )


def _status_from_files(
    run: RunKeys, files: RunPaths, now: datetime, stale_after_s: float
) -> RunStatus:
    progress = read_json(files.progress) if files.progress.exists() else None
    if files.info.exists():
        # A newer progress.json that is still training means a rerun has replaced it.
        rerun = (
            progress is not None
            and progress["status"] is None
            and files.progress.stat().st_mtime > files.info.stat().st_mtime
        )
        if not rerun:
            return _finished_status(run, read_json(files.info), files.log)
    if progress is None:
        return RunStatus(run, "not started", "not started", log=files.log)
    metrics = read_live_metrics(files.live_metrics) if files.live_metrics.exists() else None
    return _live_status(run, progress, metrics, files.log, now, stale_after_s)


def grid_status(
    runs: list[RunKeys],
    results: Path,
    stale_after_s: float = 1800.0,
    now: datetime | None = None,
    expected=None,
) -> list[RunStatus]:
    """Every run's status; ``expected(run)``: the identity the config gives it."""
    now = now or datetime.now(timezone.utc)
    return [
        run_status(run, results, now, stale_after_s, expected(run) if expected else None)
        for run in runs
    ]


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    )


def _percent(value: float | None, epoch: int | None = None) -> str:
    """98.1% (76): the accuracy and the epoch it was measured at."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{100 * value:.1f}%" + ("" if epoch is None else f" ({epoch})")


def render_table(statuses: list[RunStatus], tty: bool = False) -> str:
    """The table: box-drawn on a terminal, plain columns when piped or logged."""
    rows = [
        [
            s.run.dataset,
            s.run.model,
            s.run.corruption,
            s.run.regularizer,
            s.run.seed,
            s.detail,
            _percent(s.train_accuracy, s.train_epoch),
            _percent(s.test_accuracy, s.test_epoch),
            "" if s.train_loss is None else f"{s.train_loss:.3f}",
            format_duration(s.elapsed_s),
            format_duration(s.remaining_s) if s.state == "running" else "",
        ]
        for s in statuses
    ]
    return tabulate(
        rows,
        headers=HEADERS,
        tablefmt="rounded_outline" if tty else "simple",
        disable_numparse=True,
    )


def summary_line(statuses: list[RunStatus]) -> str:
    counts = {state: sum(s.state == state for s in statuses) for state in STATES}
    finished = counts["fitted"] + counts["finished"] + counts["diverged"]
    met = sum(s.met_fit for s in statuses if s.state in ("fitted", "finished"))
    line = (
        f"{finished} of {len(statuses)} runs finished: {met} met the fit criterion "
        f"({counts['fitted']} stopped there, {met - counts['fitted']} trained on to their "
        f"budget), {counts['finished'] - (met - counts['fitted'])} not fitted within their "
        f"budget, {counts['diverged']} diverged; "
        f"{counts['running']} running, {counts['failed']} failed, "
        f"{counts['not started']} not started"
    )
    for state in ("stale", "outdated", "unreadable"):
        if counts[state]:
            line += f", {counts[state]} {state}"
    remaining = [s.remaining_s for s in statuses if s.state == "running" and s.remaining_s]
    if remaining:
        line += f"; longest running run: at most {format_duration(max(remaining))} left"
    return line


def failure_notes(statuses: list[RunStatus]) -> list[str]:
    notes = [
        f"failed: {s.run.subpath}: see {s.log}"
        if s.state == "failed"
        else f"stale: {s.run.subpath}: no progress confirmed; if its job is gone, rerun "
        f"snakemake (it resumes from the checkpoint); its log: {s.log}"
        for s in statuses
        if s.state in ("failed", "stale")
    ]
    outdated = sum(s.state == "outdated" for s in statuses)
    if outdated:
        notes.append(
            f"outdated: {outdated} finished run(s) were trained under settings, code or data "
            "the config no longer gives them; `snakemake` retrains them"
        )
    budgets = sorted({s.max_epochs for s in statuses if s.state == "finished" and not s.met_fit})
    if budgets:
        raise_to = 2 * budgets[-1]
        notes.append(
            f"not fitted within {', '.join(map(str, budgets))} "
            f"epoch{'' if budgets == [1] else 's'}: raise max_epochs, e.g. "
            f"for one run: snakemake --cores 2 <its run_info.json> --config "
            f"override='{{max_epochs: {raise_to}}}', or the experiment's max_epochs in the "
            'config (docs/operations.md, "One run alone")'
        )
    return notes


def _schema_dir() -> Path:
    return config_load.schema_dir()


def show(config: dict, results: str | Path, experiment: str | None, stale_after: float) -> None:
    """Print the status table of the config's runs (`rethinkgen status`; rethinkgen.cli)."""
    if experiment and experiment not in config["experiments"]:
        raise ConfigError(
            f"no experiment '{experiment}' in the config; configured: "
            f"{', '.join(config['experiments'])}"
        )
    runs = experiment_runs(config, experiment) if experiment else all_runs(config)
    if not Path(results).is_dir():
        print(
            f"warning: the results folder {Path(results).resolve()} does not exist, so "
            "every run shows as not started; give --results as the folder snakemake writes "
            "(the config's `results:`, default results/<config name>)",
            file=sys.stderr,
        )
    defaults = spec_defaults(yaml.safe_load((_schema_dir() / "config.schema.yaml").read_text()))
    statuses = grid_status(
        runs,
        Path(results),
        stale_after_s=60 * stale_after,
        expected=lambda run: run_spec(config, run, defaults).identity(),
    )
    print(render_table(statuses, tty=sys.stdout.isatty()))
    print(summary_line(statuses))
    for note in failure_notes(statuses):
        print(note)


if __name__ == "__main__":  # python -m rethinkgen.status: the same as `rethinkgen status`
    import importlib

    # looked up at run time: the CLI imports this module, so an import here is a cycle
    sys.exit(importlib.import_module("rethinkgen.cli").main(["status", *sys.argv[1:]]))
