"""The training protocol of one run: its settings (``TrainConfig``), the learning-rate
schedule, the optimizer with its weight-decay scope, the fit criterion and the state a
checkpoint carries (Appendix A; docs/paper.md, "Training details")."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field

import torch
from torch import nn

logger = logging.getLogger(__name__)

# Settings that may change between a run and its resumption without invalidating it.
_RUNTIME_ONLY = ("num_threads", "num_workers", "eval_batch_size", "checkpoint_every", "run",
                 "nproc_per_node", "tensorboard")

@dataclass(frozen=True)
class TrainConfig:
    """Everything one run needs; ``from_dict`` reads the workflow's run dict."""

    model_spec: dict
    lr: float
    seed: int = 0
    dataset: str = ""
    model: str = ""
    corruption: str = ""
    regularizer: str = ""
    # regularizer (explicit regularizers; unset = off)
    weight_decay: float = 0.0
    weight_decay_scope: str = "weights"  # weights (conv/linear kernels, as TF-slim) | all
    dropout: float = 0.0
    random_crop: bool = False
    augment: bool = False
    # training (config.yaml `training:`)
    batch_size: int = 128
    momentum: float = 0.9
    lr_decay: float = 0.95
    # None: multiply the lr by lr_decay every epoch (the paper). N: by lr_decay every N
    # steps, applied per epoch, so a small subset keeps the paper's decay per step
    # (its epoch was 391 steps: 50,000 images at batch 128).
    lr_decay_every_steps: int | None = None
    max_epochs: int = 150               # the budget: epochs trained unless stopped at fit
    lr_warmup_epochs: int = 0           # ours: lr ramps up linearly over these epochs
    # Fit: the first epoch meeting the criterion (see fit_met) is recorded either way;
    # stop_when_fitted ends the run once it held for fit_patience evaluations.
    fit_metric: str = "online_loss"     # online_loss | online_accuracy | train_accuracy
    fit_threshold: float = 0.1          # loss: below it; accuracy: at or above it
    stop_when_fitted: bool = False
    fit_patience: int = 1
    eval_train_every: int = 1
    eval_test_every: int = 1           # epochs between test evaluations (and at the end)
    # engine settings added by this module (defaults chosen from CPU measurements)
    crop_size: int | None = 28          # central (or random) crop; None = full image
    whiten: bool = True                 # TF per_image_standardization
    rotation_degrees: float = 25.0      # `augment` rotation range (Table 4 footnote 2)
    divergence_loss: float = 1.0e3      # epoch-mean train loss above this = diverged
    eval_initial: bool = True           # evaluate at epoch 0, before any step
    eval_batch_size: int = 1024
    device: str = "auto"                # auto | cpu | cuda | cuda:N
    num_threads: int | None = None      # torch.set_num_threads; None = leave as is
    amp: str = "off"                    # off (fp32, the paper) | bf16 autocast | auto (bf16 where faster)
    channels_last: str = "auto"         # auto = conv nets only | on | off
    compile: bool = False               # torch.compile the model
    checkpoint_every: int = 1           # epochs between checkpoints (and at the end)
    image_size: int = 299               # image-list (ImageNet) splits: decoded size
    num_workers: int = 4                # image-list splits: JPEG-decoding workers (per rank)
    # > 1: train data-parallel in this many processes (rethinkgen.training.distributed decides and
    # launches; the engine itself follows torchrun's environment)
    nproc_per_node: int = 1
    data_digest: str = ""               # digest of the run's input data (set by the caller)
    tensorboard: bool = False           # also write TensorBoard event files
    run: dict = field(default_factory=dict)  # the resolved run dict, echoed in run_info

    @classmethod
    def from_dict(cls, run: dict, **overrides) -> "TrainConfig":
        """Build from ``get_run_config``'s dict (docs/design.md); ``overrides`` win."""
        training = dict(run.get("training") or {})
        regularizer = run.get("regularizer_spec") or {}
        model_spec = dict(run["model_spec"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(training) - known)
        if unknown:
            logger.warning("ignoring unknown training keys: %s", unknown)
        values = {k: v for k, v in training.items() if k in known}
        values.update(
            model_spec=model_spec,
            lr=float(model_spec.get("lr", training.get("lr", 0.01))),
            seed=int(run.get("seed", 0)),
            dataset=str(run.get("dataset", "")), model=str(run.get("model", "")),
            corruption=str(run.get("corruption", "")),
            regularizer=str(run.get("regularizer", "")),
            weight_decay=float(regularizer.get("weight_decay") or 0.0),
            weight_decay_scope=str(regularizer.get("weight_decay_scope", "weights")),
            dropout=float(regularizer.get("dropout") or 0.0),
            random_crop=bool(regularizer.get("random_crop", False)),
            augment=bool(regularizer.get("augment", False)),
            run=run,
        )
        values.update(overrides)
        return cls(**values)

    def fingerprint(self) -> str:
        """Identity of the run's results, to refuse resuming a different run's checkpoint."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in _RUNTIME_ONLY}
        return json.dumps(d, sort_keys=True, default=str)

    def resumes(self, recorded: str | None) -> bool:
        """Whether a checkpoint with fingerprint ``recorded`` is this run's.

        Every setting it recorded must equal this run's. A setting it lacks was added by a
        later version of this code, whose new settings default to the old behaviour: it is
        accepted at its default, so updating the code mid-run keeps the checkpoints.
        """
        current = self.fingerprint()
        if recorded == current:
            return True
        try:
            old, new = json.loads(recorded), json.loads(current)
        except (TypeError, ValueError):
            return False
        defaults = json.loads(json.dumps(_field_defaults(), default=str))
        return (isinstance(old, dict) and set(old) <= set(new)
                and all(old[k] == new[k] for k in old)
                and all(k in defaults and new[k] == defaults[k] for k in set(new) - set(old)))


def _field_defaults() -> dict:
    """TrainConfig's default for every field that has one."""
    defaults = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


class Interrupted(Exception):
    """Raised after a checkpoint when ``should_stop`` asks the run to end early (SIGTERM)."""


FIT_METRICS = ("online_loss", "online_accuracy", "train_accuracy")


def fit_met(cfg: TrainConfig, online: dict, train_eval: dict | None) -> bool | None:
    """Whether this epoch meets the fit criterion; None when it was not measured.

    online_loss: the epoch-average training loss (Figure 1a's y-axis) is below the
    threshold. online_accuracy: the epoch's online mini-batch accuracy, on augmented
    samples where augmentation is on (Table 4, footnote 1), is at least the threshold.
    train_accuracy: whole-training-set accuracy in eval mode is at least the threshold.
    """
    if cfg.fit_metric == "online_loss":
        return online["loss"] < cfg.fit_threshold
    if cfg.fit_metric == "online_accuracy":
        return online["accuracy"] >= cfg.fit_threshold
    if cfg.fit_metric == "train_accuracy":
        return None if train_eval is None else train_eval["accuracy"] >= cfg.fit_threshold
    raise ValueError(f"fit_metric must be one of {FIT_METRICS}, got {cfg.fit_metric!r}")


@dataclass
class RunState:
    """Everything about a run's progress that a checkpoint must carry."""

    epoch: int = 0
    step: int = 0
    rows: list = field(default_factory=list)     # metrics rows so far (METRIC_COLUMNS)
    status: str | None = None                      # None while running; see RUN_STATUSES
    epochs_to_fit: int | None = None               # first epoch meeting the criterion
    steps_to_fit: int | None = None
    fit_held_from_epoch: int | None = None         # start of the current unbroken fit streak
    best_test_accuracy: float | None = None
    best_test_epoch: int | None = None
    wall_time_s: float = 0.0                       # active seconds, summed over resumptions

    @property
    def fit_streak(self) -> int:
        return 0 if self.fit_held_from_epoch is None else self.epoch - self.fit_held_from_epoch + 1

    def record_fit(self, met: bool | None) -> None:
        if met is None:  # not measured this epoch: the streak neither grows nor breaks
            return
        if not met:
            self.fit_held_from_epoch = None
            return
        if self.fit_held_from_epoch is None:
            self.fit_held_from_epoch = self.epoch
        if self.epochs_to_fit is None:
            self.epochs_to_fit, self.steps_to_fit = self.epoch, self.step

    def record_test(self, accuracy: float) -> None:
        if self.best_test_accuracy is None or accuracy > self.best_test_accuracy:
            self.best_test_accuracy, self.best_test_epoch = accuracy, self.epoch

    def add_rows(self, split: str, result: dict, lr: float, wall_time_s: float,
                 images_per_s: float) -> None:
        self.rows.append({"epoch": self.epoch, "step": self.step, "split": split,
                          "loss": result["loss"], "accuracy": result["accuracy"],
                          "top5_accuracy": result["top5_accuracy"], "lr": lr,
                          "wall_time_s": wall_time_s, "images_per_s": images_per_s})


# fitted: stopped at fit (stop_when_fitted); max_epochs: trained the whole budget;
# diverged: the loss exploded or became non-finite.
RUN_STATUSES = ("fitted", "max_epochs", "diverged")


def epoch_lr(cfg: TrainConfig, epoch: int, n_train: int) -> float:
    """The paper's schedule (lr x decay per epoch), with the optional warmup (ours)."""
    if cfg.lr_decay_every_steps is None:
        decay = cfg.lr_decay
    else:  # per paper-epoch of steps, so a small subset keeps the paper's decay per step
        decay = cfg.lr_decay ** (math.ceil(n_train / cfg.batch_size) / cfg.lr_decay_every_steps)
    lr = cfg.lr * decay ** (epoch - 1)
    if cfg.lr_warmup_epochs:
        lr *= min(1.0, epoch / cfg.lr_warmup_epochs)
    return lr


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; weight decay on the kernels of conv and linear layers only
    (``weight_decay_scope: weights``, as TF-slim regularizes) or on every parameter
    (``all``, PyTorch's default)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.weight_decay_scope == "all":
        groups = [{"params": params, "weight_decay": cfg.weight_decay}]
    elif cfg.weight_decay_scope == "weights":
        kernels = {id(m.weight) for m in model.modules()
                   if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.requires_grad}
        groups = [{"params": [p for p in params if id(p) in kernels],
                   "weight_decay": cfg.weight_decay},
                  {"params": [p for p in params if id(p) not in kernels], "weight_decay": 0.0}]
    else:
        raise ValueError(f"weight_decay_scope must be 'weights' or 'all', "
                         f"got {cfg.weight_decay_scope!r}")
    # fused: one kernel for all parameters (measured 1.6-2.2x faster steps on CPU).
    return torch.optim.SGD([g for g in groups if g["params"]], lr=cfg.lr,
                           momentum=cfg.momentum, fused=True)
