"""Adapter for rule train_model: train one run, resuming from its checkpoint if any.

The run's spec comes from the config by the same function that gave Snakemake its params
(rethinkgen.config.run_spec), so the job trains exactly the identity Snakemake compared,
with the scheduling settings the config holds now. A run that gets several processes
trains data-parallel under torchrun. Snakemake deletes the rule's log before each attempt;
earlier attempts' lines are kept in train.log beside the checkpoint and copied back in.
"""

import os

import checkout_src  # noqa: F401 (first: this checkout's src/ on sys.path)

from rethinkgen.config import job_run_spec
from rethinkgen.io import rule_logging
from rethinkgen.run import RunPaths
from rethinkgen.training.cli import run_training

schema = os.path.join(snakemake.scriptdir, "..", "schemas", "config.schema.yaml")
spec = job_run_spec(snakemake.config, snakemake.wildcards, snakemake.params.identity, schema)
# Every file of the run follows the rule's own (under a module prefix, below the prefix).
out = snakemake.output
paths = RunPaths.declared(
    spec.keys, metrics=out.metrics, info=out.info, model=out.model, log=snakemake.log[0]
)
with rule_logging(snakemake.log[0], history=paths.history):
    run_training(
        spec,
        paths,
        threads=snakemake.threads,
        train=snakemake.input.train,
        test=snakemake.input.test,
    )
