"""Adapter: runs table(s) -> one paper table or the scorecard as .parquet/.md/.tex/.html."""

import os
import sys

# This checkout's src/ first: conda jobs (--sdm conda) get no PYTHONPATH.
sys.path.insert(0, os.path.normpath(os.path.join(snakemake.scriptdir, "..", "..", "src")))

import logging
from pathlib import Path

import pandas as pd

from rethinkgen.io import rule_logging, write_parquet
from rethinkgen.analysis.scorecard import build_scorecard
from rethinkgen.analysis.tables import TABLE_TITLES, build_table, render_html, render_latex, render_markdown

with rule_logging(snakemake.log[0]):
    name, runs = snakemake.wildcards.table, pd.read_parquet(snakemake.input.runs)
    if name == "scorecard":
        long = display = build_scorecard(runs, pd.read_parquet(snakemake.input.curves))
        title, notes = "Scorecard: reproduction checks (REFERENCE section 14)", []
    else:
        (long, display, notes), title = build_table(name, runs), TABLE_TITLES[name]
    write_parquet(long, snakemake.output.parquet)
    for render, path in ((render_markdown, snakemake.output.md), (render_latex, snakemake.output.tex),
                         (render_html, snakemake.output.html)):
        Path(path).write_text(render(display, title, notes))
    logging.info("%s: %d rows", name, len(long))
