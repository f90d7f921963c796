"""CIFAR-10 tarballs in the real layout (cifar-10-batches-py/<batch> pickles, gzip tar):
re-packed copies are accepted by their batch files' checksums, Python 3 pickles are read."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from rethinkgen.data.cifar10 import prepare_cifar10, published_member_md5
from rethinkgen.data.download import DatasetCorruptError, md5_of

NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def batches(seed: int = 0, n: int = 4) -> dict:
    rng = np.random.default_rng(seed)
    found = {
        name: {
            "batch_label": f"{name} of 6",
            "labels": rng.integers(0, 10, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        for name in NAMES[:-1]
    }
    return found | {
        "batches.meta": {
            "label_names": [
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ],
            "num_cases_per_batch": n,
            "num_vis": 3072,
        }
    }


def as_bytes_keys(batch: dict) -> dict:
    """What Python 3 re-pickling after `pickle.load(f, encoding="bytes")` leaves."""
    out = {k.encode(): v for k, v in batch.items()}
    if b"label_names" in out:
        out[b"label_names"] = [n.encode() for n in out[b"label_names"]]
    return out


def pack(path: Path, blobs: dict[str, bytes], level: int = 9, reverse: bool = False) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=level) as tar:
        for name in sorted(blobs, reverse=reverse):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blobs[name])
            tar.addfile(info, io.BytesIO(blobs[name]))
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def genuine(tmp_path):
    """An 'original' archive and its published checksums (archive and batch files)."""
    blobs = {name: pickle.dumps(batch, protocol=2) for name, batch in batches().items()}
    path = tmp_path / "orig" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    pack(path, blobs)
    return blobs, md5_of(path.read_bytes()), {name: md5_of(blob) for name, blob in blobs.items()}


def test_repacked_archive_is_accepted_by_its_batch_files(genuine, tmp_path):
    blobs, archive_md5, member_md5 = genuine
    repacked = tmp_path / "cifar-10-python.tar.gz"
    pack(repacked, blobs, level=1, reverse=True)  # same batch files, other bytes
    assert md5_of(repacked.read_bytes()) != archive_md5
    train, test = prepare_cifar10(str(tmp_path), False, md5=archive_md5, member_md5=member_md5)
    original, _ = prepare_cifar10(
        str(tmp_path / "orig"), False, md5=archive_md5, member_md5=member_md5
    )
    assert np.array_equal(train.images, original.images) and train.images.shape == (20, 32, 32, 3)
    assert test.classes[0] == "airplane"


def test_a_changed_batch_names_both_failed_checks(genuine, tmp_path):
    blobs, archive_md5, member_md5 = genuine
    damaged = dict(blobs, data_batch_3=pickle.dumps(batches(seed=1)["data_batch_3"], protocol=2))
    pack(tmp_path / "cifar-10-python.tar.gz", damaged)
    with pytest.raises(DatasetCorruptError) as err:
        prepare_cifar10(str(tmp_path), False, md5=archive_md5, member_md5=member_md5)
    message = str(err.value)
    assert "(1) archive MD5 " in message and f"expected {archive_md5}" in message
    assert (
        f"(2) batch files inside it: data_batch_3 MD5 {md5_of(damaged['data_batch_3'])} "
        f"(published {member_md5['data_batch_3']})" in message
    )
    assert "data_batch_1" not in message


def test_python3_pickles_with_bytes_keys_are_read(tmp_path):
    blobs = {
        name: pickle.dumps(as_bytes_keys(batch), protocol=4) for name, batch in batches().items()
    }
    pack(tmp_path / "cifar-10-python.tar.gz", blobs)
    sums = {name: md5_of(blob) for name, blob in blobs.items()}
    train, test = prepare_cifar10(str(tmp_path), False, md5="0" * 32, member_md5=sums)
    assert train.classes[:2] == ["airplane", "automobile"] and len(test) == 4
    assert list(test.labels) == batches()["test_batch"]["labels"]


def test_published_batch_checksums_come_from_torchvision():
    published = published_member_md5()
    assert sorted(published) == sorted(NAMES)
    assert published["test_batch"] == "40351d587109b95175f43aff81a1287e"
