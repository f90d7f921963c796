"""MNIST and Fashion-MNIST from their IDX ``.gz`` files, each verified against its checksums."""

from __future__ import annotations

import gzip
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError, fetch, md5_of
from rethinkgen.data.splits import Split

log = logging.getLogger(__name__)

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
        "train-images-idx3-ubyte.gz": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte.gz": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
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
    urls=[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    gz_md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    # The decompressed originals' SHA-256, as widely published with MNIST copies.
    content_sha256={
        "train-images-idx3-ubyte.gz": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte.gz": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
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


def parse_idx(raw: bytes, *, images: bool, filename: str) -> np.ndarray:
    """Parse decompressed IDX bytes into (N, 28, 28, 1) uint8 images or (N,) int64 labels."""
    magic = int.from_bytes(raw[0:4], "big")
    expected_magic = IDX_IMAGE_MAGIC if images else IDX_LABEL_MAGIC
    if magic != expected_magic:
        raise DatasetCorruptError(
            f"{filename}: IDX magic number {magic}, expected {expected_magic}"
        )
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


def read_idx_gz(
    path: Path, source: IdxSource, *, images: bool, expected_count: int | None
) -> np.ndarray:
    """Read one IDX .gz file, verifying that it really holds the dataset."""
    compressed = path.read_bytes()
    try:
        raw = gzip.decompress(compressed)
    except (OSError, EOFError) as err:
        raise DatasetCorruptError(
            f"{path}: not a complete gzip file ({err}). {source.how_to_get}"
        ) from err
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
                f"files. {source.how_to_get}"
            )
        raise DatasetCorruptError(
            f"{path}: matches none of {source.name}'s published checksums (neither the .gz "
            f"nor its decompressed content, SHA-256 {hashlib.sha256(raw).hexdigest()}). The file "
            f"is not the genuine {source.name}. {source.how_to_get}"
        )
    if expected_count is not None and len(array) != expected_count:
        raise DatasetCorruptError(f"{path}: {len(array)} records, expected {expected_count}")
    log.info("read %s: %s records, verified by %s", path, len(array), verified)
    return array


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
            f"{source.name}: {', '.join(missing)} not found in {folder.resolve()}. "
            f"{source.how_to_get}"
        )
    splits = []
    for split in ("train", "test"):
        count = None if expected_counts is None else expected_counts[split]
        images = read_idx_gz(
            folder / IDX_FILES[f"{split}_images"], source, images=True, expected_count=count
        )
        labels = read_idx_gz(
            folder / IDX_FILES[f"{split}_labels"], source, images=False, expected_count=count
        )
        if len(images) != len(labels):
            raise DatasetCorruptError(
                f"{source.name} {split}: {len(images)} images, {len(labels)} labels"
            )
        splits.append(Split(images, labels, list(source.classes)))
    return tuple(splits)
