"""Adapter for rule make_own_model_page: the three experiments' tables -> one Markdown page."""

import os

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import pandas as pd

from rethinkgen.analysis.learning_order import record_loader
from rethinkgen.analysis.own_model import render_page
from rethinkgen.io import atomic_path, rule_logging

with rule_logging(snakemake.log[0]):
    spec = snakemake.params.spec
    page_dir = os.path.dirname(snakemake.output.md)
    figures = {
        os.path.splitext(os.path.basename(f))[0]: os.path.relpath(f, page_dir)
        for f in snakemake.input.figures
    }
    text = render_page(
        spec,
        snakemake.config,
        pd.read_parquet(snakemake.input.randomizations),
        pd.read_parquet(snakemake.input.sweep),
        pd.read_parquet(snakemake.input.dynamics),
        figures,
        snakemake.params.source,
        record_loader(snakemake.input.infos),  # each run's examples.parquet
    )
    with atomic_path(snakemake.output.md) as tmp, open(tmp, "w") as handle:
        handle.write(text)
