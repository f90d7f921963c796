"""The user's own data: ``image_folder`` (class-per-folder image trees) and ``npz`` arrays.

Both become ordinary in-memory Splits at preparation, so every randomization test
applies to them unchanged. ``image_folder`` reads ``<root>/train/<class>/*`` and
``<root>/test/<class>/*`` (any format PIL reads), converts each image to RGB
(``channels: 3``) or grey (``channels: 1``) and resizes and centre-crops it to
``image_size`` x ``image_size`` (PIL's ImageOps.fit, bilinear). ``npz`` reads one file
with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (images uint8 (N, H, W) or
(N, H, W, C); labels integers 0..K-1) and optionally ``classes`` (K names).
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError
from rethinkgen.data.splits import Split

log = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 32
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


# ---------------------------------------------------------------------------------------
# image_folder


def folder_classes(root: str | os.PathLike) -> list[str]:
    """Class names of an image folder: the sub-folders of train/, which test/ must repeat.

    Raises DatasetUnavailableError/DatasetCorruptError saying what to fix.
    """
    from torchvision.datasets.folder import find_classes

    base = Path(root)
    for split in ("train", "test"):
        if not (base / split).is_dir():
            raise DatasetUnavailableError(
                f"image_folder: {(base / split).resolve()} not found. Arrange your images as "
                f"{base}/train/<class>/<image> and {base}/test/<class>/<image>"
            )
    try:
        classes = {split: find_classes(str(base / split))[0] for split in ("train", "test")}
    except FileNotFoundError as err:
        raise DatasetCorruptError(
            f"image_folder: {err}. Put each class's images in its own folder"
        ) from err
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


def folder_samples(
    root: str | os.PathLike, split: str, classes: list[str]
) -> list[tuple[str, int]]:
    """(path relative to root, class index) of every image of one split, sorted."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    base = Path(root)
    try:
        samples = make_dataset(
            str(base / split), {c: i for i, c in enumerate(classes)}, extensions=IMG_EXTENSIONS
        )
    except FileNotFoundError as err:  # a class folder without any image file
        raise DatasetCorruptError(f"image_folder: {err}") from err
    return [(os.path.relpath(path, base), label) for path, label in samples]


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
        log.info(
            "image_folder %s: %d images, %d classes, %dx%dx%d",
            split,
            len(rows),
            len(classes),
            size,
            size,
            channels,
        )
        splits.append(Split(images, labels, list(classes)))
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


# ---------------------------------------------------------------------------------------
# npz


def _npz_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array of an .npz, read from its header only."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )  # 2.0 and 3.0 share the layout
        shape, _, dtype = read(member)
        return shape, dtype


def npz_input(path: str | os.PathLike) -> tuple[tuple[int, int, int], int]:
    """((C, H, W), number of classes) of an npz dataset, checking its layout."""
    path = Path(path)
    if not path.is_file():
        raise DatasetUnavailableError(
            f"npz: {path.resolve()} not found. `root` of an npz dataset "
            f"is the .npz file holding {', '.join(NPZ_KEYS)}"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise DatasetCorruptError(
                    f"npz: {path} lacks {', '.join(missing)} (has {', '.join(data.files)})"
                )
            labels = np.concatenate([data["y_train"], data["y_test"]])
            classes = [str(c) for c in data["classes"]] if "classes" in data.files else None
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise DatasetCorruptError(
            f"npz: cannot read {path} ({err}); write it with numpy.savez"
        ) from err
    shape, dtype = _npz_header(path, "x_train")
    test_shape, test_dtype = _npz_header(path, "x_test")
    if (test_shape[1:], test_dtype) != (shape[1:], dtype):
        raise DatasetCorruptError(
            f"npz: {path} x_train images are {shape[1:]} {dtype} but x_test "
            f"images {test_shape[1:]} {test_dtype}; they must match"
        )
    return _image_shape(shape, dtype, path), _num_classes(labels, classes, path)


def _image_shape(shape: tuple, dtype: np.dtype, path: Path) -> tuple[int, int, int]:
    if dtype != np.uint8:
        raise DatasetCorruptError(
            f"npz: {path} x_train is {dtype}; store images as uint8 0-255 "
            "(e.g. (x * 255).round().astype(np.uint8))"
        )
    if len(shape) == 3:
        return (1, shape[1], shape[2])
    if len(shape) != 4:
        raise DatasetCorruptError(
            f"npz: {path} x_train has shape {shape}; use (N, H, W) or (N, H, W, C)"
        )
    if shape[1] in (1, 3) and shape[3] not in (1, 3):
        raise DatasetCorruptError(
            f"npz: {path} x_train {shape} looks channels-first; store "
            "(N, H, W, C), e.g. x.transpose(0, 2, 3, 1)"
        )
    return (shape[3], shape[1], shape[2])


def _num_classes(labels: np.ndarray, classes: list[str] | None, path: Path) -> int:
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise DatasetCorruptError(f"npz: {path} labels must be integers 0..K-1, got {labels.dtype}")
    count = len(classes) if classes is not None else int(labels.max()) + 1
    if labels.size and labels.max() >= count:
        raise DatasetCorruptError(f"npz: {path} has label {labels.max()} but {count} classes")
    if len(np.unique(labels)) < 2:
        raise DatasetCorruptError(
            f"npz: {path} labels hold one class; a classification needs two or more"
        )
    return count


def prepare_npz(spec: dict):
    path = Path(spec["root"])
    (channels, height, width), count = npz_input(path)
    with np.load(path, allow_pickle=False) as data:
        classes = (
            [str(c) for c in data["classes"]]
            if "classes" in data.files
            else [str(i) for i in range(count)]
        )
        return tuple(
            Split(
                data[f"x_{s}"].reshape(-1, height, width, channels),
                data[f"y_{s}"].astype(np.int64),
                classes,
            )
            for s in ("train", "test")
        )
