"""Train one run from the command line: what rule train_model's adapter does, as a module.

Data-parallel runs start it once per GPU (``rethinkgen.training.distributed.torchrun_command``):

    torchrun --standalone --nproc-per-node=4 -m rethinkgen.training.cli \\
        --run-config run.json --train train.npz --test test.npz --checkpoint last.pt \\
        --metrics metrics.parquet --info run_info.json --model model.pt

``--run-config`` is the run's spec (``rethinkgen.run.RunSpec.to_dict``) as JSON. Every rank
trains; rank 0 alone writes the outputs and removes the checkpoint, the others wait for it.
On SIGTERM the run stops after its next checkpoint and exits with status 143
(``signals.REQUEUE_EXIT_CODE``); a retried job resumes from that checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from rethinkgen.data.splits import load_split
from rethinkgen.io import LOG_FORMAT, file_sha256, sweep_temp_files, write_json, write_parquet
from rethinkgen.run import DATA_SPEC_KEYS, RunSpec
from rethinkgen.schemas import METRICS
from rethinkgen.training import distributed, gpu_share
from rethinkgen.training.checkpoint import remove_checkpoint, save_model
from rethinkgen.training.engine import train as train_run
from rethinkgen.training.examples import write_examples
from rethinkgen.training.live import epoch_hook
from rethinkgen.training.protocol import Interrupted
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.signals import REQUEUE_EXIT_CODE, stop_on_sigterm

logger = logging.getLogger(__name__)


def input_digest(train_path, test_path) -> str:
    """SHA-256 of a run's two input files' bytes (train, then test), streamed."""
    both = f"train {file_sha256(train_path)}\ntest {file_sha256(test_path)}\n"
    return hashlib.sha256(both.encode()).hexdigest()


def data_digest(run: dict, train_path, test_path) -> str:
    """What the run's data is: its input files' digest plus the data specs of its spec
    (which the files' bytes may not reveal: the dataset root of an image-list split).

    Part of the checkpoint fingerprint (``TrainConfig.data_digest``): a checkpoint of a run
    whose data changed since (``n_train``, a corruption's ``prob``, a seed, the dataset
    root) is refused instead of resumed.
    """
    identity = {
        "inputs": input_digest(train_path, test_path),
        **{key: run.get(key) for key in DATA_SPEC_KEYS},
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def train_config(run: dict, train, test, **overrides) -> TrainConfig:
    """The run's TrainConfig, with a fingerprint that covers its input data."""
    return TrainConfig.from_dict(run, data_digest=data_digest(run, train, test), **overrides)


def history_path(checkpoint) -> Path | None:
    """The run's append-only log beside its checkpoint; it outlives Snakemake's log deletion."""
    return None if checkpoint is None else Path(checkpoint).with_name("train.log")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Not `--run`: torchrun would read that as an abbreviation of its own `--run-path`.
    parser.add_argument("--run-config", required=True, help="run dict (JSON file)")
    parser.add_argument("--train", required=True, help="prepared training split (.npz)")
    parser.add_argument("--test", required=True, help="prepared test split (.npz)")
    parser.add_argument("--checkpoint", help="resume from / checkpoint to this file")
    parser.add_argument("--tensorboard-dir", help="write TensorBoard scalars here")
    parser.add_argument("--metrics", required=True, help="output metrics.parquet")
    parser.add_argument("--info", required=True, help="output run_info.json")
    parser.add_argument("--model", required=True, help="output model.pt")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    return parser.parse_args(argv)


def train_and_write(
    cfg: TrainConfig,
    *,
    train,
    test,
    checkpoint,
    metrics,
    info,
    model,
    tensorboard_dir=None,
    should_stop=None,
    examples=None,
) -> None:
    """Train (resuming from ``checkpoint``) and write the run's three outputs, and its
    per-example record to ``examples`` when it keeps one (before the declared outputs).

    Under torchrun every rank trains; rank 0 alone writes, the others wait for it.
    """
    # live files beside the checkpoint, TensorBoard where the run's paths say
    on_epoch = epoch_hook(checkpoint, tensorboard_dir if cfg.tensorboard else None)
    result = train_run(
        cfg,
        load_split(train),
        load_split(test),
        checkpoint_path=checkpoint,
        on_epoch=on_epoch,
        should_stop=should_stop,
    )
    if distributed.is_main_process():
        if result.examples is not None and examples is not None:
            write_examples(result.examples, examples)
        write_parquet(result.metrics, metrics, schema=METRICS)
        save_model(result.model_state, model)
        write_json(result.info, info)
        # Outputs are safe on disk; a stale checkpoint would only shadow a forced rerun.
        remove_checkpoint(checkpoint)
        if checkpoint is not None:  # the rule's log now holds every attempt's lines
            history_path(checkpoint).unlink(missing_ok=True)
    distributed.barrier()  # the job ends only once rank 0's outputs exist


def train_until_stopped(cfg: TrainConfig, **files) -> None:
    """:func:`train_and_write`; on SIGTERM, checkpoint and exit with REQUEUE_EXIT_CODE."""
    with stop_on_sigterm() as stop:
        try:
            train_and_write(cfg, should_stop=stop.requested, **files)
        except Interrupted:
            logger.warning(
                "stopped after saving checkpoint %s; exiting with status %d so "
                "that a retry resumes from it",
                files.get("checkpoint"),
                REQUEUE_EXIT_CODE,
            )
            raise SystemExit(REQUEUE_EXIT_CODE) from None


def run_training(
    spec: RunSpec,
    *,
    threads: int | None,
    log_path,
    train,
    test,
    metrics,
    info,
    model,
    results="results",
) -> None:
    """What rule train_model does: train in this process, or data-parallel under torchrun.

    The spec, scheduling settings included, is written to the run's run.json first: the
    ranks read it, and it shows what the job trained with.
    """
    paths = spec.paths(results)
    write_json(spec.to_dict(), paths.spec)
    files = dict(
        train=train,
        test=test,
        checkpoint=str(paths.checkpoint),
        metrics=metrics,
        info=info,
        model=model,
        tensorboard_dir=str(paths.tensorboard),
    )
    folders = [Path(files[k]).parent for k in ("checkpoint", "metrics", "model")]
    for path in sweep_temp_files(*folders):
        logger.info("removed %s, left by a killed writer", path)
    image_list = distributed.split_is_image_list(train)
    if not image_list:  # before CUDA starts; ImageNet runs keep every GPU they were given
        gpu_share.pin_to_gpu_slot(str(spec.training.get("device", "auto")))
    nproc = distributed.processes_for(spec.to_dict(), image_list, distributed.visible_gpu_count())
    if nproc > 1:
        with stop_on_sigterm():  # the ranks get SIGTERM too: wait for their checkpoint
            distributed.launch(nproc, paths.spec, threads=threads, log_path=log_path, **files)
    else:
        cfg = train_config(spec.to_dict(), train, test, num_threads=threads)
        train_until_stopped(cfg, examples=str(paths.examples), **files)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rank = os.environ.get("RANK", "0")
    # stderr: the launching job appends it to the rule's log.
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=LOG_FORMAT.replace("%(name)s", f"rank{rank} %(name)s"),
    )
    if args.checkpoint and rank == "0":  # rank 0 alone logs epochs; keep them across attempts
        history_path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        history = logging.FileHandler(history_path(args.checkpoint), mode="a")
        history.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(history)
    with open(args.run_config) as handle:
        spec = json.load(handle)
    try:
        train_until_stopped(
            train_config(spec, args.train, args.test, num_threads=args.threads),
            train=args.train,
            test=args.test,
            checkpoint=args.checkpoint,
            metrics=args.metrics,
            info=args.info,
            model=args.model,
            tensorboard_dir=args.tensorboard_dir,
        )
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()
