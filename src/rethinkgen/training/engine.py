"""Training engine: SGD with per-epoch LR decay, fit detection, divergence handling and
exact resumption from per-epoch checkpoints (Appendix A; docs/paper.md, "Training details").

One code path serves CPU and CUDA. In-memory splits live on the device as uint8 and are
preprocessed per batch by :mod:`rethinkgen.training.preprocess` (which also holds the batch
sources); ImageNet-style image lists are decoded by DataLoader workers. All randomness is seeded from ``cfg.seed``: shuffling and
augmentation draw from an explicit generator, dropout from the global torch RNG, and
every state is checkpointed so a killed run resumes bit-identically on CPU.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from rethinkgen.training import distributed
from rethinkgen.training.checkpoint import (capture_rng_states, load_checkpoint, restore_rng_states,
                                            save_checkpoint)
from rethinkgen.training.epochs import evaluate, train_one_epoch  # noqa: F401 (re-exported)
from rethinkgen.training.models import build_model
from rethinkgen.training.norms import weight_norms
from rethinkgen.training.preprocess import BatchPipeline, make_batches
from rethinkgen.training.protocol import (FIT_METRICS, RUN_STATUSES, Interrupted,  # noqa: F401
                                          RunState, TrainConfig, build_optimizer, epoch_lr,
                                          fit_met)
from rethinkgen.training.records import (METRIC_COLUMNS, RUN_KEYS, format_epoch,  # noqa: F401
                                         metrics_frame, now, run_info)
from rethinkgen.training.validation import hold_out

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    metrics: pd.DataFrame
    info: dict
    model_state: dict


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _input_shape(split, cfg: TrainConfig) -> tuple[int, int, int]:
    if hasattr(split, "paths"):
        return (3, cfg.image_size, cfg.image_size)
    images = split.images
    height, width = images.shape[1], images.shape[2]
    channels = images.shape[3] if images.ndim == 4 else 1
    if cfg.crop_size is None:
        return (channels, height, width)
    if cfg.crop_size > min(height, width):
        raise ValueError(f"crop_size {cfg.crop_size} exceeds the {height}x{width} images")
    return (channels, cfg.crop_size, cfg.crop_size)


def _num_classes(split) -> int:
    classes = getattr(split, "classes", None)
    return len(classes) if classes else int(np.max(split.labels)) + 1


@dataclass
class _Run:
    """What the epoch loop works with, built once by :func:`_setup`."""

    model: nn.Module
    step_model: nn.Module
    optimizer: torch.optim.Optimizer
    pipeline: BatchPipeline
    generators: dict
    train_batches: object
    train_eval_batches: object
    test_batches: object
    dist_ctx: object
    device: torch.device
    top5: bool
    data: dict  # n_train, n_test, num_classes: the facts run_info reports about the data
    # train_clean / train_corrupted: scored with every whole-training-set evaluation
    subset_batches: dict = field(default_factory=dict)


# Label-corrupted training splits carry their true labels; these rows score, against the
# assigned labels, the examples whose label is unchanged and those whose label changed.
TRAIN_SUBSETS = ("train_clean", "train_corrupted")


def label_subsets(train_split) -> dict:
    """{"train_clean": split, "train_corrupted": split}, empty subsets and splits without
    true labels left out. A random label that equals the true one counts as clean."""
    true_labels = getattr(train_split, "true_labels", None)
    if true_labels is None:
        return {}
    changed = np.asarray(train_split.labels) != np.asarray(true_labels)
    masks = dict(zip(TRAIN_SUBSETS, (~changed, changed)))
    return {name: train_split.subset(np.flatnonzero(mask))
            for name, mask in masks.items() if mask.any()}


def _setup(cfg: TrainConfig, train_split, test_split, held_out: dict) -> _Run:
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    dist_ctx = distributed.init_from_env(cfg.device)
    shard = dist_ctx.shard(cfg.seed) if dist_ctx else None
    device = dist_ctx.device if dist_ctx else resolve_device(cfg.device)
    image_list = hasattr(train_split, "paths")
    pipeline = BatchPipeline.from_config(cfg, device, image_list)
    num_classes = _num_classes(train_split)
    torch.manual_seed(cfg.seed)  # model init, then dropout masks (checkpointed)
    model = build_model(cfg.model_spec, num_classes, _input_shape(train_split, cfg),
                        dropout=cfg.dropout).to(device)
    if pipeline.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Shuffles and crops/flips/rotations; a CPU generator for DataLoader-driven splits.
    data_generator = torch.Generator(device="cpu" if image_list else device)
    data_generator.manual_seed(cfg.seed)
    step_model = distributed.wrap_model(model, dist_ctx)  # evaluation uses `model` itself
    if cfg.compile:
        step_model = torch.compile(step_model)
    train_batches = make_batches(train_split, cfg, True, device, shard)
    return _Run(model=model, step_model=step_model, optimizer=build_optimizer(model, cfg),
                pipeline=pipeline, generators={"data": data_generator},
                train_batches=train_batches,
                train_eval_batches=make_batches(train_split, cfg, False, device, shard)
                if image_list else train_batches,
                test_batches=make_batches(test_split, cfg, False, device, shard),
                dist_ctx=dist_ctx, device=device, top5=num_classes > 10,
                data={"n_train": len(train_split), "n_test": len(test_split),
                      "num_classes": num_classes},
                subset_batches={name: make_batches(split, cfg, False, device, shard)
                                for name, split in (label_subsets(train_split) | held_out).items()})


def _resume(run: _Run, cfg: TrainConfig, checkpoint_path, log) -> RunState | None:
    """The checkpointed state, with model, optimizer and RNGs restored; None to start."""
    if not checkpoint_path:
        return None
    checkpoint = load_checkpoint(checkpoint_path, fingerprint=cfg.resumes, log=log)
    if checkpoint is None:
        return None
    run.model.load_state_dict(checkpoint["model"])
    run.optimizer.load_state_dict(checkpoint["optimizer"])
    restore_rng_states(checkpoint["rng"], run.generators)
    log.info("resumed from %s at epoch %d", checkpoint_path, checkpoint["state"]["epoch"])
    return RunState(**checkpoint["state"])


def _save(run: _Run, cfg: TrainConfig, state: RunState, checkpoint_path) -> None:
    if checkpoint_path and (state.status is not None
                            or state.epoch % cfg.checkpoint_every == 0):
        if run.dist_ctx is None or run.dist_ctx.is_main:  # identical models: one writer
            save_checkpoint({"fingerprint": cfg.fingerprint(),
                             "model": run.model.state_dict(),
                             "optimizer": run.optimizer.state_dict(),
                             "rng": capture_rng_states(run.generators),
                             "state": dataclasses.asdict(state)}, checkpoint_path)
        distributed.barrier()  # no rank runs ahead of the checkpoint on disk


def _evaluate(run: _Run, cfg: TrainConfig, batches) -> dict:
    distributed.broadcast_buffers(run.model)  # every shard sees rank 0's batch-norm stats
    return evaluate(run.model, batches.ordered(cfg.eval_batch_size), run.pipeline, run.top5)


def _evaluate_train(run: _Run, cfg: TrainConfig, state: RunState, lr: float,
                    wall_time_s: float, images_per_s: float) -> dict:
    """Whole-training-set evaluation, then its clean and corrupted subsets (if any)."""
    train_eval = _evaluate(run, cfg, run.train_eval_batches)
    state.add_rows("train", train_eval, lr, wall_time_s, images_per_s)
    for name, batches in run.subset_batches.items():
        state.add_rows(name, _evaluate(run, cfg, batches), lr, wall_time_s, images_per_s)
    return train_eval


def _train_epoch(run: _Run, cfg: TrainConfig, epoch: int) -> dict:
    generator = run.generators["data"]
    if run.dist_ctx is not None:  # own dropout masks and crops per rank, derived, not stored
        dropout_seed, augment_seed = run.dist_ctx.shard(cfg.seed).rank_seeds(epoch)
        torch.manual_seed(dropout_seed)
        generator = torch.Generator(device=generator.device)
        generator.manual_seed(augment_seed)
    batches = run.train_batches.shuffled(cfg.batch_size, generator, epoch)
    return train_one_epoch(run.step_model, batches, run.optimizer, run.pipeline, generator,
                           run.top5)


def _stop_requested(should_stop, run: _Run) -> bool:
    """``should_stop()`` on any rank stops all of them (ranks may see SIGTERM at different
    moments; one rank leaving alone would hang the others in a collective)."""
    flag = torch.tensor([1.0 if should_stop() else 0.0], dtype=torch.float64, device=run.device)
    if distributed.is_active():
        flag = distributed.all_reduce_sums(flag)
    return bool(flag.item() > 0)


def _train_and_evaluate(run: _Run, cfg: TrainConfig, state: RunState, epoch: int, lr: float,
                        wall, log) -> None:
    """One epoch of SGD, then its evaluations, fit and status, recorded in ``state``."""
    online = _train_epoch(run, cfg, epoch)
    state.epoch, state.step = epoch, state.step + online["steps"]
    ips = online["images_per_s"]
    state.add_rows("train_online", online, lr, wall(), ips)
    if not math.isfinite(online["loss"]) or online["loss"] > cfg.divergence_loss:
        state.status = "diverged"
        log.warning("epoch %d: training loss %s -> diverged", epoch, online["loss"])
        return
    train_eval = None
    if epoch % cfg.eval_train_every == 0 or epoch == cfg.max_epochs:
        train_eval = _evaluate_train(run, cfg, state, lr, wall(), ips)
    state.record_fit(fit_met(cfg, online, train_eval))
    if cfg.stop_when_fitted and state.fit_streak >= cfg.fit_patience:
        state.status = "fitted"
    elif epoch == cfg.max_epochs:
        state.status = "max_epochs"
    test_eval = None
    if epoch % cfg.eval_test_every == 0 or state.status is not None:  # always at the end
        test_eval = _evaluate(run, cfg, run.test_batches)
        state.add_rows("test", test_eval, lr, wall(), ips)
        state.record_test(test_eval["accuracy"])
    log.info(format_epoch(epoch, cfg.max_epochs, state.step, lr, online, train_eval,
                           test_eval, ips))


def _progress(cfg: TrainConfig, state: RunState) -> dict:
    return {"epoch": state.epoch, "max_epochs": cfg.max_epochs, "step": state.step,
            "status": state.status, "epochs_to_fit": state.epochs_to_fit,
            "wall_time_s": state.wall_time_s}


def train(cfg: TrainConfig, train_split, test_split, checkpoint_path=None,
          log: logging.Logger = logger, on_epoch=None, should_stop=None) -> TrainResult:
    """Train one run for its budget of ``max_epochs``, resuming from ``checkpoint_path``.

    Every epoch: set the learning rate, train, evaluate, record the fit, checkpoint. The
    fit criterion (``fit_metric``, ``fit_threshold``) is recorded, not obeyed, unless
    ``stop_when_fitted``: then the run stops once it held for ``fit_patience`` epochs.
    ``on_epoch(metrics, progress)`` sees every epoch's rows; ``should_stop()`` is polled
    after each checkpoint and ends the run with :class:`Interrupted`. Under torchrun it
    trains data-parallel (:mod:`rethinkgen.training.distributed`).
    """
    started_at = now()
    train_split, held_out = hold_out(train_split, cfg.validation_fraction, cfg.seed)
    run = _setup(cfg, train_split, test_split, held_out)
    is_main = run.dist_ctx is None or run.dist_ctx.is_main
    log = distributed.rank_logger(log, run.dist_ctx)
    state = _resume(run, cfg, checkpoint_path, log)
    resumed_from_epoch = None if state is None else state.epoch
    state = state or RunState()
    segment_start, prior_wall = time.perf_counter(), state.wall_time_s

    def wall() -> float:
        return prior_wall + time.perf_counter() - segment_start

    def report() -> None:
        if on_epoch is not None and is_main:
            on_epoch(metrics_frame(state.rows, cfg), _progress(cfg, state))

    if state.epoch == 0 and not state.rows and cfg.eval_initial:
        _evaluate_train(run, cfg, state, cfg.lr, wall(), math.nan)
        state.add_rows("test", _evaluate(run, cfg, run.test_batches), cfg.lr, wall(), math.nan)
        report()
    progress_bar = _progress_bar(cfg, state) if is_main else None
    while state.status is None and state.epoch < cfg.max_epochs:
        epoch = state.epoch + 1
        lr = epoch_lr(cfg, epoch, len(train_split))
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        _train_and_evaluate(run, cfg, state, epoch, lr, wall, log)
        state.weight_norms.append({"epoch": epoch, "step": state.step, "norms": weight_norms(run.model)})
        state.wall_time_s = wall()
        _save(run, cfg, state, checkpoint_path)
        report()
        if progress_bar is not None:
            progress_bar.update(1)
        if state.status is None and should_stop is not None and _stop_requested(should_stop, run):
            log.warning("stop requested after epoch %d; checkpoint saved", epoch)
            raise Interrupted(f"stopped after epoch {epoch}; rerun to resume")
    if progress_bar is not None:
        progress_bar.close()
    state.status = state.status or "max_epochs"  # max_epochs 0, or resumed when finished
    metrics = metrics_frame(state.rows, cfg)
    info = run_info(cfg, state, metrics, run, started_at, wall(), resumed_from_epoch)
    info["weight_norms"] = state.weight_norms  # per epoch (rethinkgen.training.norms)
    log.info("finished: status %s after %d epochs (%d steps)", state.status, state.epoch,
             state.step)
    model_state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    return TrainResult(metrics=metrics, info=info, model_state=model_state)


def _progress_bar(cfg: TrainConfig, state: RunState):
    """A tqdm bar when a person is watching (interactive stderr)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.max_epochs, initial=state.epoch, unit="epoch")
