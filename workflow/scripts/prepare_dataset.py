"""Adapter for rule prepare_dataset: raw files -> resources/datasets/{dataset}/*.npz."""

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)

from rethinkgen.data.sources import prepare_dataset, prepared_info
from rethinkgen.data.splits import save_split
from rethinkgen.io import rule_logging, write_json

with rule_logging(snakemake.log[0]):
    spec = dict(snakemake.params.spec)
    train, test = prepare_dataset(spec, seed=snakemake.params.seed)
    save_split(train, snakemake.output.train)
    save_split(test, snakemake.output.test)
    write_json(prepared_info(spec, snakemake.params.seed, train, test), snakemake.output.info)
