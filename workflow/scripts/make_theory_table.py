"""Adapter: concatenate per-job theory rows into one table (Parquet + Markdown)."""

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import pandas as pd

from rethinkgen.io import atomic_path, read_parquet, rule_logging, write_parquet
from rethinkgen.theory.expressivity import expressivity_markdown
from rethinkgen.theory.kernels import table3

with rule_logging(snakemake.log[0]):
    rows = pd.concat([read_parquet(path) for path in snakemake.input.rows], ignore_index=True)
    if snakemake.params.kind == "table3_kernels":
        table, markdown = table3(rows)
    else:
        table, markdown = rows, expressivity_markdown(rows)
    write_parquet(table, snakemake.output.parquet)
    with atomic_path(snakemake.output.md) as tmp:
        tmp.write_text(markdown)
