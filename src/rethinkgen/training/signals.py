"""Stop training cleanly on SIGTERM (Slurm's warning before a time limit or preemption).

Slurm sends SIGTERM, waits ``KillWait`` seconds (often 30) and then sends SIGKILL. The
default action of SIGTERM would end the process at once; instead :func:`stop_on_sigterm`
records the request, the engine polls :meth:`StopRequest.requested` after each epoch's
checkpoint and raises ``Interrupted``, and the job exits with :data:`REQUEUE_EXIT_CODE`.
A second SIGTERM ends the process immediately, as the default action would have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Iterator

logger = logging.getLogger(__name__)

# 128 + SIGTERM: what a shell reports for a process ended by SIGTERM. Any non-zero status
# makes Snakemake retry the job (`retries:`), which resumes from the checkpoint; a Slurm
# site may also list it in slurm.conf's `RequeueExit` to have Slurm requeue the job itself.
REQUEUE_EXIT_CODE = 128 + signal.SIGTERM


class StopRequest:
    """Whether a stop signal has arrived; pass :meth:`requested` as ``should_stop``."""

    def __init__(self) -> None:
        self.signal_number: int | None = None

    def requested(self) -> bool:
        return self.signal_number is not None


@contextlib.contextmanager
def stop_on_sigterm(log: logging.Logger = logger) -> Iterator[StopRequest]:
    """Within the block, SIGTERM sets the returned request instead of killing the process.

    Outside the main thread Python cannot install signal handlers; the request then never
    fires and SIGTERM keeps its usual effect.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, frame):
        if request.requested():  # asked twice: stop now, the last checkpoint is on disk
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        request.signal_number = signum
        log.warning(
            "received %s: stopping after the current epoch's checkpoint",
            signal.Signals(signum).name,
        )

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous)
