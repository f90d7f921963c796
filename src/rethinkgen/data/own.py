"""The user's own images: ``image_folder`` (class-per-folder image trees; the ``npz``
arrays are in rethinkgen.data.npz).

They become ordinary in-memory Splits at preparation, so every randomization test
applies to them unchanged. ``image_folder`` reads ``<root>/train/<class>/*`` and
``<root>/test/<class>/*`` (any format PIL reads; a linked folder is read once, a loop is
refused), converts each image to RGB (``channels: 3``) or grey (``channels: 1``) and
resizes and centre-crops it to ``image_size`` x ``image_size`` (PIL's ImageOps.fit,
bilinear).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError
from rethinkgen.data.splits import Split

log = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 32


# ---------------------------------------------------------------------------------------
# image_folder


# torchvision's IMG_EXTENSIONS, kept here so that reading a folder's listing (which the
# workflow does while building its DAG) imports nothing heavy.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _class_folders(folder: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    except OSError as err:
        raise DatasetCorruptError(f"image_folder: cannot list {folder} ({err})") from err


def folder_classes(root: str | os.PathLike) -> list[str]:
    """Class names of an image folder: the sub-folders of train/, which test/ must repeat.

    Raises DatasetUnavailableError/DatasetCorruptError saying what to fix.
    """
    base = Path(root)
    for split in ("train", "test"):
        if not (base / split).is_dir():
            raise DatasetUnavailableError(
                f"image_folder: {(base / split).resolve()} not found. Arrange your images as "
                f"{base}/train/<class>/<image> and {base}/test/<class>/<image>"
            )
    classes = {split: _class_folders(base / split) for split in ("train", "test")}
    if not classes["train"]:
        raise DatasetCorruptError(
            f"image_folder: Couldn't find any class folder in {base / 'train'}. "
            "Put each class's images in its own folder"
        )
    if len(classes["train"]) < 2:
        raise DatasetCorruptError(
            f"image_folder: {base / 'train'} has {len(classes['train'])} class folder(s) "
            f"({', '.join(classes['train'])}); a classification needs at least two, "
            "one folder per class"
        )
    if classes["test"] != classes["train"]:
        raise DatasetCorruptError(
            f"image_folder: train/ has classes {classes['train']} but test/ has {classes['test']}; "
            "both must hold the same class folders"
        )
    return classes["train"]


def _image_files(folder: Path) -> list[str]:
    """Every image file below one class folder, in torchvision's order (folders sorted by
    path, then files by name). A linked folder is read once: a link to a folder already
    read (``ln -s . self``, two links to one place) is refused with its path, where
    torchvision's walk would follow it some 40 levels deep."""
    visited: dict[tuple[int, int], Path] = {}
    listed: list[tuple[str, list[str]]] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            stat = current.stat()
            entries = list(os.scandir(current))
        except OSError as err:
            raise DatasetCorruptError(f"image_folder: cannot read {current} ({err})") from err
        key = (stat.st_dev, stat.st_ino)
        if key in visited:
            raise DatasetCorruptError(
                f"image_folder: {current} is a link to {os.path.realpath(current)}, a folder "
                f"already read as {visited[key]} (a loop or a second link to it). Remove the "
                f"link (rm {current}) or replace it with a copy of the images"
            )
        visited[key] = current
        files = []
        for entry in entries:
            if entry.is_dir():  # follows a link, once (the visited check above)
                pending.append(Path(entry.path))
            elif entry.name.lower().endswith(IMG_EXTENSIONS):  # a broken link fails decoding
                files.append(entry.name)
        listed.append((str(current), sorted(files)))
    return [os.path.join(path, name) for path, names in sorted(listed) for name in names]


def folder_samples(
    root: str | os.PathLike, split: str, classes: list[str]
) -> list[tuple[str, int]]:
    """(path relative to root, class index) of every image of one split, sorted."""
    base = Path(root)
    samples = []
    for index, name in enumerate(classes):
        found = _image_files(base / split / name)
        if not found:
            raise DatasetCorruptError(
                f"image_folder: Found no valid file for the class {name} in {base / split}. "
                f"Supported extensions are: {', '.join(IMG_EXTENSIONS)}"
            )
        samples += [(os.path.relpath(path, base), index) for path in found]
    return samples


def class_counts(split: Split) -> dict[str, int]:
    """{class name: number of images} of a split, every class listed (0 for an empty one)."""
    counts = np.bincount(np.asarray(split.labels), minlength=len(split.classes))
    return {name: int(n) for name, n in zip(split.classes, counts)}


def load_image(path: str | os.PathLike, size: int, channels: int) -> np.ndarray:
    """One image as (size, size, channels) uint8: converted, resized and centre-cropped."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.fit(
            img.convert("RGB" if channels == 3 else "L"),
            (size, size),
            method=Image.Resampling.BILINEAR,
        )
        return np.asarray(img, dtype=np.uint8).reshape(size, size, channels)


def prepare_image_folder(spec: dict):
    """Train and test Splits of an image folder (checked: two classes or more, the same
    classes in both splits, every image decodes)."""
    from rethinkgen.data.images import check_images_decode

    base, size = Path(spec["root"]), spec.get("image_size", DEFAULT_IMAGE_SIZE)
    channels = spec.get("channels", 3)
    classes = folder_classes(base)
    samples = {split: folder_samples(base, split, classes) for split in ("train", "test")}
    check_images_decode(base, [p for split in samples.values() for p, _ in split])
    splits = []
    for split, rows in samples.items():
        images = np.stack([load_image(base / p, size, channels) for p, _ in rows])
        labels = np.array([label for _, label in rows], dtype=np.int64)
        splits.append(Split(images, labels, list(classes)))
        log.info(
            "image_folder %s: %d images, %d classes, %dx%dx%d; per class: %s",
            split,
            len(rows),
            len(classes),
            size,
            size,
            channels,
            ", ".join(f"{name} {n}" for name, n in class_counts(splits[-1]).items()),
        )
    return tuple(splits)


def export_image_folder(split: Split, root: str | os.PathLike, name: str) -> int:
    """Write a split as PNGs under ``root/name/<class>/<index>.png``; returns the count.
    Class names are made folder-safe ('/' becomes '-')."""
    from PIL import Image

    base = Path(root) / name
    for index, (image, label) in enumerate(zip(split.images, split.labels)):
        folder = base / split.classes[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = image[..., 0] if image.shape[-1] == 1 else image
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(folder / f"{index:06d}.png")
    return len(split)
