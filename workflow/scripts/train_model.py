"""Adapter for rule train_model: train one run, resuming from its checkpoint if any."""

import logging

from rethinkgen.checkpoint import remove_checkpoint, save_checkpoint
from rethinkgen.data import load_split
from rethinkgen.io import write_json, write_parquet
from rethinkgen.train import TrainConfig, train

logging.basicConfig(
    filename=snakemake.log[0],
    level=logging.INFO,
    format="%(asctime)s %(name)s %(levelname)s %(message)s",
)

cfg = TrainConfig.from_dict(snakemake.params.run, num_threads=snakemake.threads)
result = train(
    cfg,
    load_split(snakemake.input.train),
    load_split(snakemake.input.test),
    checkpoint_path=snakemake.params.checkpoint,
)
write_parquet(result.metrics, snakemake.output.metrics)
save_checkpoint(result.model_state, snakemake.output.model)
write_json(result.info, snakemake.output.info)
# Outputs are safe on disk; a stale checkpoint would only shadow a forced rerun.
remove_checkpoint(snakemake.params.checkpoint)
