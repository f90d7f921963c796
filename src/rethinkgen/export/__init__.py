"""Send finished runs to the trackers researchers use: TensorBoard event files or a local
MLflow store, built from what each run already wrote (``metrics.parquet`` and
``run_info.json`` under ``results/runs/``), so runs trained before a tracker was wanted are
included. Exporting again replaces a run's export, never adds a second copy.

    rethinkgen export tensorboard [--results results] [--out results/tensorboard_export]
    rethinkgen export mlflow [--results results] [--out results/mlflow]
"""

from __future__ import annotations

import argparse
import sys

from rethinkgen.export.runs import finished_runs

DEFAULT_OUT = {"tensorboard": "results/tensorboard_export", "mlflow": "results/mlflow"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rethinkgen export", description=__doc__.splitlines()[0])
    parser.add_argument("tracker", choices=sorted(DEFAULT_OUT))
    parser.add_argument("--results", default="results", help="the workflow's results directory")
    parser.add_argument(
        "--out", help="where to write (default: results/tensorboard_export or results/mlflow)"
    )
    parser.add_argument("--experiment", default="rethinkgen", help="MLflow experiment name")
    args = parser.parse_args(argv)
    skipped: list[str] = []
    runs = finished_runs(args.results, skipped)
    for line in skipped:  # one line per damaged run; the others are exported
        print(line, file=sys.stderr)
    if not runs:
        raise SystemExit(
            f"nothing to export: no finished run (run_info.json + metrics.parquet) "
            f"under {args.results}/runs; train some first (snakemake --cores 2 all)"
        )
    out = args.out or DEFAULT_OUT[args.tracker]
    if args.tracker == "tensorboard":
        from rethinkgen.export.tensorboard import export_runs

        written = export_runs(runs, out)
        print(f"{written} runs written to {out}: tensorboard --logdir {out}")
    else:
        from rethinkgen.export.mlflow_store import export_runs, tracking_uri

        new, kept = export_runs(runs, out, args.experiment, figures=f"{args.results}/figures")
        print(
            f"{new} runs logged, {kept} unchanged, in {tracking_uri(out)}: "
            f"mlflow ui --backend-store-uri {tracking_uri(out)}"
        )
    return 0
