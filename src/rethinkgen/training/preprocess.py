"""Input pipeline: batch sources and per-batch preprocessing (Appendix A; docs/paper.md,
"Datasets and preprocessing").

Image lists (ImageNet) are decoded in DataLoader workers (training/image_lists.py).
In-memory images stay uint8 on the device; every batch is cropped, optionally flipped and rotated,
scaled to [0, 1] and whitened per image with tensor ops over the whole batch -- no
per-sample Python work. All randomness comes from an explicit ``torch.Generator`` so a
run is reproducible and resumable.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from rethinkgen.training import precision
from rethinkgen.training.image_lists import ImageListBatches
from rethinkgen.training.models import CONV_ARCHS

logger = logging.getLogger(__name__)

# Fashion-MNIST images are already 28x28: a random 28x28 crop needs a border, so images
# no larger than the crop are zero-padded by this many pixels on each side first (the
# common "pad 2/4 + random crop" recipe; the paper does not describe its crop procedure).
RANDOM_CROP_PAD = 2


def per_image_standardization(x: torch.Tensor) -> torch.Tensor:
    """TF ``per_image_standardization`` on a float batch (B, C, H, W).

    (x - mean) / max(std, 1/sqrt(numel)) with the population std of each image.
    """
    numel = x[0].numel()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    centered = x - mean
    # Population std from the centred values: 3x faster on CPU than Tensor.std.
    std = centered.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return centered / std.clamp_min(1.0 / math.sqrt(numel))


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central size x size crop of (B, C, H, W); top-left offset floor((H - size) / 2)."""
    height, width = x.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return x[..., top : top + size, left : left + size]


