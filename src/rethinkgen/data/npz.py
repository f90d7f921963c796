"""The user's own ``npz`` arrays: one file with ``x_train``, ``y_train``, ``x_test``,
``y_test`` (images uint8 (N, H, W) or (N, H, W, C); labels integers 0..K-1, or Keras-style
(N, 1)) and optionally ``classes`` (K names), checked before any job (``npz_input``) and
read into Splits at preparation (``prepare_npz``)."""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError
from rethinkgen.data.splits import Split

log = logging.getLogger(__name__)

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


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
