"""Adapter: run directories -> curves.parquet and runs.parquet (rethinkgen.analysis.aggregate)."""

import logging

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import pyarrow.parquet as pq

from rethinkgen.analysis.aggregate import aggregate_runs
from rethinkgen.io import atomic_path, rule_logging

with rule_logging(snakemake.log[0]):
    # an experiment's table reads each run at that experiment's budget (its params)
    curves, runs = aggregate_runs(
        snakemake.input.info, snakemake.input.metrics, snakemake.params.get("readouts")
    )
    for table, path in ((curves, snakemake.output.curves), (runs, snakemake.output.runs)):
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    logging.info("aggregated %d runs, %d curve rows", runs.num_rows, curves.num_rows)
