"""The user's own datasets and local torchvision copies, from small files in the real formats;
every randomization test on each; the errors a bad folder gets before any job."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from rethinkgen.data.corruptions import CORRUPTIONS, apply_corruption
from rethinkgen.data.download import DatasetCorruptError
from rethinkgen.data.own import export_image_folder
from rethinkgen.data.sources import prepare_dataset
from rethinkgen.data.splits import Split
from rethinkgen.user_inputs import user_input_problems
from tests.conftest import make_split


def _folder(root, classes=("cat", "dog"), per_class=3, size=(12, 10), seed=0):
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(*size[::-1], 3), dtype=np.uint8)
                Image.fromarray(pixels).save(
                    root / split / name / f"{i}.{'png' if i % 2 else 'jpg'}"
                )
    return root


def test_image_folder_is_resized_cropped_and_labelled(tmp_path):
    train, test = prepare_dataset(
        {"name": "image_folder", "root": str(_folder(tmp_path)), "image_size": 8}, 0
    )
    assert train.images.shape == (6, 8, 8, 3) and train.images.dtype == np.uint8
    assert train.classes == ["cat", "dog"] and train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    grey, _ = prepare_dataset(
        {"name": "image_folder", "root": str(tmp_path), "channels": 1, "image_size": 5}, 0
    )
    assert grey.images.shape == (6, 5, 5, 1)


def test_export_then_read_round_trip(tmp_path):
    split = make_split(n=20, h=6, w=6, c=1, k=2)
    split.classes = ["T-shirt/top", "Trouser"]
    for name in ("train", "test"):
        export_image_folder(split, tmp_path, name)
    train, _ = prepare_dataset(
        {"name": "image_folder", "root": str(tmp_path), "channels": 1, "image_size": 6}, 0
    )
    order = np.argsort(split.labels, kind="stable")  # folders list class by class
    np.testing.assert_array_equal(train.images, split.images[order])
    assert train.classes == ["T-shirt-top", "Trouser"]


def _dataset_config(spec: dict) -> dict:
    return {
        "datasets": {"mine": spec},
        "models": {"mlp": {"arch": "mlp", "hidden": [8], "lr": 0.1}},
        "corruptions": {"none": {"kind": "none"}},
        "regularizers": {"none": {}},
        "training": {},
        "experiments": {
            "e": {
                "grids": [
                    {
                        "datasets": ["mine"],
                        "models": ["mlp"],
                        "corruptions": ["none"],
                        "regularizers": ["none"],
                    }
                ]
            }
        },
    }


def test_one_class_folder_fails_before_any_job(tmp_path):
    problems = user_input_problems(
        _dataset_config({"name": "image_folder", "root": str(_folder(tmp_path, classes=("cat",)))})
    )
    assert len(problems) == 1
    assert (
        "datasets.mine: image_folder:" in problems[0] and "1 class folder(s) (cat)" in problems[0]
    )
    assert "at least two" in problems[0]


def test_unreadable_image_fails_before_any_job(tmp_path):
    _folder(tmp_path)
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    problems = user_input_problems(_dataset_config({"name": "image_folder", "root": str(tmp_path)}))
    assert len(problems) == 1 and "1 of 13 images" in problems[0] and "broken.jpg" in problems[0]


def test_folders_with_different_classes_are_refused(tmp_path):
    _folder(tmp_path)
    (tmp_path / "test" / "bird").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "test" / "bird" / "0.png")
    with pytest.raises(DatasetCorruptError, match="both must hold the same class folders"):
        prepare_dataset({"name": "image_folder", "root": str(tmp_path)}, 0)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_npz_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(10, 5, 4), dtype=np.uint8)
    path = _npz(
        tmp_path / "d.npz",
        x_train=x,
        y_train=np.arange(10) % 3,
        x_test=x[:4],
        y_test=np.array([0, 1, 2, 0]),
        classes=np.array(["a", "b", "c"]),
    )
    train, test = prepare_dataset({"name": "npz", "root": path}, 0)
    assert train.images.shape == (10, 5, 4, 1) and test.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(train.images[..., 0], x)


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((4, 3, 8, 8), np.uint8), np.array([0, 1, 0, 1]), "looks channels-first"),
        (np.zeros((4, 8, 8), np.float32), np.array([0, 1, 0, 1]), "store images as uint8"),
        (np.zeros((4, 8, 8), np.uint8), np.zeros(4, np.int64), "one class"),
    ],
)
def test_npz_layout_errors(tmp_path, x, y, message):
    path = _npz(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    problems = user_input_problems(_dataset_config({"name": "npz", "root": path}))
    assert len(problems) == 1 and message in problems[0]


def _svhn(root):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    for name, n in (("train_32x32.mat", 6), ("test_32x32.mat", 4)):
        savemat(
            root / name,
            {
                "X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                "y": (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8),
            },
        )


def _cifar100(root):
    rng = np.random.default_rng(0)
    members = {
        "train": {
            "data": rng.integers(0, 256, (6, 3072), dtype=np.uint8),
            "fine_labels": [0, 1, 99, 5, 6, 7],
        },
        "test": {
            "data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            "fine_labels": [1, 2, 3, 4],
        },
        "meta": {"fine_label_names": [f"c{i}" for i in range(100)]},
    }
    with tarfile.open(root / "cifar-100-python.tar.gz", "w:gz") as tar:
        for name, content in members.items():
            data = pickle.dumps(content)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _kmnist(root):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        head = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(head + images.tobytes())
        )
        labels = (np.arange(n) % 10).astype(np.uint8)
        head = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(head + labels.tobytes())
        )


LOCAL = {
    "svhn": (_svhn, (6, 32, 32, 3), 10),
    "cifar100": (_cifar100, (6, 32, 32, 3), 100),
    "kmnist": (_kmnist, (6, 28, 28, 1), 10),
}


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_local_copies_read_without_download(tmp_path, name, caplog):
    write, shape, classes = LOCAL[name]
    write(tmp_path)
    train, test = prepare_dataset({"name": name, "root": str(tmp_path)}, 0)
    assert train.images.shape == shape and len(test) == 4 and train.num_classes == classes
    assert train.labels.max() < classes and "not torchvision's published" in caplog.text
    if name == "svhn":
        assert train.labels.tolist() == [1, 2, 3, 4, 5, 6] and test.labels.tolist() == [1, 2, 3, 4]
    if name == "cifar100":
        assert train.labels.tolist() == [0, 1, 99, 5, 6, 7]


def test_missing_local_copy_says_where_to_put_it(tmp_path):
    with pytest.raises(Exception, match="train_32x32.mat not found.*datasets.<key>.root"):
        prepare_dataset({"name": "svhn", "root": str(tmp_path)}, 0)


def _every_source(tmp_path) -> dict[str, tuple[Split, Split]]:
    sources = {}
    for name, (write, _, _) in LOCAL.items():
        (tmp_path / name).mkdir()
        write(tmp_path / name)
        sources[name] = prepare_dataset({"name": name, "root": str(tmp_path / name)}, 0)
    sources["image_folder"] = prepare_dataset(
        {"name": "image_folder", "root": str(_folder(tmp_path / "folder")), "image_size": 8}, 0
    )
    x = np.random.default_rng(1).integers(0, 256, (8, 6, 6, 2), dtype=np.uint8)
    sources["npz"] = prepare_dataset(
        {
            "name": "npz",
            "root": _npz(
                tmp_path / "d.npz",
                x_train=x,
                y_train=np.arange(8) % 2,
                x_test=x,
                y_test=np.arange(8) % 2,
            ),
        },
        0,
    )
    return sources


SPECS = {
    "none": {"kind": "none"},
    "random_labels": {"kind": "random_labels", "prob": 1.0},
    "shuffled_pixels": {"kind": "shuffled_pixels", "splits": ["train", "test"]},
    "random_pixels": {"kind": "random_pixels", "splits": ["train", "test"]},
    "gaussian": {"kind": "gaussian", "splits": ["train", "test"]},
}


def test_every_randomization_on_every_new_source(tmp_path):
    assert set(SPECS) == set(CORRUPTIONS)
    for name, (train, test) in _every_source(tmp_path).items():
        for kind, spec in SPECS.items():
            result = apply_corruption(spec, train, test, seed=3)
            assert result.train.images.shape == train.images.shape, (name, kind)
            assert len(result.test) == len(test)
        gaussian = apply_corruption(SPECS["gaussian"], train, test, seed=3).stats
        pixels = train.images.reshape(-1, train.images.shape[-1]).astype(np.float64)
        # Each dataset's own per-channel statistics, one per channel.
        np.testing.assert_allclose(gaussian["dataset_channel_mean"], pixels.mean(axis=0))
        np.testing.assert_allclose(gaussian["dataset_channel_std"], pixels.std(axis=0))


def test_a_folder_is_decoded_once_until_a_file_changes(tmp_path, monkeypatch):
    import os

    from PIL import Image

    from rethinkgen.data import images

    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (4, 4)).save(folder / name)
    decoded = []
    real = images.check_images_decode
    monkeypatch.setattr(
        images, "check_images_decode", lambda base, paths: decoded.append(1) or real(base, paths)
    )
    cache = tmp_path / "cache"
    for _ in range(2):
        images.check_images_decode_once(folder, ["a.png", "b.png"], cache)
    assert len(decoded) == 1  # the second dry run decodes nothing
    (folder / "b.png").write_bytes(b"not an image")
    os.utime(folder / "b.png", ns=(1, 1))
    with pytest.raises(images.DatasetCorruptError, match="b.png"):
        images.check_images_decode_once(folder, ["a.png", "b.png"], cache)
    with pytest.raises(images.DatasetCorruptError):  # a failed check is not remembered
        images.check_images_decode_once(folder, ["a.png", "b.png"], cache)
    assert len(decoded) == 3
