"""Your own data belongs to a run's identity (issue 30): overwriting an npz or adding images
to a class changes the prepared split's params and the runs' identities; image folders
read links once and refuse loops; npz files are checked before any job."""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pytest
from PIL import Image

from rethinkgen.config import dataset_identity, run_spec
from rethinkgen.data import content
from rethinkgen.data.download import DatasetCorruptError
from rethinkgen.data.npz import npz_input
from rethinkgen.data.own import folder_classes, folder_samples
from rethinkgen.data.sources import prepare_dataset, prepared_info
from rethinkgen.run import RunKeys
from rethinkgen.user_inputs import user_input_problems
from tests.unit.test_own_data import _dataset_config, _folder, _npz

KEYS = RunKeys("mine", "mlp", "none", "none", 0)


@pytest.fixture(autouse=True)
def _fresh_digests():
    content.forget_digests()
    yield
    content.forget_digests()


def _config(spec: dict) -> dict:
    return _dataset_config(spec) | {"seeds": [0], "data_seed": 0, "training": {"max_epochs": 1}}


def _identity(spec: dict) -> dict:
    content.forget_digests()  # a new process (a new `snakemake` call) would hash anew
    return run_spec(_config(spec), KEYS).identity()


def _arrays(n: int, k: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 6, 6), dtype=np.uint8)
    y = np.arange(n) % k
    return {"x_train": x, "y_train": y, "x_test": x[:k], "y_test": y[:k]}


def test_an_overwritten_npz_changes_the_split_and_the_runs(tmp_path):
    path = _npz(tmp_path / "d.npz", **_arrays(64, 4))
    spec = {"name": "npz", "root": path}
    before = _identity(spec)
    assert _identity(spec) == before  # the same bytes: the same identity
    prepared = dataset_identity(_config(spec), "mine")
    assert prepared["content_sha256"] == before["dataset_spec"]["content_sha256"]
    _npz(tmp_path / "d.npz", **_arrays(200, 7, seed=1))  # the case
    after = _identity(spec)
    assert after["dataset_spec"]["content_sha256"] != before["dataset_spec"]["content_sha256"]
    assert after != before  # Snakemake's params trigger retrains the runs
    assert dataset_identity(_config(spec), "mine") != prepared  # and rebuilds the split


def test_an_image_added_to_a_class_retrains(tmp_path):
    root = _folder(tmp_path / "data")
    spec = {"name": "image_folder", "root": str(root), "image_size": 8}
    before = _identity(spec)
    Image.new("RGB", (5, 5)).save(root / "train" / "cat" / "new.png")
    assert _identity(spec) != before
    (root / "train" / "cat" / "new.png").unlink()
    assert _identity(spec) == before  # the identity is the content, not the history


def test_a_file_rewritten_with_its_size_and_time_kept_is_still_hashed_anew(tmp_path):
    path = tmp_path / "d.npz"
    _npz(path, **_arrays(8, 2))
    first = content.content_digest({"name": "npz", "root": str(path)})
    stat = path.stat()
    _npz(path, **_arrays(8, 2, seed=3))  # same shapes: same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert content.content_digest({"name": "npz", "root": str(path)}) != first


def test_the_digest_cache_is_reused_and_survives_damage(tmp_path):
    path = _npz(tmp_path / "d.npz", **_arrays(8, 2))
    cache = tmp_path / "cache.json"
    spec = {"name": "npz", "root": path}
    digest = content.content_digest(spec, cache)
    assert cache.is_file() and content.content_digest(spec, cache) == digest
    cache.write_text("{not json")
    assert content.content_digest(spec, cache) == digest


def test_built_in_datasets_carry_no_digest(tmp_path):
    config = _config({"name": "fashion_mnist", "root": str(tmp_path), "n_train": 100})
    assert dataset_identity(config, "mine") == {
        "name": "fashion_mnist",
        "root": str(tmp_path),
        "n_train": 100,
    }
    assert "content_sha256" not in run_spec(config, KEYS).identity()["dataset_spec"]


def test_local_copies_are_digested(tmp_path):
    from tests.unit.test_own_data import _kmnist

    _kmnist(tmp_path)
    spec = {"name": "kmnist", "root": str(tmp_path)}
    before = content.content_digest(spec)
    assert len(content.raw_files(spec)) == 4
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"other")
    assert content.content_digest(spec) != before


# ---- image folders: links and per-class counts


def test_a_self_link_is_refused_quickly_with_its_path(tmp_path):
    root = _folder(tmp_path / "data")
    link = root / "train" / "cat" / "self"
    os.symlink(".", link)
    started = time.perf_counter()
    with pytest.raises(DatasetCorruptError, match=f"{link} is a link to .*rm {link}"):
        folder_samples(root, "train", folder_classes(root))
    assert time.perf_counter() - started < 1.0
    problems = user_input_problems(_dataset_config({"name": "image_folder", "root": str(root)}))
    assert len(problems) == 1 and "a loop or a second link" in problems[0]


def test_two_branching_links_are_refused_within_a_second(tmp_path):
    root = _folder(tmp_path / "data")
    os.symlink("..", root / "train" / "cat" / "a")
    os.symlink("..", root / "train" / "cat" / "b")
    started = time.perf_counter()
    with pytest.raises(DatasetCorruptError, match="is a link to"):
        content.content_digest({"name": "image_folder", "root": str(root)})
    assert time.perf_counter() - started < 1.0


