"""Which process wrote a file, recorded so that a reader can tell whether it still runs.

A pid alone is not enough: after a reboot or a long time, another process may hold the
same number, and a dead run would show as running. The record adds the process's start
time (Linux: /proc/<pid>/stat, in clock ticks since boot) and the machine's boot id; a pid
counts as the writer only if both still match.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")


def boot_id() -> str | None:
    """The kernel's id of this boot (Linux), or None elsewhere."""
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux), or None."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and ')', so split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def current() -> dict:
    """This process's identity: pid, host, boot id and start time."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot_id": boot_id(),
        "pid_started": start_ticks(pid),
    }


def is_running(record: dict) -> bool:
    """Whether the process described by `record` (as `current()` wrote it, on this host)
    still runs: its pid exists, and its boot id and start time, where recorded, match."""
    recorded_boot = record.get("boot_id")
    if recorded_boot is not None and boot_id() is not None and recorded_boot != boot_id():
        return False  # the machine rebooted since: every pid is new
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    recorded_start = record.get("pid_started")
    return recorded_start is None or start_ticks(int(record["pid"])) in (None, recorded_start)
