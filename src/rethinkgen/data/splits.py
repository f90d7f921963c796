"""The prepared on-disk form of a dataset split, which every stage after `prepare_dataset` reads.

A prepared split is one uncompressed ``.npz`` file: ``images`` (N, H, W, C) uint8,
``labels`` (N,) int64 and ``classes``. It loads in a fraction of a second even at
CIFAR-10 size. ImageNet is too large to hold in memory, so its prepared split is a
file list (``paths`` relative to ``root``, ``labels``) and images are decoded while
training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from rethinkgen.io import UNREADABLE_FILE_ERRORS, atomic_path, damaged_file_error


class _Labelled:
    """What every split has: `labels` (N,) int64 and the `classes` they index."""

    labels: np.ndarray
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Split(_Labelled):
    """One in-memory split: images (N, H, W, C) uint8 (float32 for Gaussian inputs), labels int64.

    ``true_labels``: after label corruption, the labels before it (None otherwise), so
    that training can score the clean and the corrupted examples apart.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    true_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got shape {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def subset(self, indices: np.ndarray) -> "Split":
        true = None if self.true_labels is None else self.true_labels[indices]
        return Split(self.images[indices], self.labels[indices], list(self.classes), true)


@dataclass
class ImageListSplit(_Labelled):
    """A split of image files decoded at training time (ImageNet): paths relative to `root`."""

    root: str
    paths: np.ndarray
    labels: np.ndarray
    classes: list[str]

    def subset(self, indices: np.ndarray) -> "ImageListSplit":
        return ImageListSplit(
            self.root, self.paths[indices], self.labels[indices], list(self.classes)
        )


def save_split(split: Split | ImageListSplit, path: str | os.PathLike) -> None:
    """Write a split as an uncompressed .npz, atomically."""
    arrays = {
        "labels": split.labels.astype(np.int64),
        "classes": np.array(split.classes, dtype=str),
    }
    if isinstance(split, ImageListSplit):
        arrays |= {"paths": np.asarray(split.paths, dtype=str), "root": np.array(split.root)}
    else:
        arrays["images"] = split.images
        if split.true_labels is not None:
            arrays["true_labels"] = split.true_labels.astype(np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_split(path: str | os.PathLike) -> Split | ImageListSplit:
    """Read a split written by `save_split`; a damaged file raises DamagedFileError naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            classes = [str(c) for c in data["classes"]]
            if "paths" in data:
                return ImageListSplit(str(data["root"]), data["paths"], data["labels"], classes)
            true = data["true_labels"] if "true_labels" in data else None
            return Split(data["images"], data["labels"], classes, true)
    except FileNotFoundError:
        raise
    except UNREADABLE_FILE_ERRORS as error:
        raise damaged_file_error(path, error) from error
