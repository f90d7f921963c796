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
    """((C, H, W), number of classes) of an npz dataset, checking its layout: both splits
    non-empty, one label per image, labels 0..K-1 with K from ``classes`` or else from the
    labels (a warning lists classes without an image; refused when most are empty)."""
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
            labels = {s: npz_labels(data[f"y_{s}"], path, f"y_{s}") for s in ("train", "test")}
            classes = [str(c) for c in data["classes"]] if "classes" in data.files else None
        shape, dtype = _npz_header(path, "x_train")
        test_shape, test_dtype = _npz_header(path, "x_test")
    except (zipfile.BadZipFile, ValueError, OSError, KeyError) as err:
        raise DatasetCorruptError(
            f"npz: cannot read {path} ({type(err).__name__}: {err}); write it with numpy.savez"
        ) from err
    for split, x_shape in (("train", shape), ("test", test_shape)):
        if not x_shape or x_shape[0] == 0:
            raise DatasetCorruptError(
                f"npz: {path} x_{split} holds no image; both splits need images "
                "(a test split scores the model: without one its accuracy would read 0)"
            )
        if len(labels[split]) != x_shape[0]:
            raise DatasetCorruptError(
                f"npz: {path} has {x_shape[0]} images in x_{split} but "
                f"{len(labels[split])} labels in y_{split}; give one label per image"
            )
    if (test_shape[1:], test_dtype) != (shape[1:], dtype):
        raise DatasetCorruptError(
            f"npz: {path} x_train images are {shape[1:]} {dtype} but x_test "
            f"images {test_shape[1:]} {test_dtype}; they must match"
        )
    all_labels = np.concatenate([labels["train"], labels["test"]])
    return _image_shape(shape, dtype, path), _num_classes(all_labels, classes, path)


def npz_labels(labels: np.ndarray, path: Path, key: str) -> np.ndarray:
    """A label array as (N,): Keras-style (N, 1) labels are flattened, with a warning."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        log.warning(
            "npz: %s %s has shape %s; reading it as (%d,)", path, key, labels.shape, len(labels)
        )
        return labels.reshape(-1)
    if labels.ndim != 1:
        raise DatasetCorruptError(
            f"npz: {path} {key} has shape {labels.shape}; store one integer class per image, "
            "shape (N,) (one-hot labels: y.argmax(axis=1))"
        )
    return labels


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
        lowest = (
            f", the lowest is {labels.min()}" if labels.size and labels.dtype.kind in "iuf" else ""
        )
        raise DatasetCorruptError(
            f"npz: {path} labels must be integers 0..K-1, got {labels.dtype}{lowest}; "
            "map your classes to 0..K-1 (e.g. np.unique(y, return_inverse=True)[1])"
        )
    if len(np.unique(labels)) < 2:
        raise DatasetCorruptError(
            f"npz: {path} labels hold one class; a classification needs two or more"
        )
    if classes is not None:
        if labels.max() >= len(classes):
            raise DatasetCorruptError(
                f"npz: {path} has label {labels.max()} but `classes` names {len(classes)} "
                f"classes (labels 0..{len(classes) - 1}); fix the labels or name every class"
            )
        count = len(classes)
    else:
        count = int(labels.max()) + 1
    empty = sorted(set(range(count)) - set(np.unique(labels).tolist()))
    if empty and classes is None and 2 * len(empty) > count:
        raise DatasetCorruptError(
            f"npz: {path} labels run to {count - 1}, so they make {count} classes, but "
            f"{len(empty)} of them have no image ({_ranges(empty)}); random labels would "
            f"then draw from {count} classes. Relabel them 0..K-1 "
            "(np.unique(y, return_inverse=True)[1]) or, if the empty classes are meant, "
            "store their names as `classes`"
        )
    if empty:
        log.warning(
            "%s",
            f"npz: {path} has {count} classes, {len(empty)} without any image "
            f"({_ranges(empty)}); random labels draw from all {count}",
        )
    return count


def _ranges(values: list[int]) -> str:
    """'4..98, 100' for a sorted list of integers."""
    parts, start = [], None
    for index, value in enumerate(values):
        start = value if start is None else start
        if index + 1 == len(values) or values[index + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}..{value}")
            start = None
    return ", ".join(parts)


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
                npz_labels(data[f"y_{s}"], path, f"y_{s}").astype(np.int64),
                classes,
            )
            for s in ("train", "test")
        )
