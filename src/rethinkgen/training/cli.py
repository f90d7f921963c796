"""Train one run from the command line: what rule train_model's adapter does, as a module.

Data-parallel runs start it once per GPU (``rethinkgen.training.distributed.torchrun_command``):

    torchrun --standalone --nproc-per-node=4 -m rethinkgen.training.cli \\
        --run-config run.json --train train.npz --test test.npz \\
        --metrics metrics.parquet --info run_info.json --model model.pt

``--run-config`` is the run's spec (``rethinkgen.run.RunSpec.to_dict``) as JSON; the three
outputs are the ones rule train_model declared, and the run's other files
(checkpoint, live metrics, TensorBoard) go where ``RunPaths.declared`` puts them. Every rank
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

from rethinkgen.data.splits import load_split
from rethinkgen.io import (
    LOG_FORMAT,
    exclusive_lock,
    file_sha256,
    sweep_temp_files,
    write_json,
    write_parquet,
)
from rethinkgen.run import DATA_SPEC_KEYS, RunKeys, RunPaths, RunSpec
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Not `--run`: torchrun would read that as an abbreviation of its own `--run-path`.
    parser.add_argument("--run-config", required=True, help="run dict (JSON file)")
    parser.add_argument("--train", required=True, help="prepared training split (.npz)")
    parser.add_argument("--test", required=True, help="prepared test split (.npz)")
    parser.add_argument("--metrics", required=True, help="output metrics.parquet")
    parser.add_argument("--info", required=True, help="output run_info.json")
    parser.add_argument("--model", required=True, help="output model.pt")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    return parser.parse_args(argv)


def train_and_write(cfg: TrainConfig, paths: RunPaths, *, train, test, should_stop=None) -> None:
    """Train (resuming from ``paths.checkpoint``) and write the run's three outputs, and
    its per-example record (``paths.examples``) when it keeps one, before them.

    Under torchrun every rank trains; rank 0 alone writes, the others wait for it.
    """
    result = train_run(
        cfg,
        load_split(train),
        load_split(test),
        checkpoint_path=paths.checkpoint,
        on_epoch=epoch_hook(paths, tensorboard=cfg.tensorboard),
        should_stop=should_stop,
    )
    if distributed.is_main_process():
        if result.examples is not None:
            write_examples(result.examples, paths.examples)
        write_parquet(result.metrics, paths.metrics, schema=METRICS)
        save_model(result.model_state, paths.model)
        write_json(result.info, paths.info)
        # Outputs are safe on disk; a stale checkpoint would only shadow a forced rerun.
        remove_checkpoint(paths.checkpoint)
        paths.history.unlink(missing_ok=True)  # the rule's log now holds every attempt's lines
    distributed.barrier()  # the job ends only once rank 0's outputs exist


def train_until_stopped(cfg: TrainConfig, paths: RunPaths, *, train, test) -> None:
    """:func:`train_and_write`; on SIGTERM, checkpoint and exit with REQUEUE_EXIT_CODE."""
    with stop_on_sigterm() as stop:
        try:
            train_and_write(cfg, paths, train=train, test=test, should_stop=stop.requested)
        except Interrupted:
            logger.warning(
                "stopped after saving checkpoint %s; exiting with status %d so "
                "that a retry resumes from it",
                paths.checkpoint,
                REQUEUE_EXIT_CODE,
            )
            raise SystemExit(REQUEUE_EXIT_CODE) from None


def run_training(spec: RunSpec, paths: RunPaths, *, threads: int | None, train, test) -> None:
    """What rule train_model does: train in this process, or data-parallel under torchrun.

    ``paths``: the run's files, from the rule's declared outputs and log
    (``RunPaths.declared``). The spec, scheduling settings included, is written to the
    run's run.json first: the ranks read it, and it shows what the job trained with.
    """
    with exclusive_lock(paths.lock, f"run {spec.keys.subpath}"):
        _run_locked(spec, paths, threads, train, test)


def _run_locked(spec: RunSpec, paths: RunPaths, threads, train, test) -> None:
    write_json(spec.to_dict(), paths.spec)
    folders = {paths.checkpoint_dir, paths.run_dir}
    for path in sweep_temp_files(*sorted(folders)):
        logger.info("removed %s, left by a killed writer", path)
    image_list = distributed.split_is_image_list(train)
    if not image_list:  # before CUDA starts; ImageNet runs keep every GPU they were given
        gpu_share.pin_to_gpu_slot(str(spec.training.get("device", "auto")))
    nproc = distributed.processes_for(spec.to_dict(), image_list, distributed.visible_gpu_count())
    if nproc > 1:
        with stop_on_sigterm():  # the ranks get SIGTERM too: wait for their checkpoint
            distributed.launch(nproc, paths, train=train, test=test, threads=threads)
    else:
        cfg = train_config(spec.to_dict(), train, test, num_threads=threads)
        train_until_stopped(cfg, paths, train=train, test=test)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rank = os.environ.get("RANK", "0")
    # stderr: the launching job appends it to the rule's log.
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=LOG_FORMAT.replace("%(name)s", f"rank{rank} %(name)s"),
    )
    with open(args.run_config) as handle:
        spec = json.load(handle)
    paths = RunPaths.declared(
        RunKeys.of(spec), metrics=args.metrics, info=args.info, model=args.model
    )
    if rank == "0":  # rank 0 alone logs epochs; keep them across attempts
        paths.history.parent.mkdir(parents=True, exist_ok=True)
        history = logging.FileHandler(paths.history, mode="a")
        history.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(history)
    try:
        train_until_stopped(
            train_config(spec, args.train, args.test, num_threads=args.threads),
            paths,
            train=args.train,
            test=args.test,
        )
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()
