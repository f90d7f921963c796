"""Adapter: an experiment's runs table -> one paper table as .parquet/.md/.tex/.html."""

import logging
from pathlib import Path

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)

from rethinkgen.analysis.tables import (
    TABLE_TITLES,
    build_table,
    render_html,
    render_latex,
    render_markdown,
)
from rethinkgen.io import read_parquet, rule_logging, write_parquet

with rule_logging(snakemake.log[0]):
    name = snakemake.wildcards.table
    long, display, notes = build_table(name, read_parquet(snakemake.input.runs))
    write_parquet(long, snakemake.output.parquet)
    for render, path in (
        (render_markdown, snakemake.output.md),
        (render_latex, snakemake.output.tex),
        (render_html, snakemake.output.html),
    ):
        Path(path).write_text(render(display, TABLE_TITLES[name], notes))
    logging.info("%s: %d rows", name, len(long))
