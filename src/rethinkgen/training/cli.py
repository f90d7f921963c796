"""Train one run from the command line: what rule train_model's adapter does, as a module.

Data-parallel runs start it once per GPU (``rethinkgen.training.distributed.torchrun_command``):

    torchrun --standalone --nproc-per-node=4 -m rethinkgen.training.cli \\
        --run-config run.json --train train.npz --test test.npz --checkpoint last.pt \\
        --metrics metrics.parquet --info run_info.json --model model.pt

``--run-config`` is the run dict of ``get_run_config`` (docs/design.md) as JSON. Every rank
trains; rank 0 alone writes the outputs and removes the checkpoint, the others wait for it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from rethinkgen.training import distributed
from rethinkgen.training.checkpoint import remove_checkpoint, save_checkpoint
from rethinkgen.data.sources import load_split
from rethinkgen.io import write_json, write_parquet
from rethinkgen.training.engine import TrainConfig
from rethinkgen.training.engine import train as train_run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Not `--run`: torchrun would read that as an abbreviation of its own `--run-path`.
    parser.add_argument("--run-config", required=True, help="run dict (JSON file)")
    parser.add_argument("--train", required=True, help="prepared training split (.npz)")
    parser.add_argument("--test", required=True, help="prepared test split (.npz)")
    parser.add_argument("--checkpoint", help="resume from / checkpoint to this file")
    parser.add_argument("--metrics", required=True, help="output metrics.parquet")
    parser.add_argument("--info", required=True, help="output run_info.json")
    parser.add_argument("--model", required=True, help="output model.pt")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    return parser.parse_args(argv)


def train_and_write(cfg: TrainConfig, *, train, test, checkpoint, metrics, info,
                    model) -> None:
    """Train (resuming from ``checkpoint``) and write the run's three outputs.

    Under torchrun every rank trains; rank 0 alone writes, the others wait for it.
    """
    result = train_run(cfg, load_split(train), load_split(test), checkpoint_path=checkpoint)
    if distributed.is_main_process():
        write_parquet(result.metrics, metrics)
        save_checkpoint(result.model_state, model)
        write_json(result.info, info)
        # Outputs are safe on disk; a stale checkpoint would only shadow a forced rerun.
        remove_checkpoint(checkpoint)
    distributed.barrier()  # the job ends only once rank 0's outputs exist


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # stderr: the launching job appends it to the rule's log.
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format=f"%(asctime)s rank{os.environ.get('RANK', '0')} %(name)s %(levelname)s "
               "%(message)s")
    with open(args.run_config) as handle:
        run = json.load(handle)
    try:
        train_and_write(TrainConfig.from_dict(run, num_threads=args.threads),
                        train=args.train, test=args.test, checkpoint=args.checkpoint,
                        metrics=args.metrics, info=args.info, model=args.model)
    finally:
        distributed.shutdown()

if __name__ == "__main__":
    main()
