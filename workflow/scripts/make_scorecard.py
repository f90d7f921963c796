"""Adapter: each experiment's runs and curves, the label draws (and the theory tables) ->
the scorecard as .parquet/.md/.tex/.html."""

import logging
from pathlib import Path

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import pandas as pd

from rethinkgen.analysis.chance import chance_levels
from rethinkgen.analysis.scorecard import TITLE, build_scorecard, read_readouts, scorecard_notes
from rethinkgen.analysis.tables import render_html, render_latex, render_markdown
from rethinkgen.io import read_parquet, rule_logging, write_parquet
from rethinkgen.theory.least_squares import min_norm_agreement
from rethinkgen.training.models import parameter_table


def optional_table(name):
    """A theory table named in the rule's input, or None (no `theory:` config section)."""
    path = getattr(snakemake.input, name, None)
    return None if path is None else read_parquet(path)


with rule_logging(snakemake.log[0]):
    card = build_scorecard(
        read_readouts(snakemake.params.experiments, snakemake.input),
        expressivity=optional_table("expressivity"),
        kernels=optional_table("kernels"),
        param_counts=pd.DataFrame(
            parameter_table(), columns=["paper_model", "num_params", "paper_num_params"]
        ),
        min_norm=min_norm_agreement(seed=0),
        chance_levels=chance_levels(snakemake.params.draws),
    )
    write_parquet(card, snakemake.output.parquet)
    notes = scorecard_notes(card)
    for render, path in (
        (render_markdown, snakemake.output.md),
        (render_latex, snakemake.output.tex),
        (render_html, snakemake.output.html),
    ):
        Path(path).write_text(render(card, TITLE, notes))
    logging.info("scorecard: %s", notes[0])
