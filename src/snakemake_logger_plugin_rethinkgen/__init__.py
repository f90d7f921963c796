"""Snakemake logger `rethinkgen` (profiles/default: on for every local run): the workflow's
progress as one live view on a terminal, one line per finished job otherwise. Everything
else Snakemake prints (warnings, errors, dry-run tables) goes through its own default
handler unchanged. The view itself is rethinkgen.console_view."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

from snakemake_interface_logger_plugins.base import LogHandlerBase

# Job bookkeeping the view replaces (each job's own line says it finished).
BOOKKEEPING = re.compile(r"^(Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\.)$")
REPLACED = {"job_finished", "progress", "job_started"}


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        from snakemake.logging import ColorizingTextHandler, DefaultFilter, DefaultFormatter

        from rethinkgen.console_view import WorkflowView
        from rethinkgen.training import console

        settings = self.common_settings
        self.default = ColorizingTextHandler(
            nocolor=settings.nocolor,
            stream=sys.stdout if settings.stdout else sys.stderr,
            formatter=DefaultFormatter(settings.quiet, settings.show_failed_logs),
            filter=DefaultFilter(
                settings.quiet,
                settings.debug_dag,
                settings.verbose,
                settings.dryrun,
                settings.printshellcmds,
            ),
        )
        self.view = WorkflowView()
        self.live = None
        self._view_lock = threading.Lock()
        self.watching = not settings.dryrun
        self.tty = self.watching and self.default.is_tty
        if self.watching:
            # Training jobs draw no progress bar of their own under the view.
            os.environ[console.SHARED_TERMINAL_ENV] = "1"

    def emit(self, record: logging.LogRecord) -> None:
        if not self.watching:
            self.default.handle(record)
            return
        with self._view_lock:
            event = str(getattr(record, "event", "") or "")
            line = self.view.update(record)
            if event in REPLACED or event == "job_info":
                if line and not self.tty:
                    self.default.stream.write(line + "\n")
                    self.default.flush()
                if self.tty and event in ("job_started", "progress"):
                    self._start_live()
                elif line and self.live is not None:
                    self.live.console.print(line, highlight=False)
                return
            if not event and BOOKKEEPING.match(str(record.getMessage()).strip()):
                return
            if self.live is not None:
                text = self.default.format(record) if self.default.filter(record) else ""
                if text:
                    self.live.console.print(text, highlight=False, markup=False)
            else:
                self.default.handle(record)

    def _start_live(self) -> None:
        if self.live is not None:
            return
        from rich.console import Console
        from rich.live import Live

        from rethinkgen.console_view import render

        view = self.view
        self.live = Live(
            get_renderable=lambda: render(view),
            console=Console(file=self.default.stream),
            refresh_per_second=1,
            transient=True,  # at the end only the lines stay: one per finished job
        )
        self.live.start()

    def close(self) -> None:
        with self._view_lock:
            if self.live is not None:
                self.live.stop()
                self.live = None
        super().close()

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True  # job events are needed even when --quiet rules hides them

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
