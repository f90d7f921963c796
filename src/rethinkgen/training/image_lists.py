"""Batches of an image-list split (ImageNet): JPEG files decoded in DataLoader workers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np
import torch


class _ImageListDataset(torch.utils.data.Dataset):
    """JPEG files of an image-list split, decoded to uint8 (C, H, W) in DataLoader workers."""

    def __init__(self, root, paths, labels, transform):
        self.root, self.paths, self.labels = Path(root), list(paths), np.asarray(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.root / self.paths[i]) as img:
            return self.transform(img.convert("RGB")), int(self.labels[i])


class ImageListBatches:
    """DataLoader-backed batches for ImageNet-style splits (``ImageListSplit``).

    With a ``shard`` (data-parallel training) a seeded ``DistributedSampler`` gives each
    rank its part of every epoch (``batch_size`` stays the global batch) and evaluation
    reads every world_size-th image, so the ranks' sums add up to the whole split.
    """

    def __init__(self, split, cfg, train: bool, device: torch.device, shard=None):
        from torchvision import transforms as T

        size = cfg.image_size
        if train and (cfg.augment or cfg.random_crop):
            ops = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
        else:
            ops = [T.Resize(int(round(size * 8 / 7))), T.CenterCrop(size)]
        self.dataset = _ImageListDataset(
            split.root, split.paths, split.labels, T.Compose(ops + [T.PILToTensor()])
        )
        self.cfg, self.device, self.shard = cfg, device, shard

    def __len__(self) -> int:
        return len(self.dataset)

    def _loader(self, batch_size, shuffle, generator=None):
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def _to_device(self, loader):
        for images, labels in loader:
            yield (
                images.to(self.device, non_blocking=True),
                labels.to(self.device, non_blocking=True),
            )

    def _sharded_loader(self, batch_size, generator, epoch):
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(
            self.dataset,
            num_replicas=self.shard.world_size,
            rank=self.shard.rank,
            shuffle=True,
            seed=self.shard.seed,
        )
        sampler.set_epoch(epoch)  # the order depends on (seed, epoch) only: resumable
        per_rank = math.ceil(batch_size / self.shard.world_size)
        # Every rank has sampler.num_samples images, so all agree on dropping a 1-image
        # last batch (batch norm cannot train on it).
        drop_last = sampler.num_samples > per_rank and sampler.num_samples % per_rank == 1
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=per_rank,
            sampler=sampler,
            drop_last=drop_last,
            generator=generator,
            num_workers=self.cfg.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def shuffled(self, batch_size: int, generator: torch.Generator, epoch: int = 0) -> Iterator:
        # The loader draws its order and its workers' seeds from `generator` (sharded:
        # only the workers' seeds; the order comes from the sampler).
        if self.shard is not None:
            return self._to_device(self._sharded_loader(batch_size, generator, epoch))
        return self._to_device(self._loader(batch_size, True, generator))

    def ordered(self, batch_size: int) -> Iterator:
        if self.shard is not None:
            indices = range(self.shard.rank, len(self.dataset), self.shard.world_size)
            return self._to_device(
                torch.utils.data.DataLoader(
                    torch.utils.data.Subset(self.dataset, indices),
                    batch_size=batch_size,
                    num_workers=self.cfg.num_workers,
                    pin_memory=self.device.type == "cuda",
                )
            )
        return self._to_device(self._loader(batch_size, False))
