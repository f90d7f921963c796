"""Training engine: SGD with per-epoch LR decay, fit detection, divergence handling and
exact resumption from per-epoch checkpoints (Appendix A; docs/paper.md, "Training details").

One code path serves CPU and CUDA. In-memory splits live on the device as uint8 and are
preprocessed per batch by :mod:`rethinkgen.training.preprocess` (which also holds the batch
sources); ImageNet-style image lists are decoded by DataLoader workers. All randomness is
seeded from ``cfg.seed``: shuffling and augmentation draw from an explicit generator,
dropout from the global torch RNG, and every state is checkpointed so a killed run resumes
bit-identically on CPU.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from rethinkgen.training import console, distributed
from rethinkgen.training.checkpoint import (
    capture_rng_states,
    load_checkpoint,
    move_aside,
    restore_rng_states,
    save_checkpoint,
)
from rethinkgen.training.epochs import evaluate, train_one_epoch
from rethinkgen.training.examples import ExampleIds, evaluation_record, examples_table
from rethinkgen.training.models import count_parameters
from rethinkgen.training.norms import EpochGradients, weight_norms
from rethinkgen.training.precision import precision_name
from rethinkgen.training.protocol import (
    Interrupted,
    decayed_parameter_names,
    epoch_lr,
    fit_met,
)
from rethinkgen.training.records import format_epoch, metrics_frame, now, run_info
from rethinkgen.training.session import Session, setup
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.state import RunState, code_identity
from rethinkgen.training.validation import hold_out

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    metrics: pd.DataFrame
    info: dict
    model_state: dict
    examples: object = None  # record_examples: the per-example record (schemas.EXAMPLES)


class _StateMismatch(Exception):
    """A checkpoint that passed its checks holds state this code cannot load."""


def _resume(run: Session, cfg: TrainConfig, checkpoint_path, log) -> RunState | None:
    """The checkpointed state, with model, optimizer and RNGs restored; None to start.

    Raises _StateMismatch (after moving the checkpoint aside) when its weights or optimizer
    state do not fit this code's model, e.g. after a change of a layer's shape.
    """
    if not checkpoint_path:
        return None
    checkpoint = load_checkpoint(
        checkpoint_path, fingerprint=cfg.resumes, log=log, explain=cfg.explain_difference
    )
    if checkpoint is None:
        return None
    try:
        state = RunState(**checkpoint["state"])
        budget = _budget_change(cfg, checkpoint["fingerprint"], state)
        if budget is not None:
            moved = move_aside(Path(checkpoint_path))
            log.warning(
                "not resuming from checkpoint %s: %s; moved it to %s",
                checkpoint_path,
                budget,
                moved,
            )
            raise _StateMismatch(budget)
        run.model.load_state_dict(checkpoint["model"])
        run.optimizer.load_state_dict(checkpoint["optimizer"])
        restore_rng_states(checkpoint["rng"], run.generators)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        moved = move_aside(Path(checkpoint_path))
        log.warning(
            "not resuming from checkpoint %s: its state does not load into this "
            "code's model (%s); moved it to %s, starting the run over",
            checkpoint_path,
            str(error).strip().splitlines()[0],
            moved,
        )
        raise _StateMismatch from error
    log.info("resumed from %s at epoch %d", checkpoint_path, state.epoch)
    return state


def _budget_change(cfg: TrainConfig, recorded: str, state: RunState) -> str | None:
    """For a checkpoint of this run under another budget (``TrainConfig.resumes``): why
    it cannot go on, or None; a run that had ended under the old budget goes on."""
    differing = cfg.differences(recorded) or []
    if not differing:
        return None
    refusal = cfg.budget_refusal(state.epoch, recorded)
    stops_here = (
        cfg.stop_when_fitted and state.fit_stop_epoch is not None and state.epoch >= cfg.min_epochs
    )
    if refusal is None and state.status in ("max_epochs", "fitted") and not stops_here:
        state.status = None  # ended under the old budget; this one trains on
    return refusal


def _save(
    run: Session, cfg: TrainConfig, state: RunState, checkpoint_path, force: bool = False
) -> None:
    """Checkpoint every ``checkpoint_every`` epochs, at the end, and when ``force``d."""
    if checkpoint_path and (
        force or state.status is not None or state.epoch % cfg.checkpoint_every == 0
    ):
        if run.dist_ctx is None or run.dist_ctx.is_main:  # identical models: one writer
            save_checkpoint(
                {
                    "fingerprint": cfg.fingerprint(),
                    "model": run.model.state_dict(),
                    "optimizer": run.optimizer.state_dict(),
                    "rng": capture_rng_states(run.generators),
                    "state": dataclasses.asdict(state),
                },
                checkpoint_path,
            )
        distributed.barrier()  # no rank runs ahead of the checkpoint on disk


def _evaluate(run: Session, cfg: TrainConfig, batches, per_example=None) -> dict:
    distributed.broadcast_buffers(run.model)  # every shard sees rank 0's batch-norm stats
    ordered = batches.ordered(cfg.eval_batch_size)
    return evaluate(run.model, ordered, run.pipeline, run.top5, per_example)


def _evaluate_train(
    run: Session,
    cfg: TrainConfig,
    state: RunState,
    lr: float,
    wall_time_s: float,
    images_per_s: float,
) -> dict:
    """Whole-training-set evaluation, then its clean and corrupted subsets (if any)."""
    per_example = [] if cfg.record_examples else None
    train_eval = _evaluate(run, cfg, run.train_eval_batches, per_example)
    state.add_rows("train", train_eval, lr, wall_time_s, images_per_s)
    if per_example is not None:
        state.examples.append(evaluation_record(state.epoch, per_example))
    for name, batches in run.subset_batches.items():
        state.add_rows(name, _evaluate(run, cfg, batches), lr, wall_time_s, images_per_s)
    return train_eval


def _train_epoch(run: Session, cfg: TrainConfig, epoch: int) -> dict:
    generator = run.generators["data"]
    if run.dist_ctx is not None:  # own dropout masks and crops per rank, derived, not stored
        dropout_seed, augment_seed = run.dist_ctx.shard(cfg.seed).rank_seeds(epoch)
        torch.manual_seed(dropout_seed)
        generator = torch.Generator(device=generator.device)
        generator.manual_seed(augment_seed)
    batches = run.train_batches.shuffled(cfg.batch_size, generator, epoch)
    return train_one_epoch(
        run.step_model, batches, run.optimizer, run.pipeline, generator, run.top5
    )


def _stop_requested(should_stop, run: Session) -> bool:
    """``should_stop()`` on any rank stops all of them (ranks may see SIGTERM at different
    moments; one rank leaving alone would hang the others in a collective)."""
    flag = torch.tensor([1.0 if should_stop() else 0.0], dtype=torch.float64, device=run.device)
    if distributed.is_active():
        flag = distributed.all_reduce_sums(flag)
    return bool(flag.item() > 0)


def _train_and_evaluate(
    run: Session, cfg: TrainConfig, state: RunState, epoch: int, lr: float, wall, log
) -> None:
    """One epoch of SGD, then its evaluations, fit and status, recorded in ``state``.

    The whole training set and the test set are scored on their schedules, at every
    read-out epoch, and at the epoch the run stops or first fits (where a stop-at-fit
    experiment reads it), whatever the schedule: no final value is stale.
    """
    online = _train_epoch(run, cfg, epoch)
    state.epoch, state.step = epoch, state.step + online["steps"]
    ips = online["images_per_s"]
    state.add_rows("train_online", online, lr, wall(), ips)
    diverged = not math.isfinite(online["loss"]) or online["loss"] > cfg.divergence_loss
    readout = epoch >= cfg.max_epochs or epoch in cfg.readout_epochs
    train_eval = None
    if not diverged and (epoch % cfg.eval_train_every == 0 or readout):
        train_eval = _evaluate_train(run, cfg, state, lr, wall(), ips)
    first_fit = not diverged and state.record_fit(
        fit_met(cfg, online, train_eval), cfg.fit_patience
    )
    if diverged:
        state.status = "diverged"
        log.warning("epoch %d: training loss %s -> diverged", epoch, online["loss"])
    elif cfg.stop_when_fitted and state.fit_stop_epoch is not None and epoch >= cfg.min_epochs:
        state.status = "fitted"
    elif epoch >= cfg.max_epochs:
        state.status = "max_epochs"
    stop_point = state.status is not None or (first_fit and cfg.score_at_fit)
    if train_eval is None and stop_point:
        train_eval = _evaluate_train(run, cfg, state, lr, wall(), ips)
    test_eval = None
    if epoch % cfg.eval_test_every == 0 or readout or stop_point:
        test_eval = _evaluate(run, cfg, run.test_batches)
        state.add_rows("test", test_eval, lr, wall(), ips)
        state.record_test(test_eval["accuracy"])
    log.info(
        format_epoch(epoch, cfg.max_epochs, state.step, lr, online, train_eval, test_eval, ips)
    )


def _progress(cfg: TrainConfig, state: RunState) -> dict:
    return {
        "epoch": state.epoch,
        "max_epochs": cfg.max_epochs,
        "step": state.step,
        "status": state.status,
        "epochs_to_fit": state.epochs_to_fit,
        "wall_time_s": state.wall_time_s,
    }


def train(
    cfg: TrainConfig,
    train_split,
    test_split,
    checkpoint_path=None,
    log: logging.Logger = logger,
    on_epoch=None,
    should_stop=None,
) -> TrainResult:
    """Train one run for its budget of ``max_epochs``, resuming from ``checkpoint_path``.

    Every epoch: set the learning rate, train, evaluate, record the fit, checkpoint. The
    fit criterion (``fit_metric``, ``fit_threshold``) is recorded, not obeyed, unless
    ``stop_when_fitted``: then the run stops once it held for ``fit_patience`` epochs.
    ``on_epoch(metrics, progress)`` sees every epoch's rows; ``should_stop()`` is polled
    after each epoch and ends the run, after a checkpoint, with :class:`Interrupted`. Under
    torchrun it trains data-parallel (:mod:`rethinkgen.training.distributed`).
    """
    started_at = now()
    ids = (
        ExampleIds.of(train_split, cfg.validation_fraction, cfg.seed)
        if cfg.record_examples
        else None
    )
    train_split, held_out = hold_out(train_split, cfg.validation_fraction, cfg.seed)
    run = setup(cfg, train_split, test_split, held_out)
    is_main = run.dist_ctx is None or run.dist_ctx.is_main
    log = distributed.rank_logger(log, run.dist_ctx)
    try:
        state = _resume(run, cfg, checkpoint_path, log)
    except _StateMismatch:  # the failed load may have changed the model: build it afresh
        run, state = setup(cfg, train_split, test_split, held_out), None
    resumed_from_epoch = None if state is None else state.epoch
    state = state or RunState()
    if state.note_code(code_identity()):
        log.warning(
            "resuming at epoch %d with other code than trained epochs 1-%d "
            "(recorded in run_info.json code_versions)",
            state.epoch + 1,
            state.epoch,
        )
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
    # the loss gradient's epoch mean, beside the weight norms, where weight decay acts
    gradients = EpochGradients(run.model, run.optimizer) if cfg.weight_decay > 0 else None
    progress_bar = _progress_bar(cfg, state) if is_main else None
    while state.status is None and state.epoch < cfg.max_epochs:
        epoch = state.epoch + 1
        lr = epoch_lr(cfg, epoch, len(train_split))
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        _train_and_evaluate(run, cfg, state, epoch, lr, wall, log)
        norms = {"epoch": epoch, "step": state.step, "norms": weight_norms(run.model)}
        if gradients is not None:
            norms["gradient_norms"] = gradients.take()
        state.weight_norms.append(norms)
        state.wall_time_s = wall()
        stop = (
            state.status is None and should_stop is not None and _stop_requested(should_stop, run)
        )
        _save(run, cfg, state, checkpoint_path, force=stop)
        report()
        if progress_bar is not None:
            progress_bar.update(1)
        if stop:
            log.warning("stop requested after epoch %d; checkpoint saved", epoch)
            raise Interrupted(f"stopped after epoch {epoch}; rerun to resume")
    if progress_bar is not None:
        progress_bar.close()
    state.status = state.status or "max_epochs"  # max_epochs 0, or resumed when finished
    metrics = metrics_frame(state.rows, cfg)
    info = run_info(cfg, state, metrics, _facts(run), started_at, wall(), resumed_from_epoch)
    info["weight_norms"] = state.weight_norms  # per epoch (rethinkgen.training.norms)
    info["decayed_parameters"] = decayed_parameter_names(run.model, cfg)
    log.info(
        "finished: status %s after %d epochs (%d steps)", state.status, state.epoch, state.step
    )
    model_state = {k: v.detach().cpu() for k, v in run.model.state_dict().items()}
    examples = None if ids is None else examples_table(state.examples, ids, info["keys"])
    return TrainResult(metrics=metrics, info=info, model_state=model_state, examples=examples)


def _facts(run: Session) -> dict:
    """What run_info.json reports about the data, the model and where it trained."""
    return {
        "data": run.data,
        "num_params": count_parameters(run.model),
        "device": str(run.device),
        "world_size": run.dist_ctx.world_size if run.dist_ctx else 1,
        "precision": precision_name(run.pipeline.autocast_dtype),
    }


def _progress_bar(cfg: TrainConfig, state: RunState):
    """A tqdm bar named after the run, when a person watches this job alone (console.py)."""
    if not console.progress_bar_wanted(sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(
        total=cfg.max_epochs, initial=state.epoch, unit="epoch", desc=console.run_label(cfg)
    )
