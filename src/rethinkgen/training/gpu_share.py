"""Several training runs on one GPU: what each train job claims, and which GPU it uses.

The paper's CIFAR-10 nets use a small fraction of a modern GPU, so ``training.runs_per_gpu: k``
lets k training jobs share each GPU. Three pieces, all free of heavy imports because the
first two run while Snakemake parses the workflow:

* :func:`train_job_resources`: the Snakemake resources of one ``train_model`` job. A CUDA job
  always claims one ``gpu_slots`` (its share); it claims a whole ``gpu`` only when GPUs are
  not shared (k = 1), so ``--resources gpu=G`` keeps its old meaning.
* :func:`slot_limit`: ``--resources gpu=G`` becomes ``gpu_slots = G * k`` (unless
  ``gpu_slots`` is given), so Snakemake starts k jobs per GPU. Inside a Slurm group job the
  group's own ``--resources gpu_slots=...`` caps how many members run at once.
* :func:`pin_to_gpu_slot`: inside a job, before CUDA starts, take a free slot (an ``flock``
  on a per-machine lock file, released by the kernel when the job ends, even on SIGKILL) and
  set ``CUDA_VISIBLE_DEVICES`` to that slot's GPU, so k jobs land on each of the G GPUs.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Mapping, MutableMapping

logger = logging.getLogger(__name__)

# "G:k": G GPUs, k runs per GPU; set by the workflow (common.smk), read by each job.
SLOTS_ENV = "RETHINKGEN_GPU_SLOTS"
_held_locks: list[IO] = []  # slot locks live as long as the job's process


def runs_per_gpu(training: Mapping) -> int:
    return int(training.get("runs_per_gpu") or 1)


def wants_cuda(training: Mapping) -> bool:
    return str(training.get("device", "auto")).startswith("cuda")


def train_job_resources(training: Mapping) -> dict[str, int]:
    """``gpu`` and ``gpu_slots`` of one train job, from the config's ``training:`` section.

    Decided from config, never by probing the submit host: ``device: auto`` claims nothing
    (it still trains on a GPU when the job's host has one).
    """
    if not wants_cuda(training):
        return {"gpu": 0, "gpu_slots": 0}
    return {"gpu": 1 if runs_per_gpu(training) == 1 else 0, "gpu_slots": 1}


def slot_limit(gpus: int | None, slots: int | None, per_gpu: int) -> int | None:
    """The ``gpu_slots`` limit to register: G * k when only ``gpu`` = G was given."""
    if slots is not None or not gpus:
        return None
    return gpus * per_gpu


def export_slots(
    gpus: int | None, per_gpu: int, environ: MutableMapping[str, str] = os.environ
) -> None:
    """Tell the jobs (which inherit the environment) how many slots exist and per GPU."""
    if gpus:
        environ[SLOTS_ENV] = f"{gpus}:{per_gpu}"
    else:
        environ.pop(SLOTS_ENV, None)


def _lock_dir(visible: str) -> Path:
    # Per user and per visible-device set: two Slurm jobs on different GPUs of one node
    # never compete for slots.
    tag = visible.replace(",", "_") or "all"
    path = Path(tempfile.gettempdir()) / f"rethinkgen-gpu-slots-{os.getuid()}-{tag}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _take_free_slot(lock_dir: Path, count: int) -> int | None:
    for slot in range(count):
        handle = open(lock_dir / f"slot{slot}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held_locks.append(handle)
        return slot
    return None


def pin_to_gpu_slot(
    device: str = "auto",
    environ: MutableMapping[str, str] = os.environ,
    lock_dir: Path | None = None,
) -> int | None:
    """Take a GPU slot and restrict CUDA to its GPU; call before anything touches CUDA.

    Returns the GPU index (within the devices visible before the call), or None when the
    workflow did not announce slots (no ``--resources gpu=G``), G = 1 (nothing to choose), or
    ``device`` is cpu or names its GPU (``cuda:N``). Slot s of G * k uses GPU s mod G, so the
    first G jobs spread over all GPUs.
    """
    spec = environ.get(SLOTS_ENV)
    if not spec or device == "cpu" or ":" in device:
        return None
    gpus, per_gpu = (int(part) for part in spec.split(":"))
    visible = environ.get("CUDA_VISIBLE_DEVICES", "")
    devices = [d for d in visible.split(",") if d.strip()] or [str(i) for i in range(gpus)]
    gpus = min(gpus, len(devices))
    if gpus <= 1:
        return None
    slot = _take_free_slot(lock_dir or _lock_dir(visible), gpus * per_gpu)
    if slot is None:  # more jobs than slots (e.g. a second workflow): share, but say so
        slot = os.getpid() % (gpus * per_gpu)
        logger.warning("all %d GPU slots are taken; sharing slot %d", gpus * per_gpu, slot)
    gpu = slot % gpus
    environ["CUDA_VISIBLE_DEVICES"] = devices[gpu]
    logger.info("GPU slot %d of %d: CUDA_VISIBLE_DEVICES=%s", slot, gpus * per_gpu, devices[gpu])
    return gpu


def missing_gpu_message(training: Mapping, where: str = "") -> str | None:
    """Why a local run cannot start (``device: cuda`` but no usable GPU), or None.
    ``where``: which run asks for it (its device may come from its model's section or
    the command line's override)."""
    if not wants_cuda(training):
        return None
    import torch  # only here: the check runs once, when a local run starts

    if torch.cuda.is_available():
        return None
    return (
        f"training.device is '{training['device']}'{where} but torch {torch.__version__} sees "
        "no CUDA GPU on this machine. Run on a GPU machine, submit to a cluster "
        "(--profile slurm), or set training.device to auto (a GPU where the job's "
        "machine has one) or cpu in the config."
    )
