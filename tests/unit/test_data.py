import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rethinkgen.data import idx
from rethinkgen.data import sources as data
from rethinkgen.data.download import DatasetCorruptError, DatasetUnavailableError, md5_of
from rethinkgen.data.idx import IdxSource, prepare_idx
from rethinkgen.data.sources import (
    prepare_cifar10,
    prepare_dataset,
    prepare_imagenet,
    stratified_subset_indices,
)
from rethinkgen.data.splits import ImageListSplit, load_split, save_split
from tests.conftest import make_split


def idx_bytes(array: np.ndarray, images: bool) -> bytes:
    magic = (idx.IDX_IMAGE_MAGIC if images else idx.IDX_LABEL_MAGIC).to_bytes(4, "big")
    header = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic + header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, n_train=30, n_test=10, seed=0) -> dict[str, bytes]:
    """The four MNIST-format files, gzip-compressed; returns their decompressed bytes."""
    rng = np.random.default_rng(seed)
    raw = {}
    for split, n in (("train", n_train), ("test", n_test)):
        raw[idx.IDX_FILES[f"{split}_images"]] = idx_bytes(rng.integers(0, 256, (n, 28, 28)), True)
        raw[idx.IDX_FILES[f"{split}_labels"]] = idx_bytes(rng.integers(0, 10, n), False)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in raw.items():
        (folder / name).write_bytes(gzip.compress(content, mtime=0))
    return raw


def source_for(folder: Path, raw: dict[str, bytes], trust="gz") -> IdxSource:
    gz = (
        {n: md5_of((folder / n).read_bytes()) for n in raw}
        if trust == "gz"
        else {n: "0" * 32 for n in raw}
    )
    content = (
        {n: hashlib.sha256(b).hexdigest() for n, b in raw.items()} if trust == "content" else {}
    )
    return IdxSource("tiny", [str(i) for i in range(10)], [], gz, content, "HOW-TO-GET")


COUNTS = {"train": 30, "test": 10}


def test_idx_gz_read_with_known_checksums(tmp_path):
    raw = write_idx_folder(tmp_path)
    train, test = prepare_idx(source_for(tmp_path, raw), str(tmp_path), False, COUNTS)
    assert train.images.shape == (30, 28, 28, 1) and train.images.dtype == np.uint8
    assert test.labels.dtype == np.int64 and len(test) == 10
    expected = np.frombuffer(raw["train-images-idx3-ubyte.gz"], np.uint8, offset=16).reshape(
        30, 28, 28, 1
    )
    assert np.array_equal(train.images, expected)


def test_recompressed_copy_with_original_content_is_accepted(tmp_path):
    # Debian re-compressed Fashion-MNIST: other .gz bytes, same content. Must not be "corrupt".
    raw = write_idx_folder(tmp_path)
    for name, content in raw.items():
        (tmp_path / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))
    train, _ = prepare_idx(source_for(tmp_path, raw, trust="content"), str(tmp_path), False, COUNTS)
    assert len(train) == 30


def test_content_checksum_mismatch_is_reported(tmp_path):
    raw = write_idx_folder(tmp_path)
    source = source_for(tmp_path, raw, trust="content")
    tampered = bytearray(raw["train-labels-idx1-ubyte.gz"])
    tampered[-1] = (tampered[-1] + 1) % 10
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(tampered)))
    with pytest.raises(DatasetCorruptError, match="not the genuine tiny.*HOW-TO-GET"):
        prepare_idx(source, str(tmp_path), False, COUNTS)


def test_mnist_without_a_published_checksum_is_refused(tmp_path):
    # Formerly accepted "by structure only": any 60000-record IDX file passed as MNIST.
    write_idx_folder(tmp_path)
    with pytest.raises(DatasetCorruptError, match="matches none of mnist's published checksums"):
        prepare_idx(idx.MNIST, str(tmp_path), False, None)


