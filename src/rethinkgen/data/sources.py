"""Dataset sources and the prepared on-disk form every later stage reads.

A prepared split is one uncompressed ``.npz`` file: ``images`` (N, H, W, C) uint8,
``labels`` (N,) int64 and ``classes``. It loads in a fraction of a second even at
CIFAR-10 size. ImageNet is too large to hold in memory, so its prepared split is a
file list (``paths`` relative to ``root``, ``labels``) and images are decoded while
training.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import tarfile
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rethinkgen.io import atomic_path

log = logging.getLogger(__name__)


class DatasetUnavailableError(RuntimeError):
    """The raw data is not on disk and cannot be downloaded; the message says how to get it."""


class DatasetCorruptError(RuntimeError):
    """Raw files exist but are not the dataset they claim to be (truncated, wrong checksum)."""


@dataclass
class Split:
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

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "Split":
        true = None if self.true_labels is None else self.true_labels[indices]
        return Split(self.images[indices], self.labels[indices], list(self.classes), true)


@dataclass
class ImageListSplit:
    """A split of image files decoded at training time (ImageNet): paths relative to `root`."""

    root: str
    paths: np.ndarray
    labels: np.ndarray
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "ImageListSplit":
        return ImageListSplit(self.root, self.paths[indices], self.labels[indices], list(self.classes))


def save_split(split: Split | ImageListSplit, path: str | os.PathLike) -> None:
    """Write a split as an uncompressed .npz, atomically."""
    arrays = {"labels": split.labels.astype(np.int64), "classes": np.array(split.classes, dtype=str)}
    if isinstance(split, ImageListSplit):
        arrays |= {"paths": np.asarray(split.paths, dtype=str), "root": np.array(split.root)}
    else:
        arrays["images"] = split.images
        if split.true_labels is not None:
            arrays["true_labels"] = split.true_labels.astype(np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_split(path: str | os.PathLike) -> Split | ImageListSplit:
    """Read a split written by `save_split`."""
    with np.load(path, allow_pickle=False) as data:
        classes = [str(c) for c in data["classes"]]
        if "paths" in data:
            return ImageListSplit(str(data["root"]), data["paths"], data["labels"], classes)
        true = data["true_labels"] if "true_labels" in data else None
        return Split(data["images"], data["labels"], classes, true)


# ---------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
MNIST_CLASSES = [str(d) for d in range(10)]
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX dataset comes from and how to recognise its genuine files."""

    name: str
    classes: list[str]
    urls: list[str]  # https mirrors, tried in order
    gz_md5: dict[str, str]  # the published .gz files (torchvision's checksums)
    # SHA-256 of the *decompressed* files. Re-compressed copies (Debian's) have other .gz
    # checksums but the same content, and must still be recognised as genuine.
    content_sha256: dict[str, str]
    how_to_get: str


