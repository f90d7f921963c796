"""Adapter for rule train_model: train one run, resuming from its checkpoint if any.

A run that gets several processes (ImageNet on a node with several GPUs, or
`training.nproc_per_node` > 1) trains data-parallel under torchrun instead of in-process.
"""

import logging

from rethinkgen.training import distributed, gpu_share
from rethinkgen.training.engine import TrainConfig
from rethinkgen.training.cli import train_and_write

logging.basicConfig(
    filename=snakemake.log[0],
    level=logging.INFO,
    format="%(asctime)s %(name)s %(levelname)s %(message)s",
)

run, threads = snakemake.params.run, snakemake.threads
files = dict(train=snakemake.input.train, test=snakemake.input.test,
             checkpoint=snakemake.params.checkpoint, metrics=snakemake.output.metrics,
             info=snakemake.output.info, model=snakemake.output.model)
image_list = distributed.split_is_image_list(snakemake.input.train)
if not image_list:  # before CUDA starts; ImageNet runs keep every GPU they were given
    gpu_share.pin_to_gpu_slot(str(run["training"].get("device", "auto")))
nproc = distributed.processes_for(run, image_list, distributed.visible_gpu_count())
if nproc > 1:
    distributed.launch(nproc, run, threads=threads, log_path=snakemake.log[0], **files)
else:
    train_and_write(TrainConfig.from_dict(run, num_threads=threads), **files)
