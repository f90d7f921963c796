"""Adapter: Theorem 1 construction on one prepared dataset -> per-dataset rows."""

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import torch

from rethinkgen.data.splits import load_split
from rethinkgen.io import rule_logging, write_parquet
from rethinkgen.theory.expressivity import expressivity_rows

with rule_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    split = load_split(snakemake.input.train)
    settings = snakemake.params.settings
    rows = expressivity_rows(
        snakemake.wildcards.dataset,
        split.images,
        num_classes=len(split.classes),
        sample_sizes=settings["sample_sizes"],
        bias_gap_fractions=settings["bias_gap_fractions"],
        seed=snakemake.params.seed,
        projection_candidates=settings["projection_candidates"],
    )
    write_parquet(rows, snakemake.output.rows)
