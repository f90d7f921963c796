"""The live console view (rethinkgen.console_view) and its Snakemake logger plugin: the view
follows job events and a running training run's files; off a terminal, one line per
finished job replaces Snakemake's bookkeeping; everything else passes through unchanged."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

from rethinkgen.console_view import WorkflowView, render
from rethinkgen.run import RunKeys
from tests.unit.test_status import plant_progress

RUN = RunKeys("fashion_mnist_tiny", "mlp_1x512", "random_labels", "none", 0)


def record(event: str | None, msg: str = "", **fields) -> logging.LogRecord:
    made = logging.LogRecord("snakemake", logging.INFO, __file__, 1, msg, None, None)
    if event:
        made.event = event
    made.__dict__.update(fields)
    return made


def train_job(results, jobid: int = 3) -> logging.LogRecord:
    return record(
        "job_info",
        jobid=jobid,
        rule_name="train_model",
        wildcards={k: str(v) for k, v in vars(RUN).items()},
        output=[str(RUN.paths(results).metrics), str(RUN.paths(results).info)],
    )


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_view_follows_jobs_and_a_running_runs_files(tmp_path):
    results = tmp_path / "results/smoke"
    clock = Clock()
    view = WorkflowView(clock=clock, began=clock.now)
    view.update(record("run_info", stats={"train_model": 1, "total": 2}))
    view.update(train_job(results))
    view.update(record("job_started", jobs=[3]))
    plant_progress(RUN, results, 3)
    clock.now += 75
    (row,) = view.rows()
    assert row[:3] == [
        "train_model",
        "fashion_mnist_tiny/mlp_1x512/random_labels/none/0",
        "3 of 10",
    ]
    assert row[4].endswith("(3)") and row[5].endswith("(3)")  # accuracies with their epoch
    assert row[6] == "1m15s"
    assert view.header().startswith("0 of 2 jobs done · 1 running · elapsed 1m15s")
    assert "train_model" in str(render(view).columns[0]._cells)
    line = view.update(record("job_finished", job_id=3))
    assert (
        line == "[1/2] train_model fashion_mnist_tiny/mlp_1x512/random_labels/none/0 done in 1m15s"
    )
    assert view.rows() == []


def test_a_job_without_wildcards_is_named_by_its_output():
    view = WorkflowView()
    view.update(
        record(
            "job_info", jobid=1, rule_name="make_scorecard", wildcards={}, output=["t/scorecard.md"]
        )
    )
    assert view.update(record("job_finished", job_id=1)).startswith(
        "make_scorecard scorecard.md done"
    )


def handler(dryrun: bool = False):
    from snakemake_logger_plugin_rethinkgen import LogHandler

    settings = SimpleNamespace(
        printshellcmds=False,
        nocolor=True,
        quiet=set(),
        debug_dag=False,
        verbose=False,
        show_failed_logs=False,
        stdout=False,
        dryrun=dryrun,
    )
    made = LogHandler(settings, None)
    made.default.stream = io.StringIO()
    return made


def test_off_a_terminal_each_finished_job_is_one_line(tmp_path, monkeypatch):
    from rethinkgen.training import console

    monkeypatch.delenv(console.SHARED_TERMINAL_ENV, raising=False)
    plugin = handler()
    assert not plugin.tty
    for made in (
        record(None, "Building DAG of jobs..."),
        record("run_info", "Job stats: ...", stats={"total": 1}),
        train_job(tmp_path / "results"),
        record("job_started", jobs=[3]),
        record(None, "Select jobs to execute..."),
        record(None, "Execute 1 jobs..."),
        record("job_finished", "Finished jobid: 3 (Rule: train_model)", job_id=3),
        record("progress", done=1, total=1),
    ):
        plugin.emit(made)
    lines = plugin.default.stream.getvalue().splitlines()
    assert lines[0] == "Building DAG of jobs..."
    assert lines[1] == "Job stats: ..."
    assert lines[2].startswith("[1/1] train_model fashion_mnist_tiny/mlp_1x512/random_labels")
    assert len(lines) == 3  # no "Select jobs", "Execute", "Finished jobid", "1 of 1 steps"
    # jobs started from here draw no progress bars of their own
    assert console.SHARED_TERMINAL_ENV in __import__("os").environ


def test_a_dry_run_prints_exactly_what_snakemake_would():
    plugin = handler(dryrun=True)
    for text in ("Building DAG of jobs...", "Select jobs to execute..."):
        plugin.emit(record(None, text))
    plugin.emit(record("progress", done=0, total=3))
    out = plugin.default.stream.getvalue()
    assert out.splitlines() == [
        "Building DAG of jobs...",
        "Select jobs to execute...",
        "0 of 3 steps (0%) done",
    ]
