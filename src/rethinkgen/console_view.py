"""The workflow's progress as one live console view (the `rethinkgen` Snakemake logger,
src/snakemake_logger_plugin_rethinkgen): jobs done and running, each running training
run's epoch, loss and accuracies with the time left, whatever ``--cores`` is. Not on a
terminal, it is one line per finished job instead of Snakemake's bookkeeping.

``WorkflowView`` follows Snakemake's log events (job info, started, finished, progress,
error); a training run's epoch and metrics come from its own files, read as `rethinkgen
status` reads them (rethinkgen.status.run_status).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rethinkgen.run import RunKeys
from rethinkgen.status import RunStatus, format_duration, run_status

TRAIN_RULE = "train_model"


@dataclass
class Job:
    jobid: int
    rule: str
    wildcards: dict
    output: list[str]
    started: float | None = None
    finished: float | None = None
    failed: bool = False

    @property
    def name(self) -> str:
        """fashion_mnist_500/mlp_1x512/random_labels/none/0, or the rule's one output."""
        if self.wildcards:
            return "/".join(str(v) for v in self.wildcards.values())
        return Path(self.output[0]).name if self.output else ""

    def run_files(self) -> tuple[RunKeys, Path] | None:
        """A training job's run keys and its results folder (from its metrics output)."""
        if self.rule != TRAIN_RULE or not self.output:
            return None
        keys = RunKeys.of(self.wildcards)
        metrics = Path(self.output[0])
        depth = len(Path(keys.subpath).parts) + 2  # runs/<subpath>/metrics.parquet
        return keys, metrics.parents[depth - 1]


@dataclass
class WorkflowView:
    """What the console shows, updated from Snakemake's log records."""

    jobs: dict[int, Job] = field(default_factory=dict)
    done: int = 0
    total: int | None = None
    began: float = field(default_factory=time.monotonic)
    clock: callable = time.monotonic

    def update(self, record) -> str | None:
        """Take one log record; a finished job's one-line summary, else None."""
        event = str(getattr(record, "event", "") or "")
        if event == "run_info" and isinstance(getattr(record, "stats", None), dict):
            self.total = record.stats.get("total", self.total)
        elif event == "job_info":  # logged as the job is handed to its executor
            self.jobs[record.jobid] = Job(
                record.jobid,
                record.rule_name,
                dict(record.wildcards or {}),
                [str(p) for p in (record.output or [])],
                started=self.clock(),
            )
        elif event == "job_started":
            for jobid in record.jobs:
                if jobid in self.jobs and self.jobs[jobid].started is None:
                    self.jobs[jobid].started = self.clock()
        elif event == "progress":
            self.done, self.total = record.done, record.total
        elif event == "job_error" and getattr(record, "jobid", None) in self.jobs:
            self.jobs[record.jobid].failed = True
        elif event == "job_finished" and record.job_id in self.jobs:
            job = self.jobs[record.job_id]
            job.finished = self.clock()
            return self.finished_line(job)
        return None

    def running(self) -> list[Job]:
        jobs = list(self.jobs.values())  # one C-level copy: the log thread may add jobs
        return [j for j in jobs if j.started and not j.finished and not j.failed]

    def finished_line(self, job: Job) -> str:
        done = self.done + 1 if self.total is not None else None
        count = f"[{done}/{self.total}] " if done is not None else ""
        took = format_duration(job.finished - job.started) if job.started else ""
        what = " ".join(part for part in (job.rule, job.name) if part)
        line = f"{count}{what} done" + (f" in {took}" if took else "")
        status = self.run_state(job)
        return line + (f": {status.detail}" if status and status.state != "running" else "")

    def run_state(self, job: Job) -> RunStatus | None:
        files = job.run_files()
        if files is None:
            return None
        try:
            return run_status(files[0], files[1], datetime.now(timezone.utc), 1800.0)
        except Exception:  # a file being replaced: shown at the next refresh
            return None

    def header(self) -> str:
        count = f"{self.done} of {self.total} jobs done" if self.total else "starting"
        running = self.running()
        left = [s.remaining_s for s in map(self.run_state, running) if s and s.remaining_s]
        parts = [
            count,
            f"{len(running)} running",
            f"elapsed {format_duration(self.clock() - self.began)}",
        ]
        if left:
            parts.append(f"longest run: at most {format_duration(max(left))} left")
        return " · ".join(parts)

    def rows(self) -> list[list[str]]:
        """One row per running job: rule, what, epoch, loss, accuracies, time, time left."""
        rows = []
        for job in self.running():
            status = self.run_state(job)
            elapsed = format_duration(self.clock() - job.started)
            if status is None or status.state != "running":
                rows.append([job.rule, job.name, "", "", "", "", elapsed, ""])
                continue
            rows.append(
                [
                    job.rule,
                    job.name,
                    status.detail.replace("running at epoch ", ""),
                    "" if status.train_loss is None else f"{status.train_loss:.3f}",
                    _accuracy(status.train_accuracy, status.train_epoch),
                    _accuracy(status.test_accuracy, status.test_epoch),
                    elapsed,
                    format_duration(status.remaining_s),
                ]
            )
        return rows


HEADERS = ["rule", "job", "epoch", "loss", "train acc", "test acc", "time", "left"]


def _accuracy(value: float | None, epoch: int | None) -> str:
    if value is None:
        return ""
    return f"{100 * value:.1f}%" + ("" if epoch is None else f" ({epoch})")


def render(view: WorkflowView):
    """The rich renderable of the view: a header line and the running jobs' table."""
    from rich.table import Table

    table = Table(title=view.header(), title_justify="left", expand=False)
    for name in HEADERS:
        table.add_column(name, no_wrap=name != "job")
    for row in view.rows():
        table.add_row(*row)
    return table
