"""Data-parallel training on the GPUs of one node (torchrun), and how a job launches it.

Two halves:

* Inside the engine (:func:`rethinkgen.training.engine.train`): :func:`init_from_env` notices that
  the process was started by ``torchrun`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` in the
  environment), joins the process group (nccl on CUDA, gloo on CPU) and pins the rank to
  ``cuda:LOCAL_RANK``. A :class:`Shard` tells the batch sources which part of each split
  this rank reads; :func:`all_reduce_sums` turns per-rank metric sums into whole-dataset
  sums; rank 0 alone writes. Without torchrun every helper is a no-op, so single-process
  training is untouched.
* In the job (``workflow/scripts/train_model.py``): :func:`processes_for` decides how many
  processes a run gets and :func:`torchrun_command` builds the command that starts them
  with :mod:`rethinkgen.training.cli`.

Determinism: every rank draws the same shuffling order from ``(seed, epoch)`` and its own
dropout/augmentation streams from ``(seed, epoch, rank)``, so nothing a rank needs to
resume lives outside rank 0's checkpoint.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from rethinkgen.run import RunPaths

logger = logging.getLogger(__name__)

# torchrun's environment; RANK alone is not enough (Slurm-unrelated tools set it too).
TORCHRUN_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
# Rank 0 writes checkpoints and outputs while the others wait at a barrier; ImageNet
# checkpoints of large models on a slow shared file system can take minutes.
BARRIER_TIMEOUT = timedelta(minutes=30)


# ----------------------------------------------------------------------------- engine side


@dataclass(frozen=True)
class Shard:
    """This rank's part of every split: which samples it reads and which seeds it uses."""

    rank: int
    world_size: int
    seed: int

    def permutation(self, n: int, epoch: int) -> torch.Tensor:
        """The epoch's shuffling order, identical on every rank (DistributedSampler's)."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(n, generator=generator)

    def split_batches(self, global_batches: list[torch.Tensor]) -> list[torch.Tensor]:
        """This rank's slice of each global batch (the global batch size stays the config's).

        A last global batch too small to give every rank two samples is dropped: batch norm
        needs two per rank in train mode, and every rank must take the same number of steps
        or DistributedDataParallel's gradient all-reduce hangs.
        """
        if len(global_batches) > 1 and global_batches[-1].numel() < 2 * self.world_size:
            global_batches = global_batches[:-1]
        return [batch[self.rank :: self.world_size] for batch in global_batches]

    def rank_seeds(self, epoch: int) -> tuple[int, int]:
        """(dropout seed, augmentation seed) of this rank for ``epoch``.

        Ranks must not share dropout masks or crops; deriving the seeds from
        (seed, epoch, rank) instead of carrying per-rank RNG state means rank 0's checkpoint
        is all a resumed run needs.
        """
        state = np.random.SeedSequence([self.seed, epoch, self.rank]).generate_state(2, np.uint64)
        return int(state[0] >> np.uint64(1)), int(state[1] >> np.uint64(1))


@dataclass(frozen=True)
class DistributedContext:
    """The torchrun process group this process belongs to."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, seed: int) -> Shard:
        return Shard(self.rank, self.world_size, seed)


def launched_by_torchrun(environ: Mapping[str, str] = os.environ) -> bool:
    return all(name in environ for name in TORCHRUN_ENV)


def init_from_env(
    device_name: str = "auto", environ: Mapping[str, str] = os.environ
) -> DistributedContext | None:
    """Join torchrun's process group, or return None when not started by torchrun.

    ``device_name`` is the config's ``device``: ``auto`` or ``cuda*`` use this rank's GPU
    ``cuda:LOCAL_RANK`` (nccl), ``cpu`` runs every rank on the CPU (gloo).
    """
    if not launched_by_torchrun(environ):
        return None
    rank, local_rank = int(environ["RANK"]), int(environ["LOCAL_RANK"])
    world_size = int(environ["WORLD_SIZE"])
    use_cuda = (device_name == "auto" and torch.cuda.is_available()) or str(device_name).startswith(
        "cuda"
    )
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"rank {rank} needs cuda:{local_rank} but only "
                f"{torch.cuda.device_count()} GPUs are visible"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            device_id=device if use_cuda else None,
            timeout=BARRIER_TIMEOUT,
        )
    return DistributedContext(rank, local_rank, world_size, device)


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    """Rank 0 of a data-parallel run, or the only process."""
    return not is_active() or dist.get_rank() == 0


def wrap_model(model: nn.Module, ctx: DistributedContext | None) -> nn.Module:
    """The module to train with: DistributedDataParallel under torchrun, else ``model``."""
    if ctx is None:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sums(sums: torch.Tensor) -> torch.Tensor:
    """Sum ``sums`` over all ranks in place (no-op in a single process)."""
    if is_active():
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    return sums


