"""Dataset sources: CIFAR-10 and ImageNet readers, the registry of every source, and the
prepare step (a source plus an optional seeded, stratified subset).

MNIST and Fashion-MNIST are read in `rethinkgen.data.idx`; the prepared form every later
stage reads is in `rethinkgen.data.splits`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from rethinkgen.data.cifar10 import (  # noqa: F401
    CIFAR10_ARCHIVE,
    CIFAR10_MD5,
    CIFAR10_URL,
    prepare_cifar10,
)
from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError
from rethinkgen.data.idx import FASHION_MNIST, MNIST, prepare_idx
from rethinkgen.data.images import check_images_decode
from rethinkgen.data.local_copies import LOCAL_COPIES
from rethinkgen.data.npz import prepare_npz
from rethinkgen.data.own import class_counts, prepare_image_folder
from rethinkgen.data.splits import ImageListSplit, Split

# ---------------------------------------------------------------------------------------
# ImageNet (ILSVRC2012, ImageFolder layout)

IMAGENET_HOW_TO_GET = (
    "ImageNet cannot be downloaded automatically. Get ILSVRC2012 from https://image-net.org "
    "(registration required), arrange it as <root>/train/<wnid>/*.JPEG and "
    "<root>/val/<wnid>/*.JPEG (the val images sorted into class folders, e.g. with "
    "https://github.com/soumith/imagenetloader.torch/blob/master/valprep.sh) and set "
    "`datasets.<key>.root` to <root>."
)


def prepare_imagenet(root: str, download: bool = False):
    """Train and val file lists of an ImageFolder tree; images are decoded at training time."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    base = Path(root)
    for split in ("train", "val"):
        if not (base / split).is_dir():
            raise DatasetUnavailableError(
                f"imagenet: {(base / split).resolve()} not found. {IMAGENET_HOW_TO_GET}"
            )
    classes, class_to_idx = find_classes(str(base / "train"))
    val_classes, _ = find_classes(str(base / "val"))
    if val_classes != classes:
        raise DatasetCorruptError(
            f"imagenet: train/ has {len(classes)} class folders and val/ has {len(val_classes)}; "
            "they must name the same classes"
        )
    splits = []
    for split in ("train", "val"):
        samples = make_dataset(str(base / split), class_to_idx, extensions=IMG_EXTENSIONS)
        paths = np.array([os.path.relpath(p, base) for p, _ in samples], dtype=str)
        labels = np.array([c for _, c in samples], dtype=np.int64)
        splits.append(ImageListSplit(str(base.resolve()), paths, labels, classes))
    check_images_decode(base, [p for s in splits for p in s.paths])
    return tuple(splits)


# ---------------------------------------------------------------------------------------
# Registry and the prepare step


def prepare_fashion_mnist(root: str, download: bool):
    return prepare_idx(FASHION_MNIST, root, download)


def prepare_mnist(root: str, download: bool):
    return prepare_idx(MNIST, root, download)


SOURCES: dict[str, Callable] = {
    "fashion_mnist": prepare_fashion_mnist,
    "mnist": prepare_mnist,
    "cifar10": prepare_cifar10,
    "imagenet": prepare_imagenet,
}
# Sources that read their settings from the whole dataset spec (the user's own data, and
# local copies of torchvision datasets; docs/own-model.md).
SPEC_SOURCES: dict[str, Callable] = {
    "image_folder": prepare_image_folder,
    "npz": prepare_npz,
    **LOCAL_COPIES,
}


def stratified_subset_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `n` samples with class proportions kept (largest remainders), sorted."""
    if n > len(labels):
        raise ValueError(f"asked for a subset of {n} samples from a split of {len(labels)}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    quota = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quota), kind="stable")
    quota[remainder_order[: n - quota.sum()]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
        for c, q in zip(classes, quota)
    ]
    return np.sort(np.concatenate(chosen))


def prepare_dataset(spec: dict, seed: int) -> tuple[Split | ImageListSplit, Split | ImageListSplit]:
    """Load one configured dataset (a source plus an optional seeded, stratified subset)."""
    if spec["name"] in SPEC_SOURCES:
        train, test = SPEC_SOURCES[spec["name"]](spec)
    else:
        kwargs = {"root": spec["root"], "download": spec.get("download", False)}
        if spec["name"] == "cifar10" and spec.get("archive"):
            kwargs["archive"] = spec["archive"]
        train, test = SOURCES[spec["name"]](**kwargs)
    rng = np.random.default_rng(seed)
    if spec.get("n_train") is not None:
        train = train.subset(stratified_subset_indices(train.labels, spec["n_train"], rng))
    if spec.get("n_test") is not None:
        test = test.subset(stratified_subset_indices(test.labels, spec["n_test"], rng))
    return train, test


def prepared_info(spec: dict, seed: int, train, test) -> dict:
    """dataset.json of a prepared dataset: its spec (with your own data's file digest),
    seed, sizes, classes and the number of images of each class in each split."""
    return {
        "spec": spec,
        "seed": seed,
        "n_train": len(train),
        "n_test": len(test),
        "num_classes": train.num_classes,
        "classes": train.classes,
        "class_counts": {"train": class_counts(train), "test": class_counts(test)},
    }