FASHION_MNIST = IdxSource(
    name="fashion_mnist",
    classes=FASHION_MNIST_CLASSES,
    # The dataset's own repository (https); its S3 website mirror serves plain http only.
    urls=["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
    gz_md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    # Measured on Debian's dataset-fashion-mnist (0.0~git20200523), whose decompressed
    # bytes are the originals.
    content_sha256={
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    how_to_get=(
        "On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` (installs the four "
        "files to /usr/share/datasets/fashion-mnist), or download them from "
        "https://github.com/zalandoresearch/fashion-mnist#get-the-data into the folder "
        "named by `datasets.<key>.root` in your config."
    ),
)

MNIST = IdxSource(
    name="mnist",
    classes=MNIST_CLASSES,
    urls=["https://ossci-datasets.s3.amazonaws.com/mnist/",
          "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    gz_md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    # The decompressed originals' SHA-256, as widely published with MNIST copies.
    content_sha256={
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    how_to_get=(
        "Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from "
        "https://ossci-datasets.s3.amazonaws.com/mnist/ into the folder named by "
        "`datasets.<key>.root` in your config, or set `download: true` on a machine "
        "with internet access."
    ),
)

IDX_IMAGE_MAGIC, IDX_LABEL_MAGIC = 2051, 2049
IDX_EXPECTED_COUNTS = {"train": 60000, "test": 10000}


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def parse_idx(raw: bytes, *, images: bool, filename: str) -> np.ndarray:
    """Parse decompressed IDX bytes into (N, 28, 28, 1) uint8 images or (N,) int64 labels."""
    magic = int.from_bytes(raw[0:4], "big")
    expected_magic = IDX_IMAGE_MAGIC if images else IDX_LABEL_MAGIC
    if magic != expected_magic:
        raise DatasetCorruptError(f"{filename}: IDX magic number {magic}, expected {expected_magic}")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetCorruptError(
            f"{filename}: header says {dims} ({int(np.prod(dims))} bytes) but the file holds "
            f"{body.size}: it is truncated or damaged"
        )
    if images:
        return body.reshape(dims[0], dims[1], dims[2], 1).copy()
    return body.astype(np.int64)


def identify_idx_file(name: str, compressed: bytes, raw: bytes) -> IdxSource | None:
    """The known IDX dataset whose genuine file ``name`` these bytes are, if any."""
    gz_md5, content_sha256 = md5_of(compressed), hashlib.sha256(raw).hexdigest()
    for source in (FASHION_MNIST, MNIST):
        if source.gz_md5.get(name) == gz_md5 or source.content_sha256.get(name) == content_sha256:
            return source
    return None


def read_idx_gz(path: Path, source: IdxSource, *, images: bool, expected_count: int | None) -> np.ndarray:
    """Read one IDX .gz file, verifying that it really holds the dataset."""
    compressed = path.read_bytes()
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError) as err:
        raise DatasetCorruptError(f"{path}: not a complete gzip file ({err}). {source.how_to_get}") from err
    array = parse_idx(raw, images=images, filename=str(path))
    name = path.name
    if source.gz_md5.get(name) == md5_of(compressed):
        verified = "gz checksum"
    elif source.content_sha256.get(name) == hashlib.sha256(raw).hexdigest():
        verified = "content checksum (re-compressed copy)"
    else:
        other = identify_idx_file(name, compressed, raw)
        if other is not None and other.name != source.name:
            raise DatasetCorruptError(
                f"{path} is {other.name}'s {name}, but the config says `name: {source.name}`. "
                f"Set `name: {other.name}` for this dataset, or point `root` at {source.name}'s "
                f"files. {source.how_to_get}")
        raise DatasetCorruptError(
            f"{path}: matches none of {source.name}'s published checksums (neither the .gz "
            f"nor its decompressed content, SHA-256 {hashlib.sha256(raw).hexdigest()}). The file "
            f"is not the genuine {source.name}. {source.how_to_get}")
    if expected_count is not None and len(array) != expected_count:
        raise DatasetCorruptError(f"{path}: {len(array)} records, expected {expected_count}")
    log.info("read %s: %s records, verified by %s", path, len(array), verified)
    return array


def fetch(urls: list[str], filename: str, dest: Path, md5: str | None) -> None:
    """Download `filename` from the first mirror that answers, checksum-verified, atomically."""
    from torchvision.datasets.utils import check_integrity, download_url

    errors = []
    for base in urls:
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            try:
                download_url(base + filename if base.endswith("/") else base, tmp, filename, md5=None)
            except (urllib.error.URLError, OSError, RuntimeError) as err:
                errors.append(f"{base}: {err}")
                continue
            if md5 is not None and not check_integrity(os.path.join(tmp, filename), md5):
                errors.append(f"{base}: checksum mismatch")
                continue
            os.replace(os.path.join(tmp, filename), dest / filename)
            return
    raise DatasetUnavailableError(f"could not download {filename}: {'; '.join(errors)}")


def prepare_idx(source: IdxSource, root: str, download: bool, expected_counts=IDX_EXPECTED_COUNTS):
    """Train and test Splits of an IDX dataset from `root`, downloading when allowed."""
    folder = Path(root)
    missing = [f for f in IDX_FILES.values() if not (folder / f).is_file()]
    if missing and download:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for filename in missing:
                fetch(source.urls, filename, folder, source.gz_md5[filename])
        except DatasetUnavailableError as err:
            raise DatasetUnavailableError(f"{source.name}: {err}. {source.how_to_get}") from err
    elif missing:
        raise DatasetUnavailableError(
            f"{source.name}: {', '.join(missing)} not found in {folder.resolve()}. {source.how_to_get}"
        )
    splits = []
    for split in ("train", "test"):
        count = None if expected_counts is None else expected_counts[split]
        images = read_idx_gz(folder / IDX_FILES[f"{split}_images"], source, images=True, expected_count=count)
        labels = read_idx_gz(folder / IDX_FILES[f"{split}_labels"], source, images=False, expected_count=count)
        if len(images) != len(labels):
            raise DatasetCorruptError(f"{source.name} {split}: {len(images)} images, {len(labels)} labels")
        splits.append(Split(images, labels, list(source.classes)))
    return tuple(splits)


# ---------------------------------------------------------------------------------------
# CIFAR-10 (the python pickle tarball)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_HOW_TO_GET = (
    f"Download {CIFAR10_URL} (MD5 {CIFAR10_MD5}) and put it in the folder named by "
    "`datasets.<key>.root`, point `datasets.<key>.archive` at an existing copy, or set "
    "`download: true` on a machine with internet access."
)


def prepare_cifar10(root: str, download: bool, archive: str | None = None, md5: str | None = CIFAR10_MD5):
    """Train and test Splits from cifar-10-python.tar.gz (verified against its MD5)."""
    from torchvision.datasets.utils import calculate_md5

    path = Path(archive) if archive else Path(root) / CIFAR10_ARCHIVE
    if not path.is_file():
        if not download or archive:
            raise DatasetUnavailableError(f"cifar10: {path.resolve()} not found. {CIFAR10_HOW_TO_GET}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fetch([CIFAR10_URL], CIFAR10_ARCHIVE, path.parent, md5)
        except DatasetUnavailableError as err:
            raise DatasetUnavailableError(f"cifar10: {err}. {CIFAR10_HOW_TO_GET}") from err
    if md5 is not None and calculate_md5(str(path)) != md5:
        raise DatasetCorruptError(
            f"cifar10: {path} has MD5 {calculate_md5(str(path))}, expected {md5}: the file is "
            f"damaged or incomplete. {CIFAR10_HOW_TO_GET}"
        )
    try:
        with tarfile.open(path, "r:gz") as tar:
            batches = {
                Path(m.name).name: pickle.load(tar.extractfile(m), encoding="latin1")  # noqa: S301
                for m in tar.getmembers()
                if m.isfile() and Path(m.name).name.startswith(("data_batch_", "test_batch", "batches.meta"))
            }
    except (tarfile.TarError, EOFError, OSError, pickle.UnpicklingError) as err:
        raise DatasetCorruptError(f"cifar10: cannot read {path} ({err}). {CIFAR10_HOW_TO_GET}") from err
    train_names = sorted(n for n in batches if n.startswith("data_batch_"))
    if not train_names or "test_batch" not in batches or "batches.meta" not in batches:
        raise DatasetCorruptError(f"cifar10: {path} lacks data_batch_*, test_batch or batches.meta")
    classes = list(batches["batches.meta"]["label_names"])

    def to_split(parts: list[dict]) -> Split:
        images = np.concatenate([np.asarray(p["data"], dtype=np.uint8) for p in parts])
        labels = np.concatenate([np.asarray(p["labels"], dtype=np.int64) for p in parts])
        return Split(images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels, classes)

    return to_split([batches[n] for n in train_names]), to_split([batches["test_batch"]])


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
            raise DatasetUnavailableError(f"imagenet: {(base / split).resolve()} not found. {IMAGENET_HOW_TO_GET}")
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
    from rethinkgen.data.images import check_images_decode  # imports this module

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


def stratified_subset_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `n` samples with class proportions kept (largest remainders), sorted."""
    if n > len(labels):
        raise ValueError(f"asked for a subset of {n} samples from a split of {len(labels)}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    quota = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quota), kind="stable")
    quota[remainder_order[: n - quota.sum()]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def prepare_dataset(spec: dict, seed: int) -> tuple[Split | ImageListSplit, Split | ImageListSplit]:
    """Load one configured dataset (a source plus an optional seeded, stratified subset)."""
    source = SOURCES[spec["name"]]
    kwargs = {"root": spec["root"], "download": spec.get("download", False)}
    if spec["name"] == "cifar10" and spec.get("archive"):
        kwargs["archive"] = spec["archive"]
    train, test = source(**kwargs)
    rng = np.random.default_rng(seed)
    if spec.get("n_train") is not None:
        train = train.subset(stratified_subset_indices(train.labels, spec["n_train"], rng))
    if spec.get("n_test") is not None:
        test = test.subset(stratified_subset_indices(test.labels, spec["n_test"], rng))
    return train, test

