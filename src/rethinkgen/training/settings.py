"""One run's training settings (``TrainConfig``), each marked as identity or scheduling.

Identity settings say what the result is: changing one makes it another run (Snakemake
retrains it, and a checkpoint recorded under other values is not resumed). Scheduling
settings say how a run is executed (threads, evaluation batch, checkpoint cadence, device,
TensorBoard): editing one retrains nothing and applies from the next attempt on. The role is
field metadata, so adding a setting means choosing its role in one place. This module
imports nothing heavy: the workflow reads it while building the DAG.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

IDENTITY, SCHEDULING = "identity", "scheduling"


def scheduling(default, **kwargs):
    """A field that says how a run executes, not what it computes."""
    return field(default=default, metadata={"role": SCHEDULING}, **kwargs)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one run needs; ``from_dict`` reads a RunSpec's dict (rethinkgen.run)."""

    model_spec: dict
    lr: float
    seed: int = 0
    dataset: str = ""
    model: str = ""
    corruption: str = ""
    regularizer: str = ""
    # regularizer (explicit regularizers; unset = off)
    weight_decay: float = 0.0
    weight_decay_scope: str = "weights"  # weights (conv/linear kernels, as TF-slim) | fc | all
    # true: decoupled weight decay (SGDW, Loshchilov & Hutter 2019): w <- w - lr wd w each
    # step, outside the momentum buffer; false: PyTorch's, wd w added to the gradient
    weight_decay_decoupled: bool = False
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
    max_epochs: int = 150  # the budget: epochs trained unless stopped at fit
    lr_warmup_epochs: int = 0  # ours: lr ramps up linearly over these epochs
    # Fit: the first epoch meeting the criterion (see fit_met) is recorded either way;
    # stop_when_fitted ends the run once it held for fit_patience evaluations.
    fit_metric: str = "online_loss"  # online_loss | online_accuracy | train_accuracy
    fit_threshold: float = 0.1  # loss: below it; accuracy: at or above it
    stop_when_fitted: bool = False
    min_epochs: int = 0  # stop at fit no earlier (a shared run's longest budget)
    fit_patience: int = 1
    eval_train_every: int = 1
    eval_test_every: int = 1  # epochs between test evaluations (and at the end)
    # > 0: hold out this fraction of the training split (seeded by `seed`), never trained on,
    # scored as split "validation" with every whole-training-set evaluation
    validation_fraction: float = 0.0
    # Per example, at each whole-training-set evaluation: classified as its label, its
    # margin, its label corrupted (examples.parquet beside the metrics; training/examples.py)
    record_examples: bool = False
    # true: also score the test set in two fixed halves (seeded by `seed`), splits
    # "test_pick" and "test_score", with every whole-training-set evaluation: one half
    # picks an epoch, the other scores it (docs/beyond.md, "Memorization")
    test_halves: bool = False
    # Read-out points of the experiments sharing this run (rethinkgen.config): whole
    # training and test sets are scored at each of these epochs, and at the epoch the fit
    # criterion first holds for fit_patience evaluations when score_at_fit is set.
    readout_epochs: tuple = ()
    score_at_fit: bool = False
    # engine settings added by this module (defaults chosen from CPU measurements)
    crop_size: int | None = 28  # central (or random) crop; None = full image
    whiten: bool = True  # TF per_image_standardization
    rotation_degrees: float = 25.0  # `augment` rotation range (Table 4 footnote 2)
    divergence_loss: float = 1.0e3  # epoch-mean train loss above this = diverged
    eval_initial: bool = True  # evaluate at epoch 0, before any step
    amp: str = "off"  # off (fp32, the paper) | bf16 autocast (CPU and CUDA)
    image_size: int = 299  # image-list (ImageNet) splits: decoded size
    data_digest: str = ""  # digest of the run's input data (set by the caller)
    # scheduling: how the run executes
    eval_batch_size: int = scheduling(1024)
    device: str = scheduling("auto")  # auto | cpu | cuda | cuda:N
    num_threads: int | None = scheduling(None)  # torch.set_num_threads; None = leave as is
    channels_last: str = scheduling("auto")  # auto = conv nets only | on | off
    compile: bool = scheduling(False)  # torch.compile the model
    checkpoint_every: int = scheduling(1)  # epochs between checkpoints (and at the end)
    num_workers: int = scheduling(4)  # image-list splits: JPEG-decoding workers (per rank)
    # > 1: train data-parallel in this many processes (rethinkgen.training.distributed)
    nproc_per_node: int = scheduling(1)
    tensorboard: bool = scheduling(False)  # also write TensorBoard event files
    # the run's whole spec (rethinkgen.run.RunSpec.to_dict), echoed in run_info.json
    spec: dict = scheduling(None, compare=False, hash=False)

    @classmethod
    def from_dict(cls, spec: dict, **overrides) -> "TrainConfig":
        """Build from a RunSpec dict (docs/design.md); ``overrides`` win."""
        training = dict(spec.get("training") or {})
        regularizer = spec.get("regularizer_spec") or {}
        model_spec = dict(spec["model_spec"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(training) - known)
        if unknown:
            logger.warning("ignoring unknown training keys: %s", unknown)
        values = {k: v for k, v in training.items() if k in known}
        if "readout_epochs" in values:
            values["readout_epochs"] = tuple(values["readout_epochs"])
        values.update(
            model_spec=model_spec,
            lr=float(model_spec.get("lr", training.get("lr", 0.01))),
            seed=int(spec.get("seed", 0)),
            dataset=str(spec.get("dataset", "")),
            model=str(spec.get("model", "")),
            corruption=str(spec.get("corruption", "")),
            regularizer=str(spec.get("regularizer", "")),
            weight_decay=float(regularizer.get("weight_decay") or 0.0),
            weight_decay_scope=str(regularizer.get("weight_decay_scope", "weights")),
            weight_decay_decoupled=bool(regularizer.get("weight_decay_decoupled", False)),
            dropout=float(regularizer.get("dropout") or 0.0),
            random_crop=bool(regularizer.get("random_crop", False)),
            augment=bool(regularizer.get("augment", False)),
            spec=spec,
        )
        values.update(overrides)
        return cls(**values)

    def identity(self) -> dict:
        """The identity settings that differ from their defaults (JSON values).

        Defaults are left out, so a setting that a later version adds at its default
        changes no run's identity: neither Snakemake's params nor a checkpoint's fingerprint.
        """
        defaults = field_defaults()
        return {
            name: _plain(value)
            for name, value in dataclasses.asdict(self).items()
            if name in IDENTITY_SETTINGS and _plain(value) != _plain(defaults.get(name, _MISSING))
        }

    def fingerprint(self) -> str:
        """The identity as canonical JSON: what a checkpoint must match to be resumed."""
        return json.dumps(self.identity(), sort_keys=True)

    def resumes(self, recorded: str | None) -> bool:
        """Whether a checkpoint with fingerprint ``recorded`` is this run's: the same
        identity, or one that differs in its budget alone (BUDGET_SETTINGS: extending
        ``max_epochs`` resumes; the engine then checks :meth:`budget_refusal`)."""
        differing = self.differences(recorded)
        return differing is not None and set(differing) <= set(BUDGET_SETTINGS)

    def differences(self, recorded: str | None) -> list[str] | None:
        """The identity settings in which fingerprint ``recorded`` differs from this run's
        (sorted), or None when it is not a fingerprint at all."""
        try:
            other = json.loads(recorded) if recorded is not None else None
        except (TypeError, ValueError):
            return None
        if not isinstance(other, dict):
            return None
        mine, defaults = self.identity(), field_defaults()
        return sorted(
            key
            for key in set(mine) | set(other)
            if _plain(mine.get(key, defaults.get(key)))
            != _plain(other.get(key, defaults.get(key, _MISSING)))
        )

    def explain_difference(self, recorded: str | None) -> str:
        """Which settings make a checkpoint another run's, for the refusal message."""
        differing = self.differences(recorded)
        if differing is None:
            return "it records no readable fingerprint"
        other = json.loads(recorded)
        shown = []
        for key in differing:
            if key == "data_digest":
                shown.append("data_digest (the input files, data specs or your model's code)")
            elif key in ("model_spec", "spec") or isinstance(other.get(key), dict):
                shown.append(key)
            else:
                was = other.get(key, field_defaults().get(key))
                shown.append(f"{key} ({was} -> {self.identity().get(key, getattr(self, key))})")
        return "it differs from this run's in " + ", ".join(shown)

    def budget_refusal(self, epoch: int, recorded: str | None) -> str | None:
        """Why a checkpoint at ``epoch`` of the same run under another budget cannot go on
        under this one, or None. Shortening below the epoch reached is refused, and so is a
        new read-out point already passed but not scored in full (when not every epoch is)."""
        if epoch > self.max_epochs:
            return (
                f"it trained {epoch} epochs, past this run's max_epochs {self.max_epochs}; "
                "a shorter budget starts over"
            )
        other = {**field_defaults(), **json.loads(recorded)}
        if self.eval_train_every == 1 and self.eval_test_every == 1:
            return None  # every epoch was scored in full
        scored = set(other["readout_epochs"]) | {other["max_epochs"]}
        missed = sorted(
            e
            for e in set(self.readout_epochs) | {self.max_epochs}
            if e <= epoch and e not in scored
        )
        if missed or (self.score_at_fit and not other["score_at_fit"]):
            return (
                f"its read-out epochs {missed} (or the epoch of fit) passed without a full "
                "evaluation; the run starts over to score them"
            )
        return None


_MISSING = object()


def _plain(value):
    """The JSON form of a value, so tuples and lists (and 1 and 1.0) compare as stored."""
    return value if value is _MISSING else json.loads(json.dumps(value, default=str))


def field_defaults() -> dict:
    """TrainConfig's default for every field that has one."""
    defaults = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def _role(f: dataclasses.Field) -> str:
    return f.metadata.get("role", IDENTITY)


# Fields set from the run's spec (its keys, model and regularizer) and from the
# experiments' budgets (rethinkgen.config.shared_budget), never from a `training:` section.
FROM_SPEC = (
    "model_spec",
    "lr",
    "seed",
    "dataset",
    "model",
    "corruption",
    "regularizer",
    "weight_decay",
    "weight_decay_scope",
    "weight_decay_decoupled",
    "dropout",
    "random_crop",
    "augment",
    "data_digest",
    "spec",
)
FROM_BUDGETS = ("min_epochs", "readout_epochs", "score_at_fit")
# What a config's `training:` (a model's, a regularizer's, the override) may set here.
TRAINING_KEYS = tuple(
    f.name for f in dataclasses.fields(TrainConfig) if f.name not in FROM_SPEC + FROM_BUDGETS
)
# The budget: how long a run trains and where it is read out. A checkpoint that differs
# from its run only in these is resumed (the lr schedule does not depend on them).
BUDGET_SETTINGS = ("max_epochs", "min_epochs", "readout_epochs", "stop_when_fitted", "score_at_fit")
IDENTITY_SETTINGS = tuple(f.name for f in dataclasses.fields(TrainConfig) if _role(f) == IDENTITY)
SCHEDULING_SETTINGS = tuple(
    f.name for f in dataclasses.fields(TrainConfig) if _role(f) == SCHEDULING and f.name != "spec"
)