def test_a_linked_class_folder_is_read_once(tmp_path):
    elsewhere = _folder(tmp_path / "elsewhere")
    root = _folder(tmp_path / "data")
    os.symlink(elsewhere / "train" / "dog", root / "train" / "bird")
    os.symlink(elsewhere / "test" / "dog", root / "test" / "bird")
    samples = folder_samples(root, "train", folder_classes(root))
    assert [label for _, label in samples] == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_per_class_counts_are_logged_and_stored(tmp_path, caplog):
    root = _folder(tmp_path, per_class=2)
    Image.new("RGB", (5, 5)).save(root / "train" / "dog" / "extra.png")
    spec = {"name": "image_folder", "root": str(root), "image_size": 4}
    with caplog.at_level(logging.INFO):
        train, test = prepare_dataset(spec, 0)
    assert "per class: cat 2, dog 3" in caplog.text
    info = prepared_info(spec, 0, train, test)
    assert info["class_counts"] == {"train": {"cat": 2, "dog": 3}, "test": {"cat": 2, "dog": 2}}


def test_torchvision_order_is_kept(tmp_path):
    """The walk lists images in torchvision's ImageFolder order (prepared splits agree)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    root = _folder(tmp_path)
    (root / "train" / "cat" / "sub").mkdir()
    Image.new("RGB", (5, 5)).save(root / "train" / "cat" / "sub" / "a.png")
    Image.new("RGB", (5, 5)).save(root / "train" / "cat" / "z.PNG")
    ours = folder_samples(root, "train", ["cat", "dog"])
    theirs = make_dataset(str(root / "train"), {"cat": 0, "dog": 1}, extensions=IMG_EXTENSIONS)
    assert ours == [(os.path.relpath(p, root), label) for p, label in theirs]


# ---- npz checked before any job


def _problems(tmp_path, **arrays) -> list[str]:
    path = _npz(tmp_path / "d.npz", **arrays)
    config = _dataset_config({"name": "npz", "root": path})
    config["training"] = {"crop_size": None}  # 6x6 images: the default 28-pixel crop is refused
    return user_input_problems(config)


def test_an_empty_npz_test_split_is_refused_before_any_job(tmp_path):
    arrays = _arrays(8, 2)
    arrays |= {"x_test": arrays["x_test"][:0], "y_test": arrays["y_test"][:0]}
    problems = _problems(tmp_path, **arrays)
    assert len(problems) == 1 and "x_test holds no image" in problems[0]
    assert problems[0].startswith("datasets.mine: npz:")


def test_npz_labels_not_one_per_image_are_refused(tmp_path):
    arrays = _arrays(8, 2)
    problems = _problems(tmp_path, **(arrays | {"y_train": arrays["y_train"][:5]}))
    assert len(problems) == 1 and "8 images in x_train but 5 labels in y_train" in problems[0]
    one_hot = np.eye(2, dtype=np.int64)[arrays["y_train"]]
    problems = _problems(tmp_path, **(arrays | {"y_train": one_hot}))
    assert len(problems) == 1 and "y.argmax(axis=1)" in problems[0]


def test_keras_style_column_labels_are_flattened_with_a_note(tmp_path, caplog):
    arrays = _arrays(8, 2)
    arrays |= {"y_train": arrays["y_train"].reshape(-1, 1), "y_test": arrays["y_test"][:, None]}
    path = _npz(tmp_path / "d.npz", **arrays)
    with caplog.at_level(logging.WARNING):
        assert npz_input(path) == ((1, 6, 6), 2)
    assert "y_train has shape (8, 1); reading it as (8,)" in caplog.text
    train, test = prepare_dataset({"name": "npz", "root": path}, 0)
    assert train.labels.shape == (8,) and test.labels.shape == (2,)


def test_a_stray_label_is_refused_naming_the_empty_classes(tmp_path):
    arrays = _arrays(64, 4)
    arrays["y_train"][5] = 99
    problems = _problems(tmp_path, **arrays)
    assert len(problems) == 1 and "make 100 classes" in problems[0]
    assert "95 of them have no image (4..98)" in problems[0]


def test_sparse_labels_are_refused_and_declared_classes_accepted(tmp_path, caplog):
    arrays = _arrays(8, 2)
    arrays |= {"y_train": np.array([0, 3, 6, 9] * 2), "y_test": np.array([0, 9])}
    assert "6 of them have no image (1..2, 4..5, 7..8)" in _problems(tmp_path, **arrays)[0]
    names = np.array([f"c{i}" for i in range(10)])
    with caplog.at_level(logging.WARNING):
        assert _problems(tmp_path, **arrays, classes=names) == []
    assert "10 classes, 6 without any image" in caplog.text
    arrays["y_train"][0] = 1  # 7 of 10 used: a warning, not a refusal
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _problems(tmp_path, **arrays) == []
    assert "without any image (2, 4..5, 7..8)" in caplog.text


def test_negative_labels_name_the_fix(tmp_path):
    arrays = _arrays(8, 2)
    arrays["y_train"][0] = -1
    problems = _problems(tmp_path, **arrays)
    assert len(problems) == 1 and "the lowest is -1" in problems[0]
    assert "return_inverse" in problems[0]


def test_a_job_whose_data_changed_since_scheduling_stops(tmp_path):
    """Snakemake's params hold the digest it scheduled; the job recomputes it and stops
    when the files changed meanwhile (a cluster queue), instead of training other data."""
    from pathlib import Path

    from rethinkgen.config import ConfigError, job_run_spec

    path = _npz(tmp_path / "d.npz", **_arrays(16, 2))
    config = _config({"name": "npz", "root": path})
    scheduled = json.loads(json.dumps(run_spec(config, KEYS).identity()))
    schema = str(Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml")
    wildcards = {**KEYS.__dict__}
    assert job_run_spec(config, wildcards, scheduled, schema).keys == KEYS
    _npz(tmp_path / "d.npz", **_arrays(16, 2, seed=5))
    content.forget_digests()  # the job is a new process
    with pytest.raises(ConfigError, match="your data's files or model code"):
        job_run_spec(config, wildcards, scheduled, schema)
