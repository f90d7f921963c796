"""Local copies of torchvision datasets, read from their published files, never downloaded.

``svhn`` (train_32x32.mat, test_32x32.mat), ``cifar100`` (cifar-100-python.tar.gz, or the
folder it extracts to) and ``kmnist`` (the four IDX .gz files), each in the folder named
by ``root``, exactly as torchvision's own download leaves them. The files' MD5 is
compared with torchvision's published checksum: a match is logged as verified, anything
else (a subset, a re-encoded copy) is read all the same, with a warning, since the
format checks below still guarantee images and labels of the right shapes.
"""

from __future__ import annotations

import logging
import pickle
import tarfile
from pathlib import Path

import numpy as np

from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError, md5_of
from rethinkgen.data.idx import parse_idx
from rethinkgen.data.splits import Split

log = logging.getLogger(__name__)


def _check_md5(path: Path, data: bytes, published: str) -> None:
    if md5_of(data) == published:
        log.info("%s: verified (torchvision's published MD5)", path)
    else:
        log.warning(
            "%s: MD5 %s is not torchvision's published %s; reading it as a modified "
            "copy or a subset of the dataset",
            path,
            md5_of(data),
            published,
        )


def _need(path: Path, dataset: str, how: str) -> Path:
    if not path.is_file():
        raise DatasetUnavailableError(f"{dataset}: {path.resolve()} not found. {how}")
    return path


def _labelled(images: np.ndarray, labels: np.ndarray, classes: list[str], where: str) -> Split:
    if len(images) != len(labels):
        raise DatasetCorruptError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetCorruptError(f"{where}: labels outside 0..{len(classes) - 1}")
    return Split(np.ascontiguousarray(images, dtype=np.uint8), labels.astype(np.int64), classes)


SVHN_HOW = (
    "Copy train_32x32.mat and test_32x32.mat (http://ufldl.stanford.edu/housenumbers/, "
    "or torchvision.datasets.SVHN's download folder) into the folder named by "
    "`datasets.<key>.root`."
)


def prepare_svhn(spec: dict):
    """SVHN's cropped digits: X (32, 32, 3, N) uint8 and y (N, 1) with 10 meaning digit 0."""
    from scipy.io import loadmat
    from torchvision.datasets import SVHN

    splits = []
    for split in ("train", "test"):
        _, filename, md5 = SVHN.split_list[split]
        path = _need(Path(spec["root"]) / filename, "svhn", SVHN_HOW)
        _check_md5(path, path.read_bytes(), md5)
        try:
            mat = loadmat(path)
        except Exception as err:  # scipy raises several types for a damaged .mat
            raise DatasetCorruptError(f"svhn: cannot read {path} ({err}). {SVHN_HOW}") from err
        if "X" not in mat or "y" not in mat or mat["X"].ndim != 4:
            raise DatasetCorruptError(f"svhn: {path} lacks X (32, 32, 3, N) and y. {SVHN_HOW}")
        labels = mat["y"].reshape(-1).astype(np.int64) % 10  # SVHN labels digit 0 as 10
        splits.append(
            _labelled(
                mat["X"].transpose(3, 0, 1, 2), labels, [str(d) for d in range(10)], str(path)
            )
        )
    return tuple(splits)


CIFAR100_HOW = (
    "Copy cifar-100-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html), or "
    "the cifar-100-python folder it extracts to, into the folder named by "
    "`datasets.<key>.root`."
)


def _cifar100_members(root: Path) -> dict[str, bytes]:
    """train, test and meta pickles, from the extracted folder or else the tarball."""
    from torchvision.datasets import CIFAR100

    folder = root / CIFAR100.base_folder
    names = ("train", "test", "meta")
    if all((folder / n).is_file() for n in names):
        members = {n: (folder / n).read_bytes() for n in names}
        for name, md5 in CIFAR100.train_list + CIFAR100.test_list:
            _check_md5(folder / name, members[name], md5)
        return members
    archive = _need(root / CIFAR100.filename, "cifar100", CIFAR100_HOW)
    _check_md5(archive, archive.read_bytes(), CIFAR100.tgz_md5)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return {n: tar.extractfile(f"{CIFAR100.base_folder}/{n}").read() for n in names}
    except (tarfile.TarError, KeyError, EOFError, OSError, AttributeError) as err:
        raise DatasetCorruptError(
            f"cifar100: cannot read {archive} ({err}). {CIFAR100_HOW}"
        ) from err


def prepare_cifar100(spec: dict):
    """CIFAR-100 with its 100 fine labels (the python pickles)."""
    members = _cifar100_members(Path(spec["root"]))
    try:
        parts = {
            n: pickle.loads(data, encoding="latin1")  # noqa: S301
            for n, data in members.items()
        }
        classes = list(parts["meta"]["fine_label_names"])
        return tuple(
            _labelled(
                np.asarray(parts[s]["data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1),
                np.asarray(parts[s]["fine_labels"]),
                classes,
                f"cifar100 {s}",
            )
            for s in ("train", "test")
        )
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as err:
        raise DatasetCorruptError(
            f"cifar100: the pickles under {spec['root']} are not CIFAR-100's "
            f"({type(err).__name__}: {err}). {CIFAR100_HOW}"
        ) from err


KMNIST_HOW = (
    "Copy KMNIST's four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; "
    "https://github.com/rois-codh/kmnist) into the folder named by `datasets.<key>.root`."
)


def prepare_kmnist(spec: dict):
    """Kuzushiji-MNIST: MNIST's IDX format and file names, 10 hiragana classes."""
    import gzip

    from torchvision.datasets import KMNIST

    arrays = {}
    for filename, md5 in KMNIST.resources:
        path = _need(Path(spec["root"]) / filename, "kmnist", KMNIST_HOW)
        compressed = path.read_bytes()
        _check_md5(path, compressed, md5)
        try:
            raw = gzip.decompress(compressed)
        except (OSError, EOFError) as err:
            raise DatasetCorruptError(
                f"kmnist: {path} is not a complete gzip file. {KMNIST_HOW}"
            ) from err
        arrays[filename] = parse_idx(raw, images="images" in filename, filename=str(path))
    return tuple(
        _labelled(
            arrays[f"{prefix}-images-idx3-ubyte.gz"],
            arrays[f"{prefix}-labels-idx1-ubyte.gz"],
            list(KMNIST.classes),
            f"kmnist {prefix}",
        )
        for prefix in ("train", "t10k")
    )


LOCAL_COPIES = {"svhn": prepare_svhn, "cifar100": prepare_cifar100, "kmnist": prepare_kmnist}
# (channels, height, width) and number of classes, known without reading the files.
LOCAL_COPY_SHAPES = {
    "svhn": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    "kmnist": ((1, 28, 28), 10),
}