def test_mnist_name_on_another_idx_datasets_files_names_the_right_one(tmp_path, monkeypatch):
    raw = write_idx_folder(tmp_path)
    recompressed = {n: hashlib.sha256(b).hexdigest() for n, b in raw.items()}
    monkeypatch.setattr(
        idx,
        "FASHION_MNIST",
        idx.FASHION_MNIST.__class__(**(vars(idx.FASHION_MNIST) | {"content_sha256": recompressed})),
    )
    with pytest.raises(
        DatasetCorruptError, match="is fashion_mnist's .*`name: mnist`.*Set `name: fashion_mnist`"
    ):
        prepare_idx(idx.MNIST, str(tmp_path), False, None)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="dataset-fashion-mnist not installed",
)
def test_mnist_name_on_debians_fashion_mnist_is_refused():
    with pytest.raises(DatasetCorruptError, match="Set `name: fashion_mnist`"):
        prepare_idx(idx.MNIST, "/usr/share/datasets/fashion-mnist", False)


def test_every_download_mirror_is_https():
    for source in (idx.FASHION_MNIST, idx.MNIST):
        assert source.urls and all(url.startswith("https://") for url in source.urls)
    assert data.CIFAR10_URL.startswith("https://")


def test_truncated_gzip_is_reported(tmp_path):
    raw = write_idx_folder(tmp_path)
    source = source_for(tmp_path, raw)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DatasetCorruptError, match="not a complete gzip file"):
        prepare_idx(source, str(tmp_path), False, COUNTS)


def test_truncated_idx_body_is_reported(tmp_path):
    raw = write_idx_folder(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[path.name][:-50]))
    source = IdxSource("tiny", [str(i) for i in range(10)], [], {}, {}, "HOW")
    with pytest.raises(DatasetCorruptError, match="truncated"):
        prepare_idx(source, str(tmp_path), False, COUNTS)


def test_wrong_record_count_is_reported(tmp_path):
    raw = write_idx_folder(tmp_path)
    with pytest.raises(DatasetCorruptError, match="30 records, expected 60000"):
        prepare_idx(source_for(tmp_path, raw), str(tmp_path), False, idx.IDX_EXPECTED_COUNTS)


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        prepare_idx(idx.FASHION_MNIST, str(tmp_path / "nothing"), False)
    assert not (tmp_path / "nothing").exists()  # nothing half-written left behind


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    def refuse(url, root, filename, md5=None):
        Path(root, filename).write_bytes(b"partial")
        raise OSError("network unreachable")

    monkeypatch.setattr("torchvision.datasets.utils.download_url", refuse)
    with pytest.raises(DatasetUnavailableError, match="could not download.*ossci-datasets"):
        prepare_idx(idx.MNIST, str(tmp_path), True)
    assert list(tmp_path.iterdir()) == []


