"""File I/O shared by every stage: atomic output, content digests, a rule job's logging."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


TEMP_PATTERN = ".*.tmp"  # atomic_path's temporary files: .<name>.<random>.tmp


def sweep_temp_files(*folders: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writers left in `folders` (kill -9 skips
    atomic_path's cleanup). Call it only where no other process writes at the same time,
    e.g. when a run starts (Snakemake runs each job once at a time). Returns what it deleted."""
    removed = []
    for folder in folders:
        for path in Path(folder).glob(TEMP_PATTERN) if Path(folder).is_dir() else ():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class DamagedFileError(RuntimeError):
    """An input file that exists but cannot be read (truncated, damaged)."""


def damaged_file_error(path: str | os.PathLike, error: Exception) -> DamagedFileError:
    return DamagedFileError(
        f"{path} cannot be read ({type(error).__name__}: {error}): it is truncated or damaged, "
        f"e.g. by a full disk or an interrupted copy. Delete it (rm {path}) and rerun the same "
        "command: Snakemake rebuilds a missing input from the rule that makes it"
    )


# What numpy/zipfile and pyarrow raise on a truncated or damaged file.
UNREADABLE_FILE_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    """pd.read_parquet through one handle; a damaged file raises DamagedFileError naming it.
    (One handle: a run may replace the file meanwhile, and the handle keeps its version.)"""
    try:
        with open(path, "rb") as handle:
            return pd.read_parquet(handle)
    except FileNotFoundError:
        raise
    except UNREADABLE_FILE_ERRORS as error:  # pyarrow.ArrowInvalid is a ValueError
        raise damaged_file_error(path, error) from error


def write_json(obj, path: str | os.PathLike) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, schema=None) -> None:
    """Write a DataFrame as Parquet (pyarrow), atomically; `schema` pins column types."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False, schema=schema)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (prepared splits can be gigabytes)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# torch.save and other C++ writers report a full disk in their own words, without errno.
DISK_FULL_TEXT = (
    "No space left on device",
    "basic_ios::clear",
    "iostream error",
    "Disk quota exceeded",
)


def _looks_full(error: BaseException) -> bool:
    full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    return full or any(text in str(error) for text in DISK_FULL_TEXT)


def _chain(error: BaseException):
    """``error`` and the exceptions it was raised from or while handling, each once."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def disk_full_note(error: BaseException, fallback: str | os.PathLike) -> str | None:
    """'disk full: ...' naming the path and the free space, if `error` or any exception in
    its chain looks like one (torch raises its own RuntimeError while handling the
    ENOSPC of a checkpoint write)."""
    error = next((e for e in _chain(error) if _looks_full(e)), None)
    if error is None:
        return None
    path = Path(getattr(error, "filename", None) or fallback)
    folder = next((p for p in [path, *path.parents] if p.exists()), Path("."))
    free = shutil.disk_usage(folder).free
    return (
        f"disk full? writing {path} failed with {free / 2**30:.2f} GiB free on the file "
        f"system of {folder}. Free space there (or point results/ elsewhere) and rerun: "
        "finished jobs are kept, and training resumes from its last checkpoint"
    )


LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


@contextlib.contextmanager
def rule_logging(
    log_path: str | os.PathLike, history: str | os.PathLike | None = None, level: int = logging.INFO
) -> Iterator[None]:
    """Log to a rule's log file; an exception that ends the block is logged there too.

    Snakemake deletes a rule's log before each attempt and tells the user to read it when
    the job fails, so the traceback must be in it (not only on the console or in the Slurm
    log). ``history`` is an append-only file that survives between attempts (a training
    run's, beside its checkpoint): its earlier attempts are copied into the fresh log first,
    and this attempt's lines are appended to it as well.
    """
    paths = [Path(log_path)] + ([Path(history)] if history is not None else [])
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    if history is not None and Path(history).is_file():
        with open(log_path, "a") as log:
            log.write(
                f"--- earlier attempts (from {history}) ---\n{Path(history).read_text()}"
                "--- this attempt ---\n"
            )
    root = logging.getLogger()
    handlers = [logging.FileHandler(path, mode="a") for path in paths]
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    previous_level = root.level
    root.setLevel(level)
    try:
        yield
    except Exception as error:
        note = disk_full_note(error, Path(log_path).parent)
        if note:
            error.add_note(note)  # shown under the traceback, on the console too
        logging.getLogger("rethinkgen").exception("the job failed:%s", f" {note}" if note else "")
        raise
    finally:
        root.setLevel(previous_level)
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()


class RunLockedError(RuntimeError):
    """Another process trains this run; the message names it."""


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (flock) for the block, or raise RunLockedError.

    Two Snakemake processes (after an explicit --unlock, or two working copies sharing
    results/) could otherwise train one run at once and overwrite each other's checkpoint.
    The kernel releases the lock when its holder dies, so no stale lock outlives a crash.
    """
    import fcntl
    import socket

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLockedError(
                f"{what} is being trained by {holder} (lock {path}); this job stops without "
                "touching it. Wait for that one, or stop it, then rerun"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