def random_crop(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """An independent random size x size crop of every image, gathered in one op."""
    if x.shape[-1] <= size or x.shape[-2] <= size:
        pad = RANDOM_CROP_PAD
        x = F.pad(x, (pad, pad, pad, pad))
    batch, _, height, width = x.shape
    tops = torch.randint(0, height - size + 1, (batch,), generator=generator, device=x.device)
    lefts = torch.randint(0, width - size + 1, (batch,), generator=generator, device=x.device)
    offsets = torch.arange(size, device=x.device)
    rows = (tops[:, None] + offsets)[:, :, None]  # (B, size, 1)
    cols = (lefts[:, None] + offsets)[:, None, :]  # (B, 1, size)
    batch_idx = torch.arange(batch, device=x.device)[:, None, None]
    # Advanced indexing around the channel slice yields (B, size, size, C).
    return x[batch_idx, :, rows, cols].permute(0, 3, 1, 2)


def random_flip_rotate(
    x: torch.Tensor, max_degrees: float, generator: torch.Generator
) -> torch.Tensor:
    """Table 4 'augmentation': random left-right flip and rotation in [-max, +max] degrees.

    Flip and rotation are one affine warp per image (bilinear, zero fill), applied to a
    float batch with a single ``affine_grid``/``grid_sample`` call.
    """
    batch = x.shape[0]
    flip = torch.rand(batch, generator=generator, device=x.device) < 0.5
    angle = torch.rand(batch, generator=generator, device=x.device) * 2 - 1
    angle = angle * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    sign = torch.where(flip, -1.0, 1.0)  # mirror the x coordinate
    theta = torch.zeros(batch, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = cos * sign
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * sign
    theta[:, 1, 1] = cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def prepare_batch(
    images: torch.Tensor,
    *,
    crop_size: int | None,
    train: bool,
    random_crop_enabled: bool,
    augment: bool,
    rotation_degrees: float,
    whiten: bool,
    generator: torch.Generator | None,
    channels_last: bool,
) -> torch.Tensor:
    """uint8 (or float32) (B, C, H, W) on the device -> float32 model input (Appendix A).

    Order: crop (uint8), scale to [0, 1], flip + rotate (augment), per-image whitening.
    Random crop / augmentation only when ``train``; evaluation always uses the centre crop.
    """
    if crop_size is not None:
        if train and random_crop_enabled:
            images = random_crop(images, crop_size, generator)
        else:
            images = center_crop(images, crop_size)
    if images.dtype == torch.uint8:
        x = images.float().div_(255.0)
    else:  # float32 Gaussian-noise images (pixel scale 0..255); never modify in place
        x = images.float() / 255.0
    if train and augment:
        x = random_flip_rotate(x, rotation_degrees, generator)
    if whiten:
        x = per_image_standardization(x)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def nhwc_to_device(images, device: torch.device) -> torch.Tensor:
    """NHWC numpy array -> (N, C, H, W) tensor of the same dtype resident on ``device``.

    uint8 normally; float32 for the Gaussian-noise corruption (pixel scale 0..255).
    The NCHW view of NHWC memory is already channels_last, so gathers stay cheap.
    """
    tensor = torch.as_tensor(images)
    if tensor.dtype not in (torch.uint8, torch.float32):
        raise TypeError(f"expected uint8 or float32 images, got {tensor.dtype}")
    if tensor.ndim == 3:  # (N, H, W) grayscale
        tensor = tensor.unsqueeze(-1)
    return tensor.to(device).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class BatchPipeline:
    """How raw uint8 batches become model inputs, and the numeric precision to run in.

    Defaults from CPU measurements (1 thread, batch 128, 28x28x1): on a CPU with AMX, bf16
    autocast speeds up small Inception 2.1x, AlexNet 2.2x and the MLPs 1.6x over fp32;
    without AMX it is slower, so `amp: auto` picks fp32 there (training/precision.py);
    channels_last adds 1.2-1.6x for the conv nets and slows nothing else.
    """

    crop_size: int | None
    random_crop: bool
    augment: bool
    rotation_degrees: float
    whiten: bool
    channels_last: bool
    autocast_dtype: torch.dtype | None
    device_type: str

    def inputs(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return prepare_batch(
            images,
            crop_size=self.crop_size,
            train=train,
            random_crop_enabled=self.random_crop,
            augment=self.augment,
            rotation_degrees=self.rotation_degrees,
            whiten=self.whiten,
            generator=generator,
            channels_last=self.channels_last,
        )

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.autocast_dtype)

    @classmethod
    def from_config(cls, cfg, device: torch.device, image_list: bool) -> "BatchPipeline":
        """The pipeline a TrainConfig asks for (bf16/channels_last defaults per arch)."""
        conv = cfg.model_spec["arch"] in CONV_ARCHS
        if cfg.channels_last not in ("auto", "on", "off", True, False):
            raise ValueError(f"channels_last must be auto, on or off, got {cfg.channels_last!r}")
        channels_last = conv if cfg.channels_last == "auto" else cfg.channels_last in ("on", True)
        autocast_dtype = precision.autocast_dtype(cfg.amp, device)
        return cls(
            crop_size=None if image_list else cfg.crop_size,
            random_crop=cfg.random_crop and not image_list,
            augment=cfg.augment and not image_list,  # image lists augment in their workers
            rotation_degrees=cfg.rotation_degrees,
            whiten=cfg.whiten,
            channels_last=channels_last,
            autocast_dtype=autocast_dtype,
            device_type=device.type,
        )


class InMemoryBatches:
    """A uint8 split resident on the device, served as (images, labels) batches.

    With a ``shard`` (data-parallel training) every rank draws the same order from
    (seed, epoch), takes its slice of each global batch and evaluates every
    world_size-th sample.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, shard=None):
        self.images, self.labels, self.shard = images, labels, shard

    def __len__(self) -> int:
        return self.labels.shape[0]

    def shuffled(self, batch_size: int, generator: torch.Generator, epoch: int = 0) -> Iterator:
        if self.shard is not None:
            order = self.shard.permutation(len(self), epoch).to(self.labels.device)
            chunks = self.shard.split_batches(list(order.split(batch_size)))
        else:
            order = torch.randperm(len(self), generator=generator, device=self.labels.device)
            chunks = list(order.split(batch_size))
            if len(chunks) > 1 and chunks[-1].numel() == 1:
                chunks.pop()  # a 1-sample batch would break batch norm in train mode
        for idx in chunks:
            yield self.images[idx], self.labels[idx]

    def ordered(self, batch_size: int) -> Iterator:
        images, labels = self.images, self.labels
        if self.shard is not None:
            images = images[self.shard.rank :: self.shard.world_size]
            labels = labels[self.shard.rank :: self.shard.world_size]
        for start in range(0, labels.shape[0], batch_size):
            yield images[start : start + batch_size], labels[start : start + batch_size]


def make_batches(split, cfg, train: bool, device: torch.device, shard=None):
    """Batch source of a split; ``shard``: this rank's part under data-parallel training."""
    if hasattr(split, "paths"):
        return ImageListBatches(split, cfg, train, device, shard)
    labels = torch.as_tensor(np.asarray(split.labels), dtype=torch.int64).to(device)
    return InMemoryBatches(nhwc_to_device(split.images, device), labels, shard)