def write_cifar_tarball(path: Path, n_per_batch=4, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    batches = {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            batches[name] = {
                "data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                "labels": rng.integers(0, 10, n_per_batch).tolist(),
            }
        batches["batches.meta"] = {"label_names": [f"c{i}" for i in range(10)]}
        for name, content in batches.items():
            blob = pickle.dumps(content)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    path.write_bytes(buffer.getvalue())
    return batches


def test_cifar10_tarball_is_read_in_nhwc(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    batches = write_cifar_tarball(archive)
    train, test = prepare_cifar10(str(tmp_path), False, md5=md5_of(archive.read_bytes()))
    assert train.images.shape == (20, 32, 32, 3) and test.images.shape == (4, 32, 32, 3)
    first = batches["data_batch_1"]["data"][0]
    assert np.array_equal(train.images[0, :, :, 0].ravel(), first[:1024])  # red plane
    assert np.array_equal(train.images[0, :, :, 2].ravel(), first[2048:])  # blue plane
    assert train.classes == [f"c{i}" for i in range(10)]
    assert list(test.labels) == batches["test_batch"]["labels"]


def test_cifar10_checksum_failure(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_tarball(archive)
    with pytest.raises(DatasetCorruptError, match="failed both checks"):
        prepare_cifar10(str(tmp_path), False)  # the real CIFAR-10 MD5 cannot match


def test_cifar10_truncated_archive(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_tarball(archive)
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(DatasetCorruptError, match="cannot read"):
        prepare_cifar10(str(tmp_path), False, md5=None)


def test_cifar10_missing_says_where_to_download(tmp_path):
    with pytest.raises(DatasetUnavailableError, match=r"cs\.toronto\.edu.*datasets\.<key>\.root"):
        prepare_cifar10(str(tmp_path), False)


def write_image_folder(root: Path, classes=("n01", "n02", "n03"), per_class=2):
    for split in ("train", "val"):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (20 + i, 16), color=(index * 60, i * 90, 10)).save(
                    folder / f"img{i}.JPEG"
                )


def test_imagenet_file_list(tmp_path):
    write_image_folder(tmp_path)
    train, val = prepare_imagenet(str(tmp_path))
    assert isinstance(train, ImageListSplit) and len(train) == 6 and len(val) == 6
    assert train.classes == ["n01", "n02", "n03"]
    assert list(train.labels) == [0, 0, 1, 1, 2, 2]
    assert (Path(train.root) / train.paths[2]).is_file()
    save_split(val, tmp_path / "val.npz")
    back = load_split(tmp_path / "val.npz")
    assert (
        isinstance(back, ImageListSplit)
        and list(back.paths) == list(val.paths)
        and back.root == val.root
    )


def test_imagenet_corrupt_jpeg_fails_preparation_naming_it(tmp_path):
    write_image_folder(tmp_path)
    good = tmp_path / "train" / "n02" / "img1.JPEG"
    truncated = tmp_path / "val" / "n03" / "img0.JPEG"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "train" / "n01" / "img0.JPEG").write_bytes(b"not an image at all")
    with pytest.raises(DatasetCorruptError) as error:
        prepare_imagenet(str(tmp_path))
    message = str(error.value)
    assert "2 of 12 images" in message
    assert str(truncated) in message and "truncated" in message.lower()
    assert str(tmp_path / "train" / "n01" / "img0.JPEG") in message
    assert str(good) not in message


def test_imagenet_missing_or_inconsistent(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="image-net.org"):
        prepare_imagenet(str(tmp_path))
    write_image_folder(tmp_path)
    (tmp_path / "val" / "n04").mkdir()
    with pytest.raises(DatasetCorruptError, match="same classes"):
        prepare_imagenet(str(tmp_path))


def test_split_roundtrip_and_atomic_write(tmp_path):
    split = make_split()
    save_split(split, tmp_path / "s.npz")
    back = load_split(tmp_path / "s.npz")
    assert np.array_equal(back.images, split.images) and back.labels.dtype == np.int64
    assert back.classes == split.classes
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temporary left


def test_stratified_subset_keeps_class_proportions_and_is_seeded():
    labels = np.repeat(np.arange(10), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
    idx = stratified_subset_indices(labels, 550, np.random.default_rng(0))
    assert len(idx) == 550 and len(np.unique(idx)) == 550
    counts = np.bincount(labels[idx], minlength=10)
    np.testing.assert_allclose(counts, np.arange(1, 11) * 10, atol=1)
    assert np.array_equal(idx, stratified_subset_indices(labels, 550, np.random.default_rng(0)))
    assert not np.array_equal(idx, stratified_subset_indices(labels, 550, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="subset of 9999"):
        stratified_subset_indices(labels, 9999, np.random.default_rng(0))


def test_prepare_dataset_subsets_a_real_format_folder(tmp_path, monkeypatch):
    raw = write_idx_folder(tmp_path, n_train=60, n_test=20)
    source = source_for(tmp_path, raw)
    monkeypatch.setitem(
        data.SOURCES, "mnist", lambda root, download: prepare_idx(source, root, download, None)
    )
    train, test = prepare_dataset(
        {"name": "mnist", "root": str(tmp_path), "n_train": 20, "n_test": 10}, seed=0
    )
    assert len(train) == 20 and len(test) == 10


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="dataset-fashion-mnist not installed",
)
def test_debian_fashion_mnist_is_recognised_as_genuine():
    train, test = prepare_idx(idx.FASHION_MNIST, "/usr/share/datasets/fashion-mnist", False)
    assert train.images.shape == (60000, 28, 28, 1) and len(test) == 10000
    assert np.array_equal(np.bincount(train.labels), np.full(10, 6000))
