"""Watch a run while it trains: the engine's ``on_epoch`` hook.

After every epoch (and once after the epoch-0 evaluation) the hook rewrites, beside the
run's checkpoint (``RunPaths.checkpoint_dir``, not a Snakemake output, so it survives a
resume):

* ``RunPaths.live_metrics``: every metrics row so far, with metrics.parquet's schema;
* ``RunPaths.progress``: epoch, max_epochs, step, status, epochs_to_fit, wall_time_s,
  updated_at, pid, host, boot_id, pid_started (``rethinkgen.status`` reads it);

and, with ``training.tensorboard: true``, TensorBoard scalars in ``RunPaths.tensorboard``
(results/tensorboard/<run>). Every file
is replaced atomically, so a reader never sees a half-written one. The files stay after
the run ends: the status table reads them.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from rethinkgen import process_identity
from rethinkgen.io import read_parquet, write_json, write_parquet
from rethinkgen.run import RunPaths
from rethinkgen.schemas import METRIC_DTYPES, METRICS

logger = logging.getLogger(__name__)

SPLITS = ("train_online", "train", "test")
TENSORBOARD_INSTALL = "pip install -e '.[tensorboard]'"


def _summary_writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # torch raises ImportError when tensorboard is absent
        raise ImportError(
            "training.tensorboard is true but the 'tensorboard' package is not installed: "
            f"{TENSORBOARD_INSTALL} (or set training.tensorboard: false)"
        ) from error
    return SummaryWriter


class TensorBoardScalars:
    """Per-epoch loss, accuracy and learning rate of one run as TensorBoard scalars.

    The first call of a process rewrites the whole history (the engine passes every row,
    resumed ones included) after deleting the run's older event files, and tells the
    writer to purge steps from there on, so a resumed or rerun run never shows an epoch
    twice; later calls add only epochs not yet written.
    """

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = Path(log_dir)
        self._writer_class = _summary_writer_class()  # fail at start, not after epoch 1
        self._writer = None
        self.last_epoch: int | None = None

    def write(self, metrics: pd.DataFrame) -> None:
        new = metrics if self.last_epoch is None else metrics[metrics["epoch"] > self.last_epoch]
        if new.empty:
            return
        if self._writer is None:
            self._start(int(new["epoch"].min()))
        for epoch, rows in new.groupby("epoch", sort=True):
            step = int(epoch)
            for row in rows.itertuples(index=False):
                self._writer.add_scalar(f"loss/{row.split}", row.loss, step)
                self._writer.add_scalar(f"accuracy/{row.split}", row.accuracy, step)
            self._writer.add_scalar("lr", rows["lr"].iloc[0], step)
        self._writer.flush()
        self.last_epoch = int(new["epoch"].max())

    def _start(self, first_epoch: int) -> None:
        if self.last_epoch is None and self.log_dir.is_dir():  # this process's first write
            for old in self.log_dir.glob("events.out.tfevents.*"):
                old.unlink()
        self._writer = self._writer_class(log_dir=str(self.log_dir), purge_step=first_epoch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class LiveFiles:
    """The ``on_epoch(metrics, progress)`` hook: live metrics, progress and TensorBoard."""

    def __init__(
        self,
        metrics_path: str | os.PathLike,
        progress_path: str | os.PathLike,
        tensorboard: str | os.PathLike | None = None,
    ):
        self.metrics_path = Path(metrics_path)
        self.progress_path = Path(progress_path)
        self.tensorboard = TensorBoardScalars(tensorboard) if tensorboard is not None else None

    def __call__(self, metrics: pd.DataFrame, progress: dict) -> None:
        missing = [c for c in METRIC_DTYPES if c not in metrics.columns]
        if missing:
            raise ValueError(
                f"on_epoch: metrics frame lacks columns {missing}; "
                "pass the engine's metrics frame (rethinkgen.schemas.METRICS)"
            )
        frame = metrics[list(METRIC_DTYPES)].astype(METRIC_DTYPES).reset_index(drop=True)
        record = progress_record(progress)
        try:
            write_parquet(frame, self.metrics_path, schema=METRICS)
            if self.tensorboard is not None:
                self.tensorboard.write(frame)
                if progress["status"] is not None:
                    self.tensorboard.close()
            # Last, so that progress never names an epoch whose rows are not on disk yet.
            write_json(record, self.progress_path)
        except OSError as error:  # a full or flaky disk must not end a long run
            logger.warning(
                "epoch %s: could not write the live files in %s: %s",
                progress["epoch"],
                self.metrics_path.parent,
                error,
            )


def progress_record(progress: dict) -> dict:
    """The engine's progress dict plus when, by which process and on which host."""
    keys = ("epoch", "max_epochs", "step", "status", "epochs_to_fit", "wall_time_s")
    missing = [k for k in keys if k not in progress]
    if missing:
        raise ValueError(f"on_epoch: progress dict lacks {missing}")
    return {
        **{k: progress[k] for k in keys},
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **process_identity.current(),
    }  # pid, host, boot_id, pid_started


def read_live_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read a live metrics file while its run may replace it.

    Through one open handle: given a path, pyarrow may open the file again between
    reading its footer and its pages and, if the run replaced it meanwhile, fail on
    pages of the newer file. A handle keeps the version it opened.
    """
    return read_parquet(path)  # one handle; a damaged file is named (rethinkgen.io)


def epoch_hook(paths: RunPaths, tensorboard: bool = False) -> Callable:
    """The ``on_epoch`` hook of a run: its live files where ``paths`` say, and TensorBoard
    scalars in ``paths.tensorboard`` when ``tensorboard`` is set."""
    return LiveFiles(paths.live_metrics, paths.progress, paths.tensorboard if tensorboard else None)
