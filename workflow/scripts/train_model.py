"""Adapter for rule train_model: train one run, resuming from its checkpoint if any.

A run that gets several processes (ImageNet on a node with several GPUs, or
`training.nproc_per_node` > 1) trains data-parallel under torchrun instead of in-process.
Snakemake deletes the rule's log before each attempt; earlier attempts' lines are kept in
train.log beside the checkpoint and copied back in (rethinkgen.io.rule_logging).
"""

import os
import sys

# This checkout's src/ first: conda jobs (--sdm conda) get no PYTHONPATH.
sys.path.insert(0, os.path.normpath(os.path.join(snakemake.scriptdir, "..", "..", "src")))

from rethinkgen.io import rule_logging
from rethinkgen.training.cli import history_path, run_training

checkpoint = snakemake.params.checkpoint
with rule_logging(snakemake.log[0], history=history_path(checkpoint)):
    run_training(snakemake.params.run, threads=snakemake.threads, log_path=snakemake.log[0],
                 tensorboard=snakemake.config["training"].get("tensorboard", False),
                 train=snakemake.input.train, test=snakemake.input.test, checkpoint=checkpoint,
                 metrics=snakemake.output.metrics, info=snakemake.output.info,
                 model=snakemake.output.model)