def broadcast_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics) before evaluating.

    DDP broadcasts them only at the start of each training forward, so after an epoch
    each rank holds its own last update; rank 0's are the ones checkpointed.
    """
    if is_active():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def barrier() -> None:
    if is_active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def shutdown() -> None:
    if is_active():
        dist.destroy_process_group()


class _RankLogger(logging.LoggerAdapter):
    """Lets only warnings through, tagged with the rank: rank 0 alone reports progress."""

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.WARNING and self.logger.isEnabledFor(level)

    def process(self, msg, kwargs):
        return f"[rank {self.extra['rank']}] {msg}", kwargs


def rank_logger(log: logging.Logger, ctx: DistributedContext | None):
    return log if ctx is None or ctx.is_main else _RankLogger(log, {"rank": ctx.rank})


# ----------------------------------------------------------------------------- job side


def visible_gpu_count(device_count: Callable[[], int] = torch.cuda.device_count) -> int:
    """GPUs this job may use (Slurm's CUDA_VISIBLE_DEVICES is honoured by CUDA itself)."""
    return device_count() if torch.cuda.is_available() else 0


def split_is_image_list(path: str | os.PathLike) -> bool:
    """Whether a prepared split file is an image list (ImageNet), without loading images."""
    from rethinkgen.io import UNREADABLE_FILE_ERRORS, damaged_file_error

    try:
        with np.load(path, allow_pickle=False) as data:
            return "paths" in data.files
    except FileNotFoundError:
        raise
    except UNREADABLE_FILE_ERRORS as error:  # a truncated split: name it and its fix
        raise damaged_file_error(path, error) from error


def processes_for(run: dict, image_list: bool, visible_gpus: int) -> int:
    """How many training processes a run gets on this node (1 = train in-process).

    ``training.nproc_per_node`` > 1 asks for that many explicitly (CPU ranks use gloo).
    Otherwise an image-list (ImageNet) run uses every visible GPU: in-memory datasets are
    small enough that one GPU is faster than paying for gradient all-reduces.
    """
    training = run.get("training") or {}
    requested = int(training.get("nproc_per_node") or 1)
    if requested > 1:
        return requested
    on_gpu = str(training.get("device", "auto")) != "cpu"
    if image_list and on_gpu and visible_gpus > 1:
        return visible_gpus
    return 1


_SRC_DIR = str(Path(__file__).resolve().parents[2])  # the folder holding rethinkgen/


def torchrun_command(
    nproc: int,
    paths: RunPaths,
    *,
    train,
    test,
    threads: int | None = None,
    python: str = sys.executable,
) -> list[str]:
    """``torchrun --standalone --nproc-per-node=N -m rethinkgen.training.cli ...``.

    Spelled ``python -m torch.distributed.run`` (what the ``torchrun`` script runs) so the
    ranks use this interpreter's environment even where ``torchrun`` is not on PATH. The
    ranks rebuild the run's files from its declared outputs (``RunPaths.declared``).
    """
    command = [
        python,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "rethinkgen.training.cli",
        "--run-config",
        str(paths.spec),
        "--train",
        str(train),
        "--test",
        str(test),
        "--metrics",
        str(paths.metrics),
        "--info",
        str(paths.info),
        "--model",
        str(paths.model),
    ]
    if threads:
        command += ["--threads", str(threads)]
    return command


def launch(nproc: int, paths: RunPaths, *, train, test, threads: int | None) -> None:
    """Run the data-parallel training in ``nproc`` processes; raise if it fails.

    Ranks' stdout/stderr are appended to the rule's log (``paths.log``). The job's CPUs are
    split between the ranks (torchrun would otherwise set 1 thread each).
    """
    per_rank_threads = max(1, (threads or 1) // nproc)
    # The ranks import this package: pass on where it is (conda jobs get no PYTHONPATH).
    package_path = os.pathsep.join(p for p in (_SRC_DIR, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, OMP_NUM_THREADS=str(per_rank_threads), PYTHONPATH=package_path)
    command = torchrun_command(nproc, paths, train=train, test=test, threads=per_rank_threads)
    logger.info("data-parallel training on %d processes: %s", nproc, " ".join(command))
    for handler in logging.getLogger().handlers:
        handler.flush()  # keep the log in order: the ranks append to the same file
    with open(paths.log, "a") as log:
        returncode = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, env=env
        ).returncode
    if returncode != 0:
        raise RuntimeError(
            f"data-parallel training failed (exit code {returncode}); see {paths.log}"
        )
