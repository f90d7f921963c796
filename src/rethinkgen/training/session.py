"""One run's working set (``Session``): the model, its optimizer, the batch sources and
the RNGs, built from its settings and data; and the label-corruption subsets it scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rethinkgen.training import distributed
from rethinkgen.training.models import build_model
from rethinkgen.training.preprocess import BatchPipeline, make_batches
from rethinkgen.training.protocol import build_optimizer
from rethinkgen.training.settings import TrainConfig
from rethinkgen.training.validation import split_test_halves


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
class Session:
    """What the epoch loop works with (model, optimizer, batches), built by :func:`_setup`."""

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
    # train_clean / train_corrupted / validation / test_pick / test_score: scored with every
    # whole-training-set evaluation
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
    return {
        name: train_split.subset(np.flatnonzero(mask)) for name, mask in masks.items() if mask.any()
    }


def setup(cfg: TrainConfig, train_split, test_split, held_out: dict | None = None) -> Session:
    """The run's working set; ``held_out``: named splits scored with the training set
    (a validation split, rethinkgen.training.validation)."""
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    dist_ctx = distributed.init_from_env(cfg.device)
    shard = dist_ctx.shard(cfg.seed) if dist_ctx else None
    device = dist_ctx.device if dist_ctx else resolve_device(cfg.device)
    image_list = hasattr(train_split, "paths")
    pipeline = BatchPipeline.from_config(cfg, device, image_list)
    num_classes = _num_classes(train_split)
    torch.manual_seed(cfg.seed)  # model init, then dropout masks (checkpointed)
    model = build_model(
        cfg.model_spec, num_classes, _input_shape(train_split, cfg), dropout=cfg.dropout
    ).to(device)
    if pipeline.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Shuffles and crops/flips/rotations; a CPU generator for DataLoader-driven splits.
    data_generator = torch.Generator(device="cpu" if image_list else device)
    data_generator.manual_seed(cfg.seed)
    step_model = distributed.wrap_model(model, dist_ctx)  # evaluation uses `model` itself
    if cfg.compile:
        step_model = torch.compile(step_model)
    train_batches = make_batches(train_split, cfg, True, device, shard)
    scored = label_subsets(train_split) | (held_out or {})
    if cfg.test_halves:
        scored |= split_test_halves(test_split, cfg.seed)
    return Session(
        model=model,
        step_model=step_model,
        optimizer=build_optimizer(model, cfg),
        pipeline=pipeline,
        generators={"data": data_generator},
        train_batches=train_batches,
        train_eval_batches=make_batches(train_split, cfg, False, device, shard)
        if image_list
        else train_batches,
        test_batches=make_batches(test_split, cfg, False, device, shard),
        dist_ctx=dist_ctx,
        device=device,
        top5=num_classes > 10,
        data={"n_train": len(train_split), "n_test": len(test_split), "num_classes": num_classes},
        subset_batches={
            name: make_batches(split, cfg, False, device, shard) for name, split in scored.items()
        },
    )
