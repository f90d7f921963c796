"""Adapter: one Table 3 row (minimum-norm kernel interpolation) -> one-row Parquet."""

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import pandas as pd
import torch

from rethinkgen.data.splits import load_split
from rethinkgen.io import rule_logging, write_parquet
from rethinkgen.theory.kernels import solve_kernel_interpolation

with rule_logging(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    train, test = load_split(snakemake.input.train), load_split(snakemake.input.test)
    row = solve_kernel_interpolation(
        train.images,
        train.labels,
        test.images,
        test.labels,
        spec=snakemake.params.spec,
        seed=snakemake.params.seed,
    )
    write_parquet(pd.DataFrame([snakemake.params.row_keys | row]), snakemake.output.row)
