"""Finished runs as TensorBoard event files: per-epoch scalars (the same tags a live run
writes with ``training.tensorboard: true``) and an HParams entry, the run's identity
settings against its final metrics, so runs can be compared by their settings."""

from __future__ import annotations

import shutil
from pathlib import Path

from rethinkgen.export.runs import FinishedRun
from rethinkgen.training.live import TENSORBOARD_INSTALL


def _writer_parts():
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError as error:  # torch raises ImportError when tensorboard is absent
        raise SystemExit(
            f"rethinkgen export tensorboard needs the 'tensorboard' package: {TENSORBOARD_INSTALL}"
        ) from error
    return SummaryWriter, hparams


def export_run(run: FinishedRun, log_dir: Path) -> None:
    """Write one run's event file into log_dir, replacing any earlier export there."""
    SummaryWriter, hparams = _writer_parts()
    if log_dir.exists():  # idempotent: an earlier export of this run is replaced, not doubled
        shutil.rmtree(log_dir)
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for epoch, rows in run.metrics.groupby("epoch", sort=True):
            for row in rows.itertuples(index=False):
                writer.add_scalar(f"loss/{row.split}", row.loss, int(epoch))
                writer.add_scalar(f"accuracy/{row.split}", row.accuracy, int(epoch))
            writer.add_scalar("lr", float(rows["lr"].iloc[0]), int(epoch))
        final = run.final_metrics()
        last_epoch = int(run.metrics["epoch"].max()) if len(run.metrics) else 0
        for tag, value in final.items():
            writer.add_scalar(tag, value, last_epoch)
        # hparams() gives the three summaries of TensorBoard's HParams plugin; written into
        # this run's own folder (SummaryWriter.add_hparams would make a timestamped subfolder).
        for summary in hparams(run.params(), final):
            writer.file_writer.add_summary(summary)
    finally:
        writer.close()


def export_runs(runs: list[FinishedRun], out: str | Path) -> int:
    """Every run into out/<dataset>/<model>/<corruption>/<regularizer>/seed<N>/."""
    for run in runs:
        export_run(run, Path(out) / run.name)
    return len(runs)
