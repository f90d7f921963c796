"""Send finished runs to the trackers researchers use: TensorBoard event files or a local
MLflow store, built from what each run already wrote (``metrics.parquet`` and
``run_info.json`` under ``<results>/runs/``), so runs trained before a tracker was wanted are
included. Exporting again replaces a run's export, never adds a second copy.

    rethinkgen export tensorboard [--configfile F] [--results DIR] [--out DIR]
    rethinkgen export mlflow [--configfile F] [--results DIR] [--out DIR]

The results folder is the config's (default results/<config name>); the export goes to
<results>/tensorboard_export or <results>/mlflow unless --out says otherwise.
"""

from __future__ import annotations

import sys

from rethinkgen.config import ConfigError
from rethinkgen.export.runs import finished_runs

FOLDERS = {"tensorboard": "tensorboard_export", "mlflow": "mlflow"}  # under the results


def export(tracker: str, results: str, out: str | None, experiment: str = "rethinkgen") -> None:
    """`rethinkgen export TRACKER`: every finished run under ``results`` to ``out``."""
    skipped: list[str] = []
    runs = finished_runs(results, skipped)
    for line in skipped:  # one line per damaged run; the others are exported
        print(line, file=sys.stderr)
    if not runs:
        raise ConfigError(
            f"nothing to export: no finished run (run_info.json + metrics.parquet) "
            f"under {results}/runs; train some first (snakemake --cores 2 all)"
        )
    out = out or f"{results}/{FOLDERS[tracker]}"
    if tracker == "tensorboard":
        from rethinkgen.export.tensorboard import export_runs

        written = export_runs(runs, out)
        print(f"{written} runs written to {out}: tensorboard --logdir {out}")
    else:
        from rethinkgen.export.mlflow_store import export_runs, tracking_uri

        new, kept = export_runs(runs, out, experiment, figures=f"{results}/figures")
        print(
            f"{new} runs logged, {kept} unchanged, in {tracking_uri(out)}: "
            f"mlflow ui --backend-store-uri {tracking_uri(out)}"
        )
