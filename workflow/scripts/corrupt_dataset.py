"""Adapter for rule corrupt_dataset: one randomization test, drawn once and saved."""

import logging

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)

from rethinkgen.data.corruptions import apply_corruption
from rethinkgen.data.splits import load_split, save_split
from rethinkgen.io import rule_logging, write_json

with rule_logging(snakemake.log[0]):
    spec = dict(snakemake.params.spec)
    result = apply_corruption(
        spec,
        load_split(snakemake.input.train),
        load_split(snakemake.input.test),
        seed=snakemake.params.seed,
    )
    save_split(result.train, snakemake.output.train)
    save_split(result.test, snakemake.output.test)
    write_json(result.stats, snakemake.output.info)
    logging.info("%s", result.stats)
