"""Adapter: Theorem 1's first layer, output layer solved per activation -> rows."""

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)

from rethinkgen.data.splits import load_split
from rethinkgen.io import rule_logging, write_parquet
from rethinkgen.theory.activations import activation_rows

with rule_logging(snakemake.log[0]):
    settings = snakemake.params.settings
    rows = activation_rows(
        load_split(snakemake.input.train).images,
        settings["sample_sizes"],
        settings["activations"],
        settings["projection_scales"],
        settings["bias_gap_fraction"],
        settings["seed"],
        settings.get("min_gap_targets", []),
        settings.get("repeats", 1),
        settings.get("mp_max_n", 0),
        settings.get("relu_sample_sizes", []),
    )
    write_parquet(rows, snakemake.output.rows)
