"""Adapter: one `beyond:` output -> its tables (per-run and per-epoch Parquet, Markdown
with the finding) or its figure."""

import json
import logging

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)
import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes

from rethinkgen.analysis import beyond, learning_order  # noqa: E402
from rethinkgen.analysis.figures import set_style  # noqa: E402
from rethinkgen.io import atomic_path, read_parquet, rule_logging, write_parquet  # noqa: E402

with rule_logging(snakemake.log[0]):
    spec = snakemake.params.spec
    curves, runs = read_parquet(snakemake.input.curves), read_parquet(snakemake.input.runs)
    inputs = snakemake.input.keys()
    solves = read_parquet(snakemake.input.solves) if "solves" in inputs else None
    infos = [json.load(open(p)) for p in snakemake.input.infos]  # each run's own settings
    load_record = learning_order.record_loader(snakemake.input.infos)  # examples.parquet
    output = beyond.build(spec, curves, runs, infos, solves, load_record)
    if "png" in snakemake.output.keys():
        set_style()
        fig = beyond.plot(spec["kind"], output)
        fig.savefig(snakemake.output.png, dpi=150, bbox_inches="tight")
        fig.savefig(snakemake.output.pdf, bbox_inches="tight")
    else:
        write_parquet(output.table, snakemake.output.parquet)
        write_parquet(output.curves, snakemake.output.curves)
        with atomic_path(snakemake.output.md) as tmp:
            tmp.write_text(beyond.render_markdown(spec["kind"], output))
        logging.info("%s: %s", spec["kind"], output.finding)
