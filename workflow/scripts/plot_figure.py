"""Adapter: one experiment's curves/runs -> one paper figure as PNG and PDF."""

import logging

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes

from rethinkgen.analysis.figures import FIGURES, set_style  # noqa: E402
from rethinkgen.io import read_parquet, rule_logging, write_parquet  # noqa: E402

with rule_logging(snakemake.log[0]):
    set_style()
    kind = snakemake.params.spec["kind"]
    curves, runs = read_parquet(snakemake.input.curves), read_parquet(snakemake.input.runs)
    fig = FIGURES[kind](curves, runs)
    fig.savefig(snakemake.output.png, dpi=150, bbox_inches="tight")
    fig.savefig(snakemake.output.pdf, bbox_inches="tight")
    write_parquet(fig.plotted_data, snakemake.output.data)
    logging.info("%s (%s) from %d runs", snakemake.wildcards.figure, kind, len(runs))
