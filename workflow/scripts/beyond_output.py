"""Adapter: one `beyond:` output -> its table (Parquet, Markdown with the finding) or figure."""

import json
import logging

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes

from rethinkgen.analysis import beyond, learning_order  # noqa: E402
from rethinkgen.analysis.figures import set_style  # noqa: E402
from rethinkgen.io import atomic_path, read_parquet, rule_logging, write_parquet  # noqa: E402

with rule_logging(snakemake.log[0]):
    kind = snakemake.params.spec["kind"]
    curves, runs = read_parquet(snakemake.input.curves), read_parquet(snakemake.input.runs)
    inputs = snakemake.input.keys()
    solves = read_parquet(snakemake.input.solves) if "solves" in inputs else None
    infos = [json.load(open(p)) for p in snakemake.input.infos]  # each run's own settings
    load_record = learning_order.record_loader(snakemake.input.infos)  # examples.parquet
    if "png" in snakemake.output.keys():
        set_style()
        fig = beyond.plot(kind, curves, runs, infos, solves, load_record)
        fig.savefig(snakemake.output.png, dpi=150, bbox_inches="tight")
        fig.savefig(snakemake.output.pdf, bbox_inches="tight")
    else:
        table, finding = beyond.build(kind, curves, runs, infos, solves, load_record)
        write_parquet(table, snakemake.output.parquet)
        with atomic_path(snakemake.output.md) as tmp:
            tmp.write_text(beyond.render_markdown(kind, table, finding))
        logging.info("%s: %s", kind, finding)
